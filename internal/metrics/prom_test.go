//go:build !latch.lambda

package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func scrape(t *testing.T, r *Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// TestHandlerServesRegisteredMetrics: what is registered is in the
// exposition, with its help, labels and buckets, beside the Go and process
// collectors.
func TestHandlerServesRegisteredMetrics(t *testing.T) {
	r := NewRegistry()
	c := NewCounter("latch_test_total", "A test counter.")
	v := NewCounterVec("latch_test_results_total", "Results.", "grant", "result")
	h := NewHistogramVec("latch_test_seconds", "Latency.", []float64{.1, 1}, "route")
	unregistered := NewCounter("latch_test_unregistered_total", "Not in the registry.")
	r.Register(c, v, h)
	c.Inc()
	c.Inc()
	v.WithLabelValues("password", "ok").Inc()
	h.WithLabelValues("/x").Observe(.5)
	unregistered.Inc()

	out := scrape(t, r)
	for _, want := range []string{
		"# HELP latch_test_total A test counter.",
		"# TYPE latch_test_total counter",
		"latch_test_total 2",
		`latch_test_results_total{grant="password",result="ok"} 1`,
		`latch_test_seconds_bucket{route="/x",le="0.1"} 0`,
		`latch_test_seconds_bucket{route="/x",le="1"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "latch_test_unregistered_total") {
		t.Error("an unregistered counter is in the metrics")
	}
}

// TestRegisterTwicePanics: a name registered twice is a programming error.
func TestRegisterTwicePanics(t *testing.T) {
	r := NewRegistry()
	r.Register(NewCounter("latch_test_total", "A."))
	defer func() {
		if recover() == nil {
			t.Error("registering a name twice did not panic")
		}
	}()
	r.Register(NewCounter("latch_test_total", "B."))
}

//go:build latch.lambda

package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestNoopHandler: the latch.lambda build counts nothing and serves no
// metrics.
func TestNoopHandler(t *testing.T) {
	r := NewRegistry()
	c := NewCounter("latch_test_total", "A test counter.")
	v := NewCounterVec("latch_test_results_total", "Results.", "result")
	h := NewHistogramVec("latch_test_seconds", "Latency.", []float64{1}, "route")
	r.Register(c, v, h, c)
	c.Inc()
	v.WithLabelValues("ok").Inc()
	h.WithLabelValues("/x").Observe(1)
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics: %d, want 404", rec.Code)
	}
}

//go:build latch.lambda

package metrics

import "net/http"

// Collector is a metric a Registry can hold: a Counter, CounterVec or
// HistogramVec.
type Collector interface{ collector() }

// Counter is a counter that only goes up (a no-op in this build).
type Counter struct{}

// Inc adds one.
func (Counter) Inc() {}

func (Counter) collector() {}

// CounterVec is a family of counters told apart by label values.
type CounterVec struct{}

// WithLabelValues returns the counter for the label values.
func (CounterVec) WithLabelValues(...string) Counter { return Counter{} }

func (CounterVec) collector() {}

// Observer records observations in a histogram.
type Observer struct{}

// Observe adds one observation.
func (Observer) Observe(float64) {}

// HistogramVec is a family of histograms told apart by label values.
type HistogramVec struct{}

// WithLabelValues returns the histogram for the label values.
func (HistogramVec) WithLabelValues(...string) Observer { return Observer{} }

func (HistogramVec) collector() {}

// NewCounter returns an unregistered counter.
func NewCounter(name, help string) Counter { return Counter{} }

// NewCounterVec returns an unregistered counter family with the labels.
func NewCounterVec(name, help string, labels ...string) CounterVec { return CounterVec{} }

// NewHistogramVec returns an unregistered histogram family with the buckets
// and labels.
func NewHistogramVec(name, help string, buckets []float64, labels ...string) HistogramVec {
	return HistogramVec{}
}

// Registry holds a server's metrics (none in this build).
type Registry struct{}

// NewRegistry returns a registry.
func NewRegistry() *Registry { return &Registry{} }

// Register does nothing in this build.
func (*Registry) Register(...Collector) {}

// Handler answers 404: this build keeps no metrics.
func (*Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "metrics are not built into this binary (latch.lambda)", http.StatusNotFound)
	})
}

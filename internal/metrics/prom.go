//go:build !latch.lambda

package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Collector is a metric a Registry can hold: a Counter, CounterVec or
// HistogramVec.
type Collector interface{ collector() prometheus.Collector }

// Counter is a counter that only goes up.
type Counter struct{ c prometheus.Counter }

// Inc adds one.
func (c Counter) Inc() { c.c.Inc() }

func (c Counter) collector() prometheus.Collector { return c.c }

// CounterVec is a family of counters told apart by label values.
type CounterVec struct{ v *prometheus.CounterVec }

// WithLabelValues returns the counter for the label values, in the order of
// the labels given to NewCounterVec.
func (v CounterVec) WithLabelValues(values ...string) Counter {
	return Counter{v.v.WithLabelValues(values...)}
}

func (v CounterVec) collector() prometheus.Collector { return v.v }

// Observer records observations in a histogram.
type Observer struct{ o prometheus.Observer }

// Observe adds one observation.
func (o Observer) Observe(value float64) { o.o.Observe(value) }

// HistogramVec is a family of histograms told apart by label values.
type HistogramVec struct{ v *prometheus.HistogramVec }

// WithLabelValues returns the histogram for the label values.
func (v HistogramVec) WithLabelValues(values ...string) Observer {
	return Observer{v.v.WithLabelValues(values...)}
}

func (v HistogramVec) collector() prometheus.Collector { return v.v }

// NewCounter returns an unregistered counter.
func NewCounter(name, help string) Counter {
	return Counter{prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})}
}

// NewCounterVec returns an unregistered counter family with the labels.
func NewCounterVec(name, help string, labels ...string) CounterVec {
	return CounterVec{prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)}
}

// NewHistogramVec returns an unregistered histogram family with the buckets
// (upper bounds, increasing) and labels.
func NewHistogramVec(name, help string, buckets []float64, labels ...string) HistogramVec {
	return HistogramVec{prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)}
}

// Registry holds a server's metrics, the Go runtime's and the process's.
type Registry struct{ r *prometheus.Registry }

// NewRegistry returns a registry of its own (several servers can live in one
// test process) holding the Go and process collectors.
func NewRegistry() *Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Registry{r}
}

// Register adds metrics to r. It panics if one is already there, or if its
// name clashes with another's: a programming error.
func (r *Registry) Register(cs ...Collector) {
	for _, c := range cs {
		r.r.MustRegister(c.collector())
	}
}

// Handler serves r's metrics in the Prometheus exposition format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.r, promhttp.HandlerOpts{})
}

// Package httpapi is the pipeline's HTTP face: Prometheus metrics, health
// and readiness, and a read-only JSON API over the leaderboards.
package httpapi

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pomocore/pomocore/pipeline"
)

// Metrics records what the pipeline does in a Prometheus registry. It
// implements pipeline.Observer. Safe for concurrent use.
type Metrics struct {
	read, committed, skipped, deleted prometheus.Counter
	dead                              *prometheus.CounterVec
	bySource, byCategory              *prometheus.CounterVec
	batchSize                         prometheus.Histogram
	batchSeconds                      *prometheus.HistogramVec
	age                               prometheus.Histogram
	callErrors                        *prometheus.CounterVec
}

// NewMetrics registers the pipeline's metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "pomocore", Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	m := &Metrics{
		read:      f("events_read_total", "Stream entries read (including redeliveries)."),
		committed: f("events_committed_total", "Entries whose acknowledgement and effects were committed."),
		skipped:   f("events_skipped_total", "Entries already committed by another consumer, skipped at commit."),
		deleted:   f("events_deleted_total", "Entries trimmed from the stream while pending, acknowledged."),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pomocore", Name: "events_dead_lettered_total",
			Help: "Entries moved to the dead-letter stream, by reason."}, []string{"reason"}),
		bySource: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pomocore", Name: "classifications_by_source_total",
			Help: "Stored activities by classification source (app, domain, title, cache, llm, default)."}, []string{"source"}),
		byCategory: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pomocore", Name: "classifications_by_category_total",
			Help: "Stored activities by category."}, []string{"category"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "pomocore", Name: "batch_size",
			Help: "Entries per batch.", Buckets: []float64{1, 5, 10, 50, 100, 200, 500, 1000, 5000}}),
		batchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "pomocore", Name: "batch_seconds",
			Help: "Time of a batch, and of its store and commit calls (with retries).", Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14)},
			[]string{"stage"}),
		age: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "pomocore", Name: "event_age_seconds",
			Help: "Age of an entry at commit (commit time minus its stream id's time).", Buckets: prometheus.ExponentialBuckets(0.001, 3, 14)}),
		callErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pomocore", Name: "call_errors_total",
			Help: "Failed store and commit calls (each retried)."}, []string{"call"}),
	}
	reg.MustRegister(m.dead, m.bySource, m.byCategory, m.batchSize, m.batchSeconds, m.age, m.callErrors)
	return m
}

// BatchDone implements pipeline.Observer.
func (m *Metrics) BatchDone(r pipeline.BatchReport) {
	m.read.Add(float64(r.Size))
	m.committed.Add(float64(r.Applied))
	m.skipped.Add(float64(r.Skipped))
	m.deleted.Add(float64(r.Deleted))
	for kind, n := range r.DeadByKind {
		m.dead.WithLabelValues(kind).Add(float64(n))
	}
	for src, n := range r.BySource {
		m.bySource.WithLabelValues(string(src)).Add(float64(n))
	}
	for cat, n := range r.ByCategory {
		m.byCategory.WithLabelValues(cat).Add(float64(n))
	}
	m.batchSize.Observe(float64(r.Size))
	m.batchSeconds.WithLabelValues("batch").Observe(r.Took.Seconds())
	m.batchSeconds.WithLabelValues("store").Observe(r.Store.Seconds())
	m.batchSeconds.WithLabelValues("commit").Observe(r.Commit.Seconds())
	for _, a := range r.Ages {
		m.age.Observe(a.Seconds())
	}
}

// CallFailed implements pipeline.Observer.
func (m *Metrics) CallFailed(what string, _ error) { m.callErrors.WithLabelValues(what).Inc() }

// GroupState is the consumer group's backlog, read from Redis on a scrape.
type GroupState struct {
	// Lag is entries not yet delivered to the group (-1 when unknown).
	Lag int64
	// Pending is entries delivered and not yet acknowledged.
	Pending int64
	// OldestPending is the age of the oldest pending entry (0 when none).
	OldestPending time.Duration
}

// GroupInspector reads the consumer group's state. Called on each scrape
// and readiness check, with a deadline on ctx; safe for concurrent use.
type GroupInspector interface {
	GroupState(ctx context.Context) (GroupState, error)
}

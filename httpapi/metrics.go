// Package httpapi is the pipeline's HTTP face: Prometheus metrics, health
// and readiness, and a read-only JSON API over the leaderboards.
package httpapi

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/buildinfo"
	"github.com/pomocore/pomocore/pipeline"
)

// Metrics records what the pipeline does in a Prometheus registry. It
// implements pipeline.Observer. Safe for concurrent use.
type Metrics struct {
	read, committed, skipped, deleted prometheus.Counter
	duplicates, unknownFields         prometheus.Counter
	quarantined                       prometheus.Counter
	dead                              *prometheus.CounterVec
	bySource, byCategory              *prometheus.CounterVec
	batchSize                         prometheus.Histogram
	batchSeconds                      *prometheus.HistogramVec
	age                               prometheus.Histogram
	callErrors                        *prometheus.CounterVec
	waits                             *prometheus.CounterVec
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
		duplicates: f("events_duplicate_total",
			"Entries naming an activity (pomodoroUsageLogId) committed already under another entry (a producer retry), acknowledged without effects."),
		unknownFields: f("events_unknown_fields_total", "Entries with fields the activity contract does not name (accepted; the names are logged once each)."),
		quarantined: f("events_quarantined_total",
			"Rejected entries that were dead letters already (dead.* fields): acknowledged, never dead-lettered again (a dead-letter loop between deployments)."),
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
			Help: "Failed calls, each retried: store calls (store), commits (commit) and reads of the stream (read)."}, []string{"call"}),
	}
	// Error counters exist at zero from the start, so that a panel or an
	// alert over them reads 0, not "no data", while all is well.
	for _, c := range []string{"read", "store", "commit"} {
		m.callErrors.WithLabelValues(c)
	}
	for _, r := range []string{"invalid", "too_many_deliveries", "wrong_type_key"} {
		m.dead.WithLabelValues(r)
	}
	b := buildinfo.Read()
	info := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "pomocore", Name: "build_info",
		Help:        "Always 1; the labels name the running build (version, VCS revision, Go version).",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion}})
	info.Set(1)
	reg.MustRegister(info)
	m.waits = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pomocore", Name: "llm_waits_total",
		Help: "Activities whose answer was on its way: held to wait (held), let go with the answer (answered), " +
			"with the default because the LLM failed (failed) or the wait passed (expired), session ends that waited for " +
			"their session (session), and activities counted as the default at once, too many being held (overflow)."}, []string{"outcome"})
	for _, o := range []string{"held", "answered", "failed", "expired", "session", "overflow"} {
		m.waits.WithLabelValues(o)
	}
	reg.MustRegister(m.dead, m.bySource, m.byCategory, m.batchSize, m.batchSeconds, m.age, m.callErrors, m.waits)
	return m
}

// BatchDone implements pipeline.Observer.
func (m *Metrics) BatchDone(r pipeline.BatchReport) {
	released := 0
	for o, n := range r.WaitOutcomes {
		m.waits.WithLabelValues(o).Add(float64(n))
		released += n
	}
	m.waits.WithLabelValues("held").Add(float64(r.Held))
	m.waits.WithLabelValues("overflow").Add(float64(r.Overflow))
	m.read.Add(float64(r.Size - released)) // let go after waiting: read once already
	m.committed.Add(float64(r.Applied))
	m.skipped.Add(float64(r.Skipped))
	m.deleted.Add(float64(r.Deleted))
	m.duplicates.Add(float64(r.Duplicates))
	m.unknownFields.Add(float64(r.UnknownFields))
	m.quarantined.Add(float64(r.Quarantined))
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

// GroupInspector reads the consumer group's state. Called on each scrape
// and readiness check, with a deadline on ctx; safe for concurrent use.
type GroupInspector interface {
	GroupState(ctx context.Context) (pomocore.GroupState, error)
}

// LLMCollector exports the LLM fallback's counters, read on each scrape.
type LLMCollector struct {
	stats                                               func() classify.ChainStats
	tokens                                              func() int64
	calls, failures, answered, hits, dropped, tok, brkr *prometheus.Desc
}

// NewLLMCollector returns a collector over the chain's stats (its
// fallback's counters) and tokens (the endpoint's reported use); register
// it.
func NewLLMCollector(stats func() classify.ChainStats, tokens func() int64) *LLMCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("pomocore_llm_"+name, help, nil, nil)
	}
	return &LLMCollector{stats: stats, tokens: tokens,
		calls:    d("calls_total", "Requests sent to the LLM endpoint."),
		failures: d("errors_total", "Failed LLM requests."),
		answered: d("answered_total", "Unknown activities the LLM answered."),
		hits:     d("cache_hits_total", "Classifications answered from remembered LLM answers."),
		dropped:  d("dropped_total", "Unknown activities not asked (queue full, breaker open, retries exhausted)."),
		tok:      d("tokens_total", "Tokens the endpoint reported using."),
		brkr:     d("breaker_open", "1 while the circuit breaker stops calls to the LLM.")}
}

// Describe implements prometheus.Collector.
func (c *LLMCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.calls, c.failures, c.answered, c.hits, c.dropped, c.tok, c.brkr} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *LLMCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(c.calls, s.Calls)
	counter(c.failures, s.Failures)
	counter(c.answered, s.Answered)
	counter(c.hits, s.CacheHits)
	counter(c.dropped, s.Dropped)
	counter(c.tok, c.tokens())
	open := 0.0
	if s.BreakerOpen {
		open = 1
	}
	ch <- prometheus.MustNewConstMetric(c.brkr, prometheus.GaugeValue, open)
}

package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pomocore/pomocore"
)

//go:embed openapi.yaml
var openAPI []byte

//go:embed web/index.html
var indexHTML []byte

// Leaderboards reads leaderboard sorted sets. Safe for concurrent use; it
// never writes.
type Leaderboards interface {
	Top(ctx context.Context, key string, offset, count int) ([]pomocore.Ranked, error)
	Rank(ctx context.Context, key, member string) (pomocore.Ranked, bool, error)
	Around(ctx context.Context, key, member string, n int) ([]pomocore.Ranked, error)
}

// Pinger checks that a dependency answers.
type Pinger func(ctx context.Context) error

// Config configures the server.
type Config struct {
	// Addr is where to listen (POMOCORE_HTTP_ADDR), e.g. ":8080".
	Addr string
	// KeyPrefix, Location and Taxonomy name the leaderboard keys as the
	// pipeline writes them.
	KeyPrefix string
	Location  *time.Location
	Taxonomy  *pomocore.Taxonomy
	// Timeout bounds each request's calls to Redis and the store (default 5s).
	Timeout time.Duration
	// AdminToken, when set, enables POST /api/v1/unknowns/accept for
	// requests that carry it as a bearer token (POMOCORE_ADMIN_TOKEN).
	AdminToken string
	// StatsTTL is how long an /api/v1/stats answer is served again before
	// the metrics are gathered anew (default 1s; each gathering reads the
	// group's state from Redis).
	StatsTTL time.Duration
}

// Deps are what the server reads.
type Deps struct {
	Gatherer     prometheus.Gatherer
	Leaderboards Leaderboards
	Group        GroupInspector
	// Ready lists the dependencies /readyz checks, by name.
	Ready map[string]Pinger
	Log   *slog.Logger
	Now   func() time.Time
	// Unknowns feeds the unknowns panel (none when nil); Patterns applies
	// the suggestions an operator accepts there.
	Unknowns *Unknowns
	Patterns PatternEditor
	// Page, when set, gives the live page figures shared by every replica
	// (/api/v1/stats "shared", "down" and "stale"); without it the page
	// has only this process's counters.
	Page PageStore
}

// Server serves /metrics, /healthz, /readyz and the read API.
type Server struct {
	cfg  Config
	deps Deps
	mux  *http.ServeMux

	statsMu       sync.Mutex
	statsAt       time.Time
	statsDate     string
	statsBody     map[string]any
	lastShared    *SharedStats // the last shared figures read, for statsDate
	sharedFailing bool         // the last read of the shared figures failed (logged once)
}

// New returns the server's handler set.
func New(cfg Config, deps Deps) *Server {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if cfg.StatsTTL == 0 {
		cfg.StatsTTL = time.Second
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, deps: deps, mux: http.NewServeMux()}
	// A collector that fails is reported in the log and leaves its metrics
	// out; the others are still served (the group collector serves its
	// last values, marked stale, when Redis does not answer).
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(deps.Gatherer, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, ErrorLog: slogPrinter{deps.Log}}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.HandleFunc("GET /api/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openAPI)
	})
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(indexHTML)
	})
	s.mux.HandleFunc("GET /api/v1/categories", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, append([]string{cfg.Taxonomy.WorkAggregate}, cfg.Taxonomy.Categories...))
	})
	s.mux.HandleFunc("GET /api/v1/stats", s.stats)
	s.mux.HandleFunc("GET /api/v1/leaderboards/{category}/{period}", s.top)
	s.mux.HandleFunc("GET /api/v1/leaderboards/{category}/{period}/users/{userId}", s.user)
	s.routeUnknowns()
	return s
}

// ServeHTTP implements http.Handler. Under /api/ a path no route takes
// (404) or a method it does not (405) is answered in JSON too.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, pattern := s.mux.Handler(r); pattern == "" && strings.HasPrefix(r.URL.Path, "/api/") {
		h.ServeHTTP(&jsonErrorWriter{ResponseWriter: w}, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// jsonErrorWriter turns the mux's plain-text 404 and 405 into
// {"error": "..."}, keeping its status and headers (Allow).
type jsonErrorWriter struct {
	http.ResponseWriter
	wrote bool
}

func (j *jsonErrorWriter) WriteHeader(code int) {
	if j.wrote {
		return
	}
	j.wrote = true
	j.Header().Del("X-Content-Type-Options")
	msg := http.StatusText(code)
	switch code {
	case http.StatusNotFound:
		msg = "no such endpoint (see /api/openapi.yaml)"
	case http.StatusMethodNotAllowed:
		msg = "method not allowed; allowed: " + j.Header().Get("Allow")
	}
	writeError(j.ResponseWriter, code, errors.New(msg))
}

func (j *jsonErrorWriter) Write(b []byte) (int, error) {
	if !j.wrote {
		j.WriteHeader(http.StatusOK)
	}
	return len(b), nil // the mux's text is replaced
}

// slogPrinter logs promhttp's errors at warn level.
type slogPrinter struct{ log *slog.Logger }

// Println implements promhttp.Logger.
func (p slogPrinter) Println(v ...any) { p.log.Warn("serving /metrics", "err", fmt.Sprint(v...)) }

// stats summarises the metrics for the live page: this process's counters
// since start and, with Deps.Page, the figures every replica shares
// ("shared", for the day of the "date" parameter, default today), the
// dependencies that do not answer ("down") and whether the shared figures
// are the last ones read ("stale"). An answer is served again for
// Config.StatsTTL.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	b, err := pomocore.BoardQuery{Category: s.cfg.Taxonomy.WorkAggregate, Period: "day", Date: r.URL.Query().Get("date")}.
		Resolve(s.cfg.KeyPrefix, s.cfg.Taxonomy, s.cfg.Location, s.deps.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	date := b.Date // today's when none is asked
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	now := s.deps.Now()
	if s.statsBody != nil && s.statsDate == date && now.Sub(s.statsAt) < s.cfg.StatsTTL && !now.Before(s.statsAt) {
		writeJSON(w, http.StatusOK, s.statsBody)
		return
	}
	body := s.gatherStats()
	if s.deps.Page != nil {
		if s.statsDate != date {
			s.lastShared = nil
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		_, failed, _ := s.checkAll(ctx, false)
		shared, err := s.readShared(ctx, date, now)
		cancel()
		if err != nil && !s.sharedFailing {
			s.deps.Log.Warn("reading the live page's figures; serving the last ones read until Redis answers", "err", err)
		} else if err == nil && s.sharedFailing {
			s.deps.Log.Info("reading the live page's figures again")
		}
		s.sharedFailing = err != nil
		if err != nil {
			if !slices.Contains(failed, "redis") {
				failed = append(failed, "redis")
				sort.Strings(failed)
			}
			shared = s.lastShared
		}
		s.lastShared = shared
		body["now"], body["down"], body["stale"] = now.UTC(), append([]string{}, failed...), err != nil
		if shared != nil {
			body["shared"] = shared
		}
	}
	s.statsBody, s.statsAt, s.statsDate = body, now, date
	writeJSON(w, http.StatusOK, s.statsBody)
}

// gatherStats gathers the metrics /api/v1/stats summarises.
func (s *Server) gatherStats() map[string]any {
	families, err := s.deps.Gatherer.Gather()
	if err != nil {
		s.deps.Log.Warn("gathering metrics for /api/v1/stats", "err", err)
	}
	sum := func(name string) float64 {
		var t float64
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.GetMetric() {
				t += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
		return t
	}
	byCategory := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "pomocore_classifications_by_category_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "category" {
					byCategory[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return map[string]any{
		"read": sum("pomocore_events_read_total"), "committed": sum("pomocore_events_committed_total"),
		"deadLettered": sum("pomocore_events_dead_lettered_total"), "lag": sum("pomocore_group_lag"),
		"pending": sum("pomocore_group_pending"), "byCategory": byCategory,
		"groupStale": sum("pomocore_group_stale") > 0,
	}
}

// ready checks every dependency at once, each within Config.Timeout, and
// answers 200 or 503 with per check "ok" or "unavailable", "failed" (the
// parts that failed: the Ready names, "redis" for the group check) and
// "errors" (what each failed check said).
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	status, failed, messages := s.checkAll(ctx, true)
	code := http.StatusOK
	if len(failed) > 0 {
		code = http.StatusServiceUnavailable
		status["failed"], status["errors"] = failed, messages
	}
	writeJSON(w, code, status)
}

// checkAll runs every readiness check at once within ctx and returns each
// check's status, the parts that failed (sorted) and what each failed
// check said; with warn, each failure is logged (readiness probes; the
// live page's refreshes are not).
func (s *Server) checkAll(ctx context.Context, warn bool) (status map[string]any, failed []string, messages map[string]string) {
	type check struct {
		name, part string
		run        func(context.Context) error
	}
	var checks []check
	for name, ping := range s.deps.Ready {
		checks = append(checks, check{name, name, ping})
	}
	if s.deps.Group != nil {
		checks = append(checks, check{"group", "redis", func(ctx context.Context) error {
			_, err := s.deps.Group.GroupState(ctx)
			return err
		}})
	}
	// Each check answers by the deadline, whether or not its client
	// honours ctx (a check still running then is unavailable).
	results := make(chan struct {
		i   int
		err error
	}, len(checks))
	for i, c := range checks {
		go func() {
			results <- struct {
				i   int
				err error
			}{i, c.run(ctx)}
		}()
	}
	errs := make([]error, len(checks))
	for i := range errs {
		errs[i] = fmt.Errorf("no answer within %v", s.cfg.Timeout)
	}
	for range checks {
		select {
		case r := <-results:
			errs[r.i] = r.err
			continue
		case <-ctx.Done():
		}
		break
	}
	status, messages = map[string]any{}, map[string]string{}
	for i, c := range checks {
		if errs[i] == nil {
			status[c.name] = "ok"
			continue
		}
		status[c.name] = "unavailable"
		messages[c.name] = errs[i].Error()
		if !slices.Contains(failed, c.part) {
			failed = append(failed, c.part)
		}
		if warn {
			s.deps.Log.Warn("not ready", "dependency", c.name, "part", c.part, "err", errs[i])
		}
	}
	sort.Strings(failed)
	return status, failed, messages
}

// board resolves the request's category, period and date to a key, as
// `pomocore leaderboard` does (pomocore.BoardQuery).
func (s *Server) board(r *http.Request) (key, period, date string, err error) {
	b, err := pomocore.BoardQuery{Category: r.PathValue("category"), Period: r.PathValue("period"), Date: r.URL.Query().Get("date")}.
		Resolve(s.cfg.KeyPrefix, s.cfg.Taxonomy, s.cfg.Location, s.deps.Now())
	return b.Key, b.Period, b.Date, err
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q: want an integer from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

func (s *Server) top(w http.ResponseWriter, r *http.Request) {
	key, period, date, err := s.board(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	limit, err := intParam(r, "limit", 10, 1, 1000)
	if err == nil {
		var offset int
		offset, err = intParam(r, "offset", 0, 0, 1_000_000)
		if err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
			defer cancel()
			entries, err := s.deps.Leaderboards.Top(ctx, key, offset, limit)
			if err != nil {
				s.deps.Log.Warn("leaderboard read failed", "key", key, "err", err)
				writeError(w, http.StatusServiceUnavailable, errors.New("leaderboard store unavailable"))
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"key": key, "category": r.PathValue("category"), "period": period,
				"date": date, "offset": offset, "entries": rounded(entries)})
			return
		}
	}
	writeError(w, http.StatusBadRequest, err)
}

func (s *Server) user(w http.ResponseWriter, r *http.Request) {
	key, period, date, err := s.board(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	around, err := intParam(r, "around", 0, 0, 100)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	user := r.PathValue("userId")
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	me, found, err := s.deps.Leaderboards.Rank(ctx, key, user)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("leaderboard store unavailable"))
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, fmt.Errorf("user %q has no score on %s", user, key))
		return
	}
	body := map[string]any{"key": key, "category": r.PathValue("category"), "period": period, "date": date,
		"rank": me.Rank, "userId": user, "score": pomocore.RoundScore(me.Score)}
	if around > 0 {
		list, err := s.deps.Leaderboards.Around(ctx, key, user, around)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, errors.New("leaderboard store unavailable"))
			return
		}
		body["around"] = rounded(list)
	}
	writeJSON(w, http.StatusOK, body)
}

// rounded returns r (never nil) with its scores rounded to the
// millisecond (pomocore.RoundScore): sums of many increments carry
// floating-point noise.
func rounded(r []pomocore.Ranked) []pomocore.Ranked {
	out := make([]pomocore.Ranked, len(r))
	for i, e := range r {
		e.Score = pomocore.RoundScore(e.Score)
		out[i] = e
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// GroupCollector exports the consumer group's lag, pending count and
// oldest pending age, read from Redis on each scrape within Timeout. When
// Redis does not answer in time (or fails), a scrape still answers at once:
// with the last values read, and pomocore_group_stale at 1 (0 when the
// values are fresh). A read still running from an earlier scrape is not
// doubled: later scrapes serve the last values until it ends. Safe for
// concurrent use.
type GroupCollector struct {
	// Timeout bounds one read of the group's state (default 500ms, so that
	// a scrape answers within a second); set it before registering.
	Timeout time.Duration

	group                       GroupInspector
	lag, pending, oldest, stale *prometheus.Desc

	mu       sync.Mutex
	last     pomocore.GroupState
	known    bool // last holds a value read once
	inFlight bool // a read is running
}

// NewGroupCollector returns a collector over g; register it in the registry.
func NewGroupCollector(g GroupInspector) *GroupCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("pomocore_group_"+name, help, nil, nil)
	}
	return &GroupCollector{group: g, Timeout: 500 * time.Millisecond,
		lag:     d("lag", "Entries not yet delivered to the consumer group (-1 when Redis cannot tell)."),
		pending: d("pending", "Entries delivered and not yet acknowledged."),
		oldest:  d("oldest_pending_seconds", "Age of the oldest pending entry."),
		stale:   d("stale", "1 when Redis did not answer the last scrape in time and the group gauges are the last values read (0: fresh).")}
}

// Describe implements prometheus.Collector.
func (c *GroupCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.pending
	ch <- c.oldest
	ch <- c.stale
}

// Collect implements prometheus.Collector.
func (c *GroupCollector) Collect(ch chan<- prometheus.Metric) {
	fresh := c.read()
	c.mu.Lock()
	st, known := c.last, c.known
	c.mu.Unlock()
	if known {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(st.Lag))
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.Pending))
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, st.OldestPending.Seconds())
	}
	stale := 1.0
	if fresh {
		stale = 0
	}
	ch <- prometheus.MustNewConstMetric(c.stale, prometheus.GaugeValue, stale)
}

// read reads the group's state into last within Timeout and reports
// whether it did.
func (c *GroupCollector) read() bool {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 500 * time.Millisecond
	}
	c.mu.Lock()
	if c.inFlight {
		c.mu.Unlock()
		return false
	}
	c.inFlight = true
	c.mu.Unlock()
	ok := make(chan bool, 1)
	go func() {
		defer func() {
			c.mu.Lock()
			c.inFlight = false
			c.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		st, err := c.group.GroupState(ctx)
		if err == nil {
			c.mu.Lock()
			c.last, c.known = st, true
			c.mu.Unlock()
		}
		ok <- err == nil
	}()
	t := time.NewTimer(timeout + 100*time.Millisecond) // the read honours ctx; this bounds one that does not
	defer t.Stop()
	select {
	case fresh := <-ok:
		return fresh
	case <-t.C:
		return false
	}
}

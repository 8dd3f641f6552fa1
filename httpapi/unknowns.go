package httpapi

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// UnknownActivity is one row of the live page's unknowns panel: an app or
// a host whose activities no pattern decided (they fell to the default
// category, or the model or the LLM answered) within the window.
type UnknownActivity struct {
	// App is the app as the client reported it; Host the URL's host ("" for
	// an app without a URL). A row with a host proposes a domain pattern,
	// one without an app pattern.
	App  string `json:"app"`
	Host string `json:"host,omitempty"`
	// Count is how many activities, Seconds their total duration.
	Count   int64   `json:"count"`
	Seconds float64 `json:"seconds"`
	// Sources counts the activities by who decided them (default, model,
	// llm, cache).
	Sources map[pomocore.Source]int64 `json:"sources"`
	// Suggested is the category the model or the LLM gave most often (""
	// when every activity fell to the default).
	Suggested string `json:"suggested,omitempty"`
}

// UnknownsConfig configures an Unknowns tracker.
type UnknownsConfig struct {
	// Window is how far back the panel looks (default 24h), kept in
	// Buckets slices (default 24): an activity leaves the panel between
	// Window-Window/Buckets and Window after it was seen.
	Window  time.Duration
	Buckets int
	// MaxKeys bounds the distinct apps and hosts remembered per bucket
	// (default 5,000): a flood of distinct names costs bounded memory; the
	// ones beyond it are not tracked.
	MaxKeys int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Unknowns counts, over a sliding window, the activities no pattern
// decided, for the operator's panel. Safe for concurrent use.
type Unknowns struct {
	cfg     UnknownsConfig
	mu      sync.Mutex
	buckets []unknownBucket
	dropped int64
}

type unknownBucket struct {
	start int64 // bucket number (time / width) this bucket holds
	rows  map[unknownKey]*unknownRow
}

type unknownKey struct{ app, host string }

type unknownRow struct {
	count   int64
	seconds float64
	sources map[pomocore.Source]int64
	answers map[string]int64 // category given by the model or the LLM
}

// NewUnknowns returns an empty tracker.
func NewUnknowns(cfg UnknownsConfig) *Unknowns {
	cfg.Window = cmp.Or(cfg.Window, 24*time.Hour)
	cfg.Buckets = cmp.Or(cfg.Buckets, 24)
	cfg.MaxKeys = cmp.Or(cfg.MaxKeys, 5000)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u := &Unknowns{cfg: cfg, buckets: make([]unknownBucket, cfg.Buckets)}
	for i := range u.buckets {
		u.buckets[i].start = -1
	}
	return u
}

// Decided reports whether a classification by src came from a pattern
// (the app trie, the domain automaton, a title rule or the built-in set):
// those activities are not unknowns.
func Decided(src pomocore.Source) bool { return src.Pattern() }

// Observe counts one activity classified as c. Activities a pattern
// decided are ignored.
func (u *Unknowns) Observe(app, url string, c pomocore.Classification, seconds float64) {
	if Decided(c.Source) {
		return
	}
	key := unknownKey{app: app, host: hostOf(url)}
	if key.host != "" {
		key.app = "" // a domain pattern covers every browser
	}
	n := u.bucketNumber(u.cfg.Now())
	u.mu.Lock()
	defer u.mu.Unlock()
	b := &u.buckets[n%int64(len(u.buckets))]
	if b.start != n {
		b.start, b.rows = n, map[unknownKey]*unknownRow{}
	}
	r := b.rows[key]
	if r == nil {
		if len(b.rows) >= u.cfg.MaxKeys {
			u.dropped++
			return
		}
		r = &unknownRow{sources: map[pomocore.Source]int64{}, answers: map[string]int64{}}
		b.rows[key] = r
	}
	r.count++
	r.seconds += seconds
	r.sources[c.Source]++
	if c.Source != pomocore.SourceDefault {
		r.answers[c.Category]++
	}
}

// Top returns the n most frequent unknowns of the window, most frequent
// first (ties by more seconds, then by name).
func (u *Unknowns) Top(n int) []UnknownActivity {
	now := u.bucketNumber(u.cfg.Now())
	merged := map[unknownKey]*unknownRow{}
	u.mu.Lock()
	for _, b := range u.buckets {
		if b.start < 0 || now-b.start >= int64(len(u.buckets)) {
			continue
		}
		for k, r := range b.rows {
			m := merged[k]
			if m == nil {
				m = &unknownRow{sources: map[pomocore.Source]int64{}, answers: map[string]int64{}}
				merged[k] = m
			}
			m.count += r.count
			m.seconds += r.seconds
			for s, c := range r.sources {
				m.sources[s] += c
			}
			for a, c := range r.answers {
				m.answers[a] += c
			}
		}
	}
	u.mu.Unlock()
	out := make([]UnknownActivity, 0, len(merged))
	for k, r := range merged {
		out = append(out, UnknownActivity{App: k.app, Host: k.host, Count: r.count, Seconds: r.seconds,
			Sources: r.sources, Suggested: mostGiven(r.answers)})
	}
	slices.SortFunc(out, func(a, b UnknownActivity) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(b.Seconds, a.Seconds),
			strings.Compare(a.Host, b.Host), strings.Compare(a.App, b.App))
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// Forget removes an app's or a host's row from every bucket: once its
// pattern is accepted, later activities are decided by it and the row
// leaves the panel at once.
func (u *Unknowns) Forget(app, host string) {
	key := unknownKey{app: app, host: host}
	if host != "" {
		key.app = ""
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, b := range u.buckets {
		delete(b.rows, key)
	}
}

// droppedCount counts the activities not tracked because a bucket was
// full (its tests read it).
func (u *Unknowns) droppedCount() int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.dropped
}

func (u *Unknowns) bucketNumber(t time.Time) int64 {
	width := int64(u.cfg.Window) / int64(u.cfg.Buckets)
	return t.UnixNano() / max(width, 1)
}

// mostGiven returns the category given most often ("" for none; ties by
// name, so the answer is stable).
func mostGiven(answers map[string]int64) string {
	best, n := "", int64(0)
	for c, k := range answers {
		if k > n || (k == n && c < best) {
			best, n = c, k
		}
	}
	return best
}

// hostOf returns the lower-cased host of a URL as clients report it (with
// or without a scheme), without port or "www."; "" when there is none.
func hostOf(url string) string {
	s := url
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.Contains(s[i:], "]") {
		s = s[:i]
	}
	s = strings.TrimPrefix(strings.ToLower(s), "www.")
	return strings.TrimSuffix(s, ".")
}

// PatternEditor applies an edit to the category_pattern documents with the
// rules of `pomocore patterns add` (classify.PatternEdit and
// classify.CheckChange). Safe for concurrent use.
type PatternEditor interface {
	EditPatterns(ctx context.Context, e classify.PatternEdit) error
}

// acceptRequest is the body of POST /api/v1/unknowns/accept.
type acceptRequest struct {
	App      string `json:"app"`
	Host     string `json:"host"`
	Category string `json:"category"`
}

// ErrAcceptDisabled is why POST /api/v1/unknowns/accept answers 403 when no
// admin token is configured.
var ErrAcceptDisabled = errors.New("accepting suggestions is disabled: set POMOCORE_ADMIN_TOKEN to enable it")

// routeUnknowns adds the panel's endpoints.
func (s *Server) routeUnknowns() {
	s.mux.HandleFunc("GET /api/v1/unknowns", func(w http.ResponseWriter, r *http.Request) {
		if s.deps.Unknowns == nil {
			writeJSON(w, http.StatusOK, []UnknownActivity{})
			return
		}
		n, err := strconv.Atoi(cmp.Or(r.URL.Query().Get("limit"), "20"))
		if err != nil || n < 1 || n > 200 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit: want 1 to 200"})
			return
		}
		writeJSON(w, http.StatusOK, s.deps.Unknowns.Top(n))
	})
	s.mux.HandleFunc("POST /api/v1/unknowns/accept", s.accept)
}

// accept adds the pattern a panel row proposes. It needs the admin token as
// a bearer token ("Authorization: Bearer <token>"); patterns are data every
// classification depends on. The body is exactly one JSON value; the
// pattern is judged by classify.PatternEdit.Validate, the rule of
// `pomocore patterns add` and of promotion, and every refusal is a 400
// (a new conflict a 409).
func (s *Server) accept(w http.ResponseWriter, r *http.Request) {
	if s.cfg.AdminToken == "" || s.deps.Patterns == nil {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": ErrAcceptDisabled.Error()})
		return
	}
	got, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !bearer || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.AdminToken)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid admin token is required"})
		return
	}
	var req acceptRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: want exactly one JSON value"})
		return
	}
	if !slices.Contains(s.cfg.Taxonomy.Categories, req.Category) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "category: not one of the taxonomy's"})
		return
	}
	e := classify.PatternEdit{Category: req.Category}
	switch {
	case req.Host != "" && req.App == "":
		e.Domains = []string{req.Host}
	case req.App != "" && req.Host == "":
		e.Apps = []string{req.App}
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want exactly one of app and host"})
		return
	}
	if err := e.Validate(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	if err := s.deps.Patterns.EditPatterns(ctx, e); err != nil {
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, classify.ErrNewConflict):
			status = http.StatusConflict
		case errors.Is(err, classify.ErrBadEdit):
			status = http.StatusBadRequest
		}
		s.deps.Log.Warn("accepting a suggestion", "category", req.Category, "app", req.App, "host", req.Host, "err", err)
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	if s.deps.Unknowns != nil {
		s.deps.Unknowns.Forget(req.App, req.Host)
	}
	s.deps.Log.Info("pattern added from the unknowns panel", "category", req.Category, "app", req.App, "host", req.Host)
	writeJSON(w, http.StatusOK, map[string]string{"status": "added"})
}

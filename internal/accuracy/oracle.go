package accuracy

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/llmtest"
)

// Oracle knows the ground truth of every activity sent: it answers an
// (app, host, title) with the label of the activity it was made from.
// Safe for concurrent use once built.
type Oracle struct {
	exact map[oracleKey]string
	// byApp holds, per (app, host), the titles and labels, for a title the
	// asker cut or cleaned.
	byApp map[[2]string][]titled
	// Misses counts questions it could not answer exactly (answered with
	// the label most (app, host) sightings have, or Uncategorized).
	Misses atomic.Int64
}

type oracleKey struct{ app, host, title string }

type titled struct{ title, label string }

func norm(app, host, title string) oracleKey {
	return oracleKey{strings.ToLower(pomocore.SanitizeText(app, 100)), strings.TrimPrefix(strings.ToLower(host), "www."),
		pomocore.SanitizeText(title, 1000)}
}

// NewOracle indexes the entries' ground truth.
func NewOracle(entries []Entry) *Oracle {
	o := &Oracle{exact: map[oracleKey]string{}, byApp: map[[2]string][]titled{}}
	for _, e := range entries {
		k := norm(e.App, Host(e.URL), e.Title)
		if _, ok := o.exact[k]; !ok {
			o.exact[k] = e.Truth
			o.byApp[[2]string{k.app, k.host}] = append(o.byApp[[2]string{k.app, k.host}], titled{k.title, e.Truth})
		}
	}
	return o
}

// Label returns the ground truth of an activity as an asker describes it
// (the app, the URL's host, the title, any of them possibly cut).
func (o *Oracle) Label(app, host, title string) string {
	k := norm(app, host, title)
	if l, ok := o.exact[k]; ok {
		return l
	}
	o.Misses.Add(1)
	cands := o.byApp[[2]string{k.app, k.host}]
	count := map[string]int{}
	best := ""
	for _, c := range cands {
		if k.title != "" && strings.HasPrefix(c.title, k.title) {
			return c.label
		}
		count[c.label]++
		if best == "" || count[c.label] > count[best] || (count[c.label] == count[best] && c.label < best) {
			best = c.label
		}
	}
	if best == "" {
		return pomocore.Uncategorized
	}
	return best
}

// Endpoint is a fake OpenAI-compatible chat completions endpoint (over
// llmtest.Server: POST /v1/chat/completions, key "test-key") that answers
// each activity of a request with the oracle's label, after a latency drawn
// uniformly from [MinLatency, MaxLatency], and counts calls and items.
// The user message is a JSON array of activities with "app", "host" (or
// "url") and "title", as llm.Client sends them.
type Endpoint struct {
	Oracle                 *Oracle
	MinLatency, MaxLatency time.Duration

	fake     llmtest.Server
	once     sync.Once
	mu       sync.Mutex
	rng      *rand.Rand
	items    atomic.Int64
	inFlight atomic.Int64
	started  atomic.Int64 // unix nanoseconds of the last request's start
}

// ServeHTTP answers one request.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.once.Do(func() {
		e.rng = rand.New(rand.NewPCG(7, 11))
		e.fake.Answer = e.answer
	})
	e.inFlight.Add(1)
	defer e.inFlight.Add(-1)
	e.started.Store(time.Now().UnixNano())
	e.mu.Lock()
	d := e.MinLatency
	if e.MaxLatency > e.MinLatency {
		d += time.Duration(e.rng.Int64N(int64(e.MaxLatency - e.MinLatency)))
	}
	e.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	e.fake.ServeHTTP(w, r)
}

func (e *Endpoint) answer(_ string, items []map[string]string) (int, string) {
	e.items.Add(int64(len(items)))
	out := make([]string, len(items))
	for i, it := range items {
		host := it["host"]
		if host == "" {
			host = Host(it["url"])
		}
		out[i] = e.Oracle.Label(it["app"], host, it["title"])
	}
	b, _ := json.Marshal(out)
	return http.StatusOK, string(b)
}

// Calls returns how many requests it received.
func (e *Endpoint) Calls() int64 { return e.fake.Calls.Load() }

// Items returns how many activities those requests asked about.
func (e *Endpoint) Items() int64 { return e.items.Load() }

// InFlight returns how many requests it is answering now.
func (e *Endpoint) InFlight() int64 { return e.inFlight.Load() }

// LastStart returns when the last request arrived (zero before the first).
func (e *Endpoint) LastStart() time.Time {
	if n := e.started.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Reset zeroes the counts (between the runs that share the endpoint).
func (e *Endpoint) Reset() {
	e.fake.Calls.Store(0)
	e.items.Store(0)
	e.started.Store(0)
}

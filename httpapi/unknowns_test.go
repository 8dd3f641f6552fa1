package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/httpapi"
)

// clock is a settable clock for the tracker.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestUnknownsPanelCountsOnlyWhatNoPatternDecided(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	u := httpapi.NewUnknowns(httpapi.UnknownsConfig{Now: clk.Now})
	llm := pomocore.Classification{Category: "Development", Source: pomocore.SourceLLM}
	def := pomocore.Classification{Category: pomocore.Uncategorized, Source: pomocore.SourceDefault}
	for range 3 {
		u.Observe("Google Chrome", "https://www.Example.dev:443/docs?q=1", llm, 60)
	}
	u.Observe("Safari", "example.dev/other", def, 30) // same host from another browser: one row
	u.Observe("Mystery", "", def, 10)
	u.Observe("Xcode", "", pomocore.Classification{Category: "Development", Source: pomocore.SourceApp}, 999)
	u.Observe("Ghostty", "", pomocore.Classification{Category: "Development", Source: pomocore.SourceBuiltin}, 999)

	top := u.Top(10)
	if len(top) != 2 {
		t.Fatalf("rows = %+v, want example.dev and Mystery (a pattern hit is no unknown)", top)
	}
	if r := top[0]; r.Host != "example.dev" || r.App != "" || r.Count != 4 || r.Seconds != 210 || r.Suggested != "Development" ||
		r.Sources[pomocore.SourceLLM] != 3 || r.Sources[pomocore.SourceDefault] != 1 {
		t.Errorf("first row = %+v", r)
	}
	if r := top[1]; r.App != "Mystery" || r.Host != "" || r.Count != 1 || r.Suggested != "" {
		t.Errorf("second row = %+v (only the default answered: no suggestion)", r)
	}
	if got := u.Top(1); len(got) != 1 || got[0].Host != "example.dev" {
		t.Errorf("Top(1) = %+v", got)
	}
}

func TestUnknownsPanelForgetsAfterTheWindow(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	u := httpapi.NewUnknowns(httpapi.UnknownsConfig{Now: clk.Now, Window: 24 * time.Hour, Buckets: 24})
	def := pomocore.Classification{Category: pomocore.Uncategorized, Source: pomocore.SourceDefault}
	u.Observe("Old", "", def, 1)
	clk.Add(23 * time.Hour)
	u.Observe("New", "", def, 1)
	if got := u.Top(10); len(got) != 2 {
		t.Fatalf("after 23h: %+v, want both", got)
	}
	clk.Add(90 * time.Minute)
	got := u.Top(10)
	if len(got) != 1 || got[0].App != "New" {
		t.Errorf("after 24.5h: %+v, want only New", got)
	}
}

func TestUnknownsPanelMemoryIsBounded(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	u := httpapi.NewUnknowns(httpapi.UnknownsConfig{Now: clk.Now, MaxKeys: 100})
	def := pomocore.Classification{Category: pomocore.Uncategorized, Source: pomocore.SourceDefault}
	for i := range 1000 {
		u.Observe(fmt.Sprintf("app-%d", i), "", def, 1)
	}
	if got := len(u.Top(1000)); got != 100 {
		t.Errorf("rows = %d, want the cap of 100", got)
	}
	if httpapi.UnknownsDropped(u) != 900 {
		t.Errorf("Dropped = %d, want 900", httpapi.UnknownsDropped(u))
	}
}

// fakeEditor records edits; conflict makes it refuse them as a conflict.
type fakeEditor struct {
	mu       sync.Mutex
	edits    []classify.PatternEdit
	conflict bool
	err      error // returned when set
}

func (f *fakeEditor) EditPatterns(_ context.Context, e classify.PatternEdit) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conflict {
		return fmt.Errorf("not written: %w", classify.ErrNewConflict)
	}
	if f.err != nil {
		return f.err
	}
	f.edits = append(f.edits, e)
	return nil
}

func unknownsServer(t *testing.T, token string, ed *fakeEditor) *httptest.Server {
	t.Helper()
	u := httpapi.NewUnknowns(httpapi.UnknownsConfig{})
	u.Observe("Chrome", "https://figma.com/file/1", pomocore.Classification{Category: "Design", Source: pomocore.SourceLLM}, 60)
	s := httpapi.New(httpapi.Config{Taxonomy: pomocore.DefaultTaxonomy(), AdminToken: token},
		httpapi.Deps{Gatherer: prometheus.NewRegistry(), Unknowns: u, Patterns: ed})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func post(t *testing.T, url, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestUnknownsEndpointListsRows(t *testing.T) {
	ts := unknownsServer(t, "", &fakeEditor{})
	resp, err := http.Get(ts.URL + "/api/v1/unknowns?limit=5")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rows []httpapi.UnknownActivity
	if err := json.NewDecoder(resp.Body).Decode(&rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Host != "figma.com" || rows[0].Suggested != "Design" {
		t.Errorf("rows = %+v", rows)
	}
	if r, _ := http.Get(ts.URL + "/api/v1/unknowns?limit=0"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("limit=0: %d, want 400", r.StatusCode)
	}
}

func TestAcceptSuggestionNeedsTheAdminToken(t *testing.T) {
	ed := &fakeEditor{}
	body := `{"host":"figma.com","category":"Design"}`
	if got := post(t, unknownsServer(t, "", ed).URL+"/api/v1/unknowns/accept", "", body); got != http.StatusForbidden {
		t.Errorf("without a configured token: %d, want 403", got)
	}
	ts := unknownsServer(t, "s3cret", ed)
	for _, tok := range []string{"", "wrong", "s3cre"} {
		if got := post(t, ts.URL+"/api/v1/unknowns/accept", tok, body); got != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", tok, got)
		}
	}
	if len(ed.edits) != 0 {
		t.Fatalf("edits without the token: %+v", ed.edits)
	}
	if got := post(t, ts.URL+"/api/v1/unknowns/accept", "s3cret", body); got != http.StatusOK {
		t.Fatalf("with the token: %d", got)
	}
	if len(ed.edits) != 1 || ed.edits[0].Category != "Design" || len(ed.edits[0].Domains) != 1 || ed.edits[0].Domains[0] != "figma.com" {
		t.Errorf("edits = %+v", ed.edits)
	}
}

func TestAcceptSuggestionRefusesBadRequests(t *testing.T) {
	ed := &fakeEditor{}
	ts := unknownsServer(t, "tok", ed)
	for body, want := range map[string]int{
		`{"host":"figma.com","category":"NotACategory"}`:         http.StatusBadRequest,
		`{"host":"figma.com","app":"Figma","category":"Design"}`: http.StatusBadRequest,
		`{"category":"Design"}`:                                  http.StatusBadRequest,
		`{"host":"figma.com","category":"Design","x":1}`:         http.StatusBadRequest,
		`not json`: http.StatusBadRequest,
	} {
		if got := post(t, ts.URL+"/api/v1/unknowns/accept", "tok", body); got != want {
			t.Errorf("%s: %d, want %d", body, got, want)
		}
	}
	ed.conflict = true
	if got := post(t, ts.URL+"/api/v1/unknowns/accept", "tok", `{"app":"Figma","category":"Design"}`); got != http.StatusConflict {
		t.Errorf("a conflicting pattern: %d, want 409", got)
	}
}

func httptestServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Accepting a suggestion validates the pattern as `patterns add` does
// (classify.CheckDomain, CheckApp): every refusal is a 400, never a 500 or
// an edit; the token must come as "Bearer <token>", and the body is one
// JSON value (issue 27 item 5).
func TestAcceptSuggestionRefusesPatternsThatBreakClassification(t *testing.T) {
	ed := &fakeEditor{}
	ts := unknownsServer(t, "tok", ed)
	for _, body := range []string{
		`{"host":"com","category":"Game"}`,
		`{"host":"org","category":"AFK"}`,
		`{"host":"*","category":"AFK"}`,
		`{"app":"*","category":"AFK"}`,
		`{"host":"` + strings.Repeat("a", 3950) + `.com","category":"AFK"}`,
		`{"host":".","category":"AFK"}`,
		`{"host":"figma.com","category":"Design"} {"host":"com","category":"Game"}`,
		`{"host":"figma.com","category":"Design"} x`,
	} {
		if got := post(t, ts.URL+"/api/v1/unknowns/accept", "tok", body); got != http.StatusBadRequest {
			t.Errorf("%.80s: %d, want 400", body, got)
		}
	}
	for _, auth := range []string{"tok", "bearer tok", "Basic tok", "Bearer  tok"} {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1/unknowns/accept", strings.NewReader(`{"host":"figma.com","category":"Design"}`))
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", auth, resp.StatusCode)
		}
	}
	if len(ed.edits) != 0 {
		t.Fatalf("refused requests edited the patterns: %+v", ed.edits)
	}
	ed.err = fmt.Errorf("store: %w", classify.ErrBadEdit)
	if got := post(t, ts.URL+"/api/v1/unknowns/accept", "tok", `{"host":"figma.com","category":"Design"}`); got != http.StatusBadRequest {
		t.Errorf("an edit the store refuses as bad: %d, want 400", got)
	}
	ed.err = nil
	if got := post(t, ts.URL+"/api/v1/unknowns/accept", "tok", `{"host":"figma.com","category":"Design"}`+"\n"); got != http.StatusOK {
		t.Errorf("one value and a newline: %d, want 200", got)
	}
}

package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/httpapi"
)

func init() {
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

// apiServer is server() with a noisy score (the sum of many increments).
func apiServer(t *testing.T, storeErr error) string {
	t.Helper()
	seoul, _ := time.LoadLocation("Asia/Seoul")
	reg := prometheus.NewRegistry()
	httpapi.NewMetrics(reg)
	reg.MustRegister(httpapi.NewGroupCollector(fakeGroup{}))
	boards := &fakeBoards{key: "leaderboard:Development:2026-W48", list: []pomocore.Ranked{
		{Rank: 1, UserID: "a", Score: 107133.80000000009}, {Rank: 2, UserID: "b", Score: 90}}}
	s := httpapi.New(httpapi.Config{KeyPrefix: "leaderboard", Location: seoul, Taxonomy: pomocore.DefaultTaxonomy()}, httpapi.Deps{
		Gatherer: reg, Leaderboards: boards, Group: fakeGroup{}, Page: &fakePage{processed: 4},
		Ready: map[string]httpapi.Pinger{"store": func(context.Context) error { return storeErr }},
		Now:   func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) },
	})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts.URL
}

// Every route's answers agree with openapi.yaml (kin-openapi validates
// status, content type and body; the schemas allow no undocumented
// field), and every operation of the document is exercised.
func TestResponsesMatchTheOpenAPIDocument(t *testing.T) {
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	up, down := apiServer(t, nil), apiServer(t, errors.New("store down"))
	seen := map[string]bool{}
	for _, c := range []struct {
		base, method, path, body string
		code                     int
	}{
		{up, "GET", "/", "", 200},
		{up, "GET", "/healthz", "", 200},
		{up, "GET", "/readyz", "", 200},
		{down, "GET", "/readyz", "", 503},
		{up, "GET", "/metrics", "", 200},
		{up, "GET", "/api/openapi.yaml", "", 200},
		{up, "GET", "/api/v1/categories", "", 200},
		{up, "GET", "/api/v1/stats", "", 200},
		{up, "GET", "/api/v1/stats?date=2026-11-23", "", 200},
		{up, "GET", "/api/v1/stats?date=2026-02-30", "", 400},
		{up, "GET", "/api/v1/leaderboards/Development/week?date=2026-11-24&limit=5", "", 200},
		{up, "GET", "/api/v1/leaderboards/Development/week?date=2026-02-30", "", 400},
		{up, "GET", "/api/v1/leaderboards/Development/week?limit=0", "", 400},
		{up, "GET", "/api/v1/leaderboards/Development/week/users/a?date=2026-11-24&around=1", "", 200},
		{up, "GET", "/api/v1/leaderboards/Development/week/users/nobody?date=2026-11-24", "", 404},
		{up, "GET", "/api/v1/leaderboards/Nope/week/users/a", "", 400},
		{up, "GET", "/api/v1/unknowns", "", 200},
		{up, "POST", "/api/v1/unknowns/accept", `{"app":"x","category":"Development"}`, 403},
	} {
		req, err := http.NewRequest(c.method, c.base+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, resp.StatusCode, c.code, body)
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s: not in openapi.yaml: %v", c.method, c.path, err)
			continue
		}
		seen[c.method+" "+route.Path] = true
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
			Status:                 resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
			t.Errorf("%s %s: the answer does not match openapi.yaml: %v\n%s", c.method, c.path, err, body)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !seen[method+" "+path] {
				t.Errorf("%s %s of openapi.yaml is not exercised", method, path)
			}
		}
	}
}

// Under /api/v1 every answer is JSON: an unknown path (404) and a method
// a route does not take (405) too; a day the calendar lacks is named as
// such; scores carry no floating-point noise.
func TestAPIAnswersJSONEverywhereAndClearly(t *testing.T) {
	base := apiServer(t, nil)
	for _, c := range []struct {
		method, path string
		code         int
		want         string
	}{
		{"GET", "/api/v1/nope", 404, `"error"`},
		{"GET", "/api/v1/leaderboards/Development", 404, `"error"`},
		{"POST", "/api/v1/stats", 405, `"error"`},
		{"DELETE", "/api/v1/leaderboards/Development/week", 405, `"error"`},
		{"GET", "/api/v1/leaderboards/Development/week?date=2026-02-30", 400, `February 2026 has 28 days`},
		{"GET", "/api/v1/leaderboards/Development/week?date=2026-13-01", 400, `there is no month 13`},
		{"GET", "/api/v1/leaderboards/Development/week?date=24.11.2026", 400, `want YYYY-MM-DD`},
		{"GET", "/api/v1/leaderboards/Development/week?date=2026-11-24", 200, `"score":107133.8}`},
		{"GET", "/api/v1/leaderboards/Development/week/users/a?date=2026-11-24", 200, `"score":107133.8,`},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), c.want) {
			t.Errorf("%s %s: %d %s %s, want %d, JSON with %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, c.code, c.want)
		}
	}
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pomocore/pomocore/httpapi"
)

// An Endpoint serves the start-up answers from the moment it listens:
// /healthz 200, /readyz 503 naming the step waited for and its last error,
// /metrics, 503 elsewhere; Handle swaps in the full handler; it stops when
// its context ends.
func TestEndpointServesStartupThenTheHandler(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "pomocore_test_total", Help: "a test counter"}))
	var st httpapi.Startup
	st.Set("redis", errors.New("connection refused"))
	e, err := httpapi.Listen(ctx, "127.0.0.1:0", st.Handler(reg), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + e.Addr() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz = %d %s", code, body)
	}
	code, body := get("/readyz")
	var ready struct {
		Failed []string          `json:"failed"`
		Errors map[string]string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body), &ready); err != nil || code != http.StatusServiceUnavailable ||
		ready.Errors["startup"] != "starting: redis: connection refused" || len(ready.Failed) != 1 {
		t.Errorf("/readyz = %d %s (%v)", code, body, err)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "pomocore_test_total") {
		t.Errorf("/metrics = %d %s", code, body)
	}
	if code, body := get("/api/v1/leaderboard"); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting: redis") {
		t.Errorf("an API path while starting = %d %s", code, body)
	}
	st.Set("store", nil)
	if _, body := get("/readyz"); !strings.Contains(body, "starting: store: starting") {
		t.Errorf("/readyz after the step changed: %s", body)
	}
	e.Handle(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	if code, _ := get("/readyz"); code != http.StatusTeapot {
		t.Errorf("after Handle: %d", code)
	}
	cancel()
	e.Wait()
	if _, err := http.Get("http://" + e.Addr() + "/healthz"); err == nil {
		t.Error("the endpoint still answers after its context ended")
	}
}

// Listen fails at once, naming the setting, on an address it cannot bind.
func TestListenRefusesATakenAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var st httpapi.Startup
	if _, err := httpapi.Listen(context.Background(), l.Addr().String(), st.Handler(prometheus.NewRegistry()), slog.New(slog.DiscardHandler)); err == nil ||
		!strings.Contains(err.Error(), "POMOCORE_HTTP_ADDR") {
		t.Errorf("Listen on a taken address = %v", err)
	}
}

package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/logtest"
)

// listenConfig is a valid development configuration with HTTP at addr.
func listenConfig(t *testing.T, addr string) Config {
	t.Helper()
	cfg := Defaults()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Learn.Interval = 0
	cfg.HTTPAddr = addr
	cfg.Complete(func(string) bool { return false })
	return cfg
}

// TestSettingsRefuseAnHTTPAddressThatCannotBeBound: an address with no
// valid port is refused when the settings load, naming
// POMOCORE_HTTP_ADDR, and so is an unknown APP_ENV.
func TestSettingsRefuseAnHTTPAddressThatCannotBeBound(t *testing.T) {
	for _, addr := range []string{":99999", "localhost", ":-1", "host:http-alt:1"} {
		cfg := listenConfig(t, addr)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "POMOCORE_HTTP_ADDR") {
			t.Errorf("POMOCORE_HTTP_ADDR=%q: Validate = %v, want an error naming POMOCORE_HTTP_ADDR", addr, err)
		}
	}
	for _, addr := range []string{"", ":8080", "127.0.0.1:0", "[::1]:9090"} {
		cfg := listenConfig(t, addr)
		if err := cfg.Validate(); err != nil {
			t.Errorf("POMOCORE_HTTP_ADDR=%q: %v", addr, err)
		}
	}
	for env, refused := range map[string]bool{"dev": false, "prod": false, "production": true, "staging": true, "Prod": true} {
		cfg := listenConfig(t, "")
		cfg.AppEnv = env
		err := cfg.Validate() // prod is refused too, for lacking REDIS_ADDR and MONGO_URI, not for its name
		if got := err != nil && strings.Contains(err.Error(), "APP_ENV:"); got != refused {
			t.Errorf("APP_ENV=%q: Validate = %v, want APP_ENV refused: %v", env, err, refused)
		}
	}
}

// TestRunStopsOnATakenHTTPPortAndAnswersHealthzAtOnce: a taken port stops
// start-up with an error naming POMOCORE_HTTP_ADDR, before waiting for
// any dependency; a free one answers /healthz as soon as Run starts, and
// /readyz with 503 while Redis does not answer.
func TestRunStopsOnATakenHTTPPortAndAnswersHealthzAtOnce(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	const deadAddr = "127.0.0.1:1" // a Redis address nobody answers on (a privileged port no test takes)

	cfg := listenConfig(t, taken.Addr().String())
	cfg.Redis.Addrs = []string{deadAddr}
	a, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "POMOCORE_HTTP_ADDR") {
			t.Errorf("Run on a taken port = %v, want an error naming POMOCORE_HTTP_ADDR", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run on a taken port did not stop (it waits for Redis instead)")
	}

	// A port of the kernel's choosing (a port picked as free and closed
	// could be taken again before Run binds it); Run logs which.
	cfg = listenConfig(t, "127.0.0.1:0")
	cfg.Redis.Addrs = []string{deadAddr}
	log, logs := logtest.Logger()
	b, err := New(cfg, Deps{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- b.Run(ctx2) }()
	starting := regexp.MustCompile(`msg="HTTP server \(starting\)".* addr=(\S+)`)
	addr, ok := eventually.Match(10*time.Second, logs.String, starting)
	if !ok {
		t.Fatalf("Run logged no HTTP address:\n%s", logs.String())
	}
	status := func(path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if !eventually.Within(5*time.Second, func() bool { return status("/healthz") == http.StatusOK }) {
		t.Error("/healthz does not answer 200 while Run waits for Redis")
	}
	if got := status("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d while Redis does not answer, want 503", got)
	}
	cancel2()
	select {
	case err := <-done2:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Run did not stop")
	}
	if status("/healthz") != 0 {
		t.Error("the HTTP server still answers after Run returned")
	}
}

package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// startup is what Run is waiting for while it starts: the step and the
// last error of the dependency it waits on ("" once running). Safe for
// concurrent use.
type startup struct {
	mu   sync.Mutex
	what string
	err  error
}

// set records that Run waits for what, which last failed with err (nil:
// not tried yet, or it answered).
func (s *startup) set(what string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.what, s.err = what, err
}

// get returns the step and its last error.
func (s *startup) get() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.what, s.err
}

// web is the HTTP server of POMOCORE_HTTP_ADDR. It listens before Run's
// first wait and serves the start-up handler (startupHandler) until Run
// hands it the full one (serve): /healthz answers from the first moment,
// and /readyz says what the start waits for, so that an instance stuck
// behind a dependency is told from one that is running.
type web struct {
	// addr is the address listened on: POMOCORE_HTTP_ADDR with the port
	// the system chose when it asks for port 0.
	addr string
	h    atomic.Pointer[http.Handler]
	srv  *http.Server
	done chan struct{}
}

// startWeb listens on addr and serves h until ctx ends (then shuts down
// within 5 s); the timeouts are httpapi.Server.Serve's. A server that
// stops by itself is logged to log.
func startWeb(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (*web, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("POMOCORE_HTTP_ADDR %s: %w", addr, err)
	}
	w := &web{addr: l.Addr().String(), done: make(chan struct{})}
	w.h.Store(&h)
	w.srv = &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { (*w.h.Load()).ServeHTTP(rw, r) }),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	go func() {
		defer close(w.done)
		if err := w.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "err", err)
		}
	}()
	context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.srv.Shutdown(sctx)
	})
	return w, nil
}

// serve replaces the handler.
func (w *web) serve(h http.Handler) { w.h.Store(&h) }

// wait returns once the server stopped.
func (w *web) wait() { <-w.done }

// startupHandler serves, while Run starts: /healthz (200), /readyz (503,
// naming the step waited for and its last error, in the shape of
// httpapi's answer), /metrics, and 503 for everything else.
func (a *App) startupHandler() http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	waiting := func() (string, string) {
		what, err := a.startup.get()
		msg := "starting"
		if err != nil {
			msg = err.Error()
		}
		return "starting: " + what, msg
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		what, msg := waiting()
		reply(w, http.StatusServiceUnavailable, map[string]any{"startup": "unavailable", "failed": []string{"startup"},
			"errors": map[string]string{"startup": what + ": " + msg}})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		what, _ := waiting()
		reply(w, http.StatusServiceUnavailable, map[string]string{"error": what})
	})
	return mux
}

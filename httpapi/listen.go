package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Endpoint is the HTTP server of POMOCORE_HTTP_ADDR. It listens at once
// and serves the handler it was given until Handle replaces it, so that a
// process answers /healthz from its first moment (Startup.Handler) and
// serves the full Server once it runs.
type Endpoint struct {
	addr string
	h    atomic.Pointer[http.Handler]
	srv  *http.Server
	done chan struct{}
}

// Listen listens on addr and serves h until ctx ends, then shuts down
// within 5 s. A server that stops by itself is logged to log.
func Listen(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (*Endpoint, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("POMOCORE_HTTP_ADDR %s: %w", addr, err)
	}
	e := &Endpoint{addr: l.Addr().String(), done: make(chan struct{})}
	e.h.Store(&h)
	e.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*e.h.Load()).ServeHTTP(w, r) }),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	go func() {
		defer close(e.done)
		if err := e.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "err", err)
		}
	}()
	context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.srv.Shutdown(sctx)
	})
	return e, nil
}

// Addr is the address listened on: the one asked for, with the port the
// system chose when it asked for port 0.
func (e *Endpoint) Addr() string { return e.addr }

// Handle serves h from now on.
func (e *Endpoint) Handle(h http.Handler) { e.h.Store(&h) }

// Wait returns once the server stopped.
func (e *Endpoint) Wait() { <-e.done }

// Startup is what a starting process waits for: the step and the last
// error of the dependency it waits on. Safe for concurrent use.
type Startup struct {
	mu   sync.Mutex
	step string
	err  error
}

// Set records that the start waits for step, which last failed with err
// (nil: not tried yet, or it answered).
func (s *Startup) Set(step string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step, s.err = step, err
}

// waiting returns the step waited for and its last error's message.
func (s *Startup) waiting() (step, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg = "starting"
	if s.err != nil {
		msg = s.err.Error()
	}
	return "starting: " + s.step, msg
}

// Handler serves, while the process starts: /healthz (200), /readyz (503,
// naming the step waited for and its last error, in the shape of the
// Server's answer), /metrics from g, and 503 for everything else.
func (s *Startup) Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		step, msg := s.waiting()
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"startup": "unavailable", "failed": []string{"startup"},
			"errors": map[string]string{"startup": step + ": " + msg}})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		step, _ := s.waiting()
		writeError(w, http.StatusServiceUnavailable, errors.New(step))
	})
	return mux
}

package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// checkListenAddr reports an address that can never be listened on: no
// port, or a port that is not a number from 0 to 65535 or a service name.
// A port another process holds is found when Run binds it, first thing.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port or :port (%w)", addr, err)
	}
	if n, err := strconv.Atoi(port); err == nil {
		if n < 0 || n > 65535 {
			return fmt.Errorf("%q: port %d is not in 0..65535", addr, n)
		}
		return nil
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%q: port %q: %w", addr, port, err)
	}
	return nil
}

// httpFront is the HTTP listener of a run, bound before anything else so
// that an address that cannot be bound stops start-up: until the full
// server is handed over (serve), /healthz answers 200 (the process is up)
// and everything else 503 (starting), /readyz included.
type httpFront struct {
	srv  *http.Server
	cur  atomic.Pointer[http.Handler]
	done chan error
}

// listenHTTP binds addr (POMOCORE_HTTP_ADDR) and serves the front until
// close.
func listenHTTP(addr string) (*httpFront, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("POMOCORE_HTTP_ADDR %q: %w", addr, err)
	}
	f := &httpFront{done: make(chan error, 1)}
	f.srv = &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	go func() { f.done <- f.srv.Serve(l) }()
	return f, nil
}

// ServeHTTP implements http.Handler.
func (f *httpFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := f.cur.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	status, body := http.StatusServiceUnavailable, map[string]string{"status": "starting"}
	if r.URL.Path == "/healthz" {
		status, body = http.StatusOK, map[string]string{"status": "ok"}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// serve hands the requests over to h.
func (f *httpFront) serve(h http.Handler) { f.cur.Store(&h) }

// close shuts the server down within 5 s and waits for it.
func (f *httpFront) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = f.srv.Shutdown(ctx)
	if err := <-f.done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

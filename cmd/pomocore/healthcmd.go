package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// healthcheckCmd implements `pomocore healthcheck`: a GET of the running
// service's /healthz (or /readyz with -ready) on POMOCORE_HTTP_ADDR, for
// the image's HEALTHCHECK and compose (the distroless image has no curl).
// It fails unless the answer is 200.
func healthcheckCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("healthcheck", `usage: pomocore healthcheck [-ready] [-url URL]

Asks the running service (POMOCORE_HTTP_ADDR, port on 127.0.0.1) whether
it is alive (/healthz) or, with -ready, ready (/readyz); exits 0 on 200,
1 otherwise. For Docker's HEALTHCHECK and compose healthchecks.
`, stderr)
	ready := fs.Bool("ready", false, "ask /readyz (Redis and the store answer) instead of /healthz")
	url := fs.String("url", "", "the URL to ask (default from POMOCORE_HTTP_ADDR)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *url == "" {
		addr := getenv("POMOCORE_HTTP_ADDR")
		if addr == "" {
			return usagef("POMOCORE_HTTP_ADDR is unset: the service serves no HTTP (or give -url)")
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return usagef("POMOCORE_HTTP_ADDR %q: %v", addr, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		path := "/healthz"
		if *ready {
			path = "/readyz"
		}
		*url = "http://" + net.JoinHostPort(host, port) + path
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return usagef("-url: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(stdout, "%s: %d %s\n", *url, resp.StatusCode, strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", *url, resp.StatusCode)
	}
	return nil
}

package llmtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestServerModes(t *testing.T) {
	f := &Server{Answer: Always("Finance"), SlowDelay: 200 * time.Millisecond}
	api := httptest.NewServer(f)
	defer api.Close()
	defer f.Release()
	post := func(timeout time.Duration) (int, string, time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api.URL+"/v1/chat/completions",
			strings.NewReader(`{"messages":[{"role":"system","content":"s"},{"role":"user","content":"{\"1\":{\"app\":\"a\"}}"}]}`))
		req.Header.Set("Authorization", "Bearer test-key")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", time.Since(start), err
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, err = io.Copy(&b, resp.Body)
		return resp.StatusCode, b.String(), time.Since(start), err
	}

	if code, body, _, err := post(5 * time.Second); err != nil || code != http.StatusOK || !strings.Contains(body, `{\"1\":\"Finance\"}`) {
		t.Errorf("answering: %d %s %v", code, body, err)
	}
	f.SetMode(Slow)
	if code, _, took, err := post(5 * time.Second); err != nil || code != http.StatusOK || took < f.SlowDelay {
		t.Errorf("slow: %d after %v, %v; want 200 after >= %v", code, took, err, f.SlowDelay)
	}
	f.SetMode(Failing)
	if code, _, _, err := post(5 * time.Second); err != nil || code != http.StatusInternalServerError {
		t.Errorf("failing: %d %v, want 500", code, err)
	}
	f.SetMode(Hanging)
	if _, _, _, err := post(300 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hanging: %v, want the client's deadline", err)
	}
	// Released, a hanging request is cut rather than answered.
	f.Release()
	if code, _, _, err := post(5 * time.Second); err == nil {
		t.Errorf("hanging after Release: answered %d, want the connection cut", code)
	}
	for m, want := range map[Mode]int64{Answering: 1, Slow: 1, Failing: 1, Hanging: 2} {
		if got := f.ByMode[m].Load(); got != want {
			t.Errorf("requests in mode %s = %d, want %d", m, got, want)
		}
	}
}

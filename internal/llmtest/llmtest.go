// Package llmtest is a fake OpenAI-compatible endpoint for tests.
package llmtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how a Server behaves toward the requests it gets (SetMode): an
// LLM fallback that answers, is slow, fails or hangs.
type Mode int32

const (
	// Answering answers after Delay (the zero Mode).
	Answering Mode = iota
	// Slow answers after SlowDelay.
	Slow
	// Failing answers 500 at once, without asking Answer.
	Failing
	// Hanging never answers: the request is held until the client gives
	// up (or Release).
	Hanging
)

// String is the mode's name, as in a chaos run's table.
func (m Mode) String() string {
	switch m {
	case Answering:
		return "answering"
	case Slow:
		return "slow"
	case Failing:
		return "failing"
	case Hanging:
		return "hanging"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// Server is an OpenAI-compatible chat completions endpoint (POST
// /v1/chat/completions, bearer key "test-key") whose answer a test chooses:
// Answer gets the system prompt and the activities of the user message
// (Items). Its Mode (SetMode; Answering at first) makes it slow, failing or
// hanging; ByMode counts the requests each mode got.
type Server struct {
	Calls  atomic.Int64
	Answer func(prompt string, items []map[string]string) (status int, content string)
	Delay  time.Duration
	// SlowDelay is how long a request waits in mode Slow.
	SlowDelay time.Duration
	Last      atomic.Value // the last request body (string)
	// ByMode counts the requests of a known path and key by the mode they
	// met, indexed by Mode.
	ByMode [Hanging + 1]atomic.Int64

	mode        atomic.Int32
	initOnce    sync.Once
	releaseOnce sync.Once
	released    chan struct{}
}

// SetMode makes the server behave as m from the next request on.
func (f *Server) SetMode(m Mode) { f.mode.Store(int32(m)) }

// Mode is the current mode.
func (f *Server) Mode() Mode { return Mode(f.mode.Load()) }

// Release lets every hanging request go (unanswered: its connection is
// closed), now and later; call it before closing an httptest.Server whose
// clients may not give up by themselves.
func (f *Server) Release() { f.releaseOnce.Do(func() { close(f.releasedCh()) }) }

func (f *Server) releasedCh() chan struct{} {
	f.initOnce.Do(func() { f.released = make(chan struct{}) })
	return f.released
}

// ServeHTTP answers one chat completion request.
func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.Calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	f.Last.Store(string(body))
	if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer test-key" {
		http.Error(w, `{"error":{"message":"bad path or key"}}`, http.StatusUnauthorized)
		return
	}
	mode := f.Mode()
	if mode >= Answering && mode <= Hanging {
		f.ByMode[mode].Add(1)
	}
	delay := f.Delay
	switch mode {
	case Slow:
		delay = f.SlowDelay
	case Failing:
		http.Error(w, `{"error":{"message":"the fake LLM is failing"}}`, http.StatusInternalServerError)
		return
	case Hanging:
		select {
		case <-r.Context().Done():
		case <-f.releasedCh():
		}
		panic(http.ErrAbortHandler) // the connection is cut: no answer at all
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	var req struct {
		Messages []struct{ Role, Content string }
	}
	_ = json.Unmarshal(body, &req)
	items := Items(req.Messages[len(req.Messages)-1].Content)
	status, content := f.Answer(req.Messages[0].Content, items)
	if status != http.StatusOK {
		http.Error(w, `{"error":{"message":"boom"}}`, status)
		return
	}
	c, _ := json.Marshal(content)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":`+string(c)+`}}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`)
}

// Items reads the activities of a user message: a JSON object keyed by
// id "1" to "n" (returned in id order; a missing id leaves an empty item),
// or a JSON array.
func Items(user string) []map[string]string {
	var byID map[string]map[string]string
	if err := json.Unmarshal([]byte(user), &byID); err == nil {
		items := make([]map[string]string, len(byID))
		for i := range items {
			items[i] = byID[strconv.Itoa(i+1)]
			if items[i] == nil {
				items[i] = map[string]string{}
			}
		}
		return items
	}
	var items []map[string]string
	_ = json.Unmarshal([]byte(user), &items)
	return items
}

// ByID is the answer the prompt asks for: a JSON object that maps each
// id ("1" to "n") to its category.
func ByID(categories []string) string {
	m := make(map[string]string, len(categories))
	for i, c := range categories {
		m[strconv.Itoa(i+1)] = c
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// Always answers every item with category.
func Always(category string) func(string, []map[string]string) (int, string) {
	return func(_ string, items []map[string]string) (int, string) {
		out := make([]string, len(items))
		for i := range items {
			out[i] = category
		}
		return http.StatusOK, ByID(out)
	}
}

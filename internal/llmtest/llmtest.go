// Package llmtest is a fake OpenAI-compatible endpoint for tests.
package llmtest

import (
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// Server is an OpenAI-compatible chat completions endpoint (POST
// /v1/chat/completions, bearer key "test-key") whose answer a test chooses:
// Answer gets the system prompt and the JSON items of the user message.
type Server struct {
	Calls  atomic.Int64
	Answer func(prompt string, items []map[string]string) (status int, content string)
	Delay  time.Duration
	Last   atomic.Value // the last request body (string)
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
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return
		}
	}
	var req struct {
		Messages []struct{ Role, Content string }
	}
	_ = json.Unmarshal(body, &req)
	var items []map[string]string
	_ = json.Unmarshal([]byte(req.Messages[len(req.Messages)-1].Content), &items)
	status, content := f.Answer(req.Messages[0].Content, items)
	if status != http.StatusOK {
		http.Error(w, `{"error":{"message":"boom"}}`, status)
		return
	}
	c, _ := json.Marshal(content)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":`+string(c)+`}}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`)
}

// Always answers every item with category.
func Always(category string) func(string, []map[string]string) (int, string) {
	return func(_ string, items []map[string]string) (int, string) {
		out := make([]string, len(items))
		for i := range items {
			out[i] = category
		}
		b, _ := json.Marshal(out)
		return http.StatusOK, string(b)
	}
}

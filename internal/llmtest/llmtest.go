// Package llmtest is a fake OpenAI-compatible endpoint for tests.
package llmtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Server is an OpenAI-compatible chat completions endpoint (POST
// /v1/chat/completions, bearer key "test-key") whose answer a test chooses:
// Answer gets the system prompt and the activities of the user message
// (Items).
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

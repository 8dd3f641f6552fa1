package bench

import (
	"net/http/httptest"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/llmtest"
)

// fakeLLMKey is the key the fake LLM endpoint takes.
const fakeLLMKey = "test-key"

// fakeLLM starts an OpenAI-compatible endpoint in the process that answers
// every activity with the default category at once, so that the
// expectation (the patterns' answers) still holds. It returns the base URL
// for OPENAI_BASE_URL, the count of requests so far and a stop.
func fakeLLM() (url string, calls func() int64, stop func()) {
	f := &llmtest.Server{Answer: llmtest.Always(pomocore.Uncategorized)}
	api := httptest.NewServer(f)
	return api.URL + "/v1/", f.Calls.Load, func() { f.Release(); api.Close() }
}

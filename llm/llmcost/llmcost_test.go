package llmcost_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/llm"
	"github.com/pomocore/pomocore/llm/llmcost"
)

// blind returns the activities of testdata/blind.jsonl as the chain asks
// about them (app and title sanitised, title capped at 200 runes, the
// host only), with their labels, in a fixed shuffled order.
func blind(t *testing.T) ([]classify.Query, []string) {
	t.Helper()
	f, err := os.Open("../../testdata/blind.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var qs []classify.Query
	var labels []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var row struct{ App, Title, URL, Category string }
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		var host string
		if u, err := url.Parse(row.URL); err == nil {
			host = strings.ToLower(u.Hostname())
		}
		qs = append(qs, classify.Query{App: pomocore.SanitizeText(row.App, 100), Host: host, Title: pomocore.SanitizeText(row.Title, 200)})
		labels = append(labels, row.Category)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(24, 4))
	rng.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i]; labels[i], labels[j] = labels[j], labels[i] })
	return qs, labels
}

// Tokens counts with o200k_base: the counts js-tiktoken gives for
// o200k_base (cl100k_base gives 14 and 10 for the Korean).
func TestTokensIsO200k(t *testing.T) {
	for text, want := range map[string]int{"hello world": 2, "": 0, "안녕하세요, 카카오톡": 6, "리그 오브 레전드": 7, "main.go — pomocore": 5} {
		if got := llmcost.Tokens(text); got != want {
			t.Errorf("Tokens(%q) = %d, want %d", text, got, want)
		}
	}
}

// TestCallSize measures, on the blind set's activities, what one call
// costs with the production taxonomy for batches of 1 to 50, and logs the
// table of BENCHMARKS.md ("LLM call size"). It fails when the system
// prompt outgrows its budget or a batch stops paying for itself.
func TestCallSize(t *testing.T) {
	qs, labels := blind(t)
	cfg := llm.Config{Categories: pomocore.DefaultTaxonomy().Categories}
	sys := llmcost.Measure(cfg, qs[:1])
	t.Logf("system prompt: %d characters, %d tokens (o200k_base)", sys.SystemChars, sys.SystemTokens)
	if sys.SystemTokens > 1200 {
		t.Errorf("system prompt is %d tokens, budget 1,200", sys.SystemTokens)
	}
	schemaCfg := cfg
	schemaCfg.Format = llm.FormatSchema
	var b strings.Builder
	b.WriteString("| activities per call | calls | prompt characters per call | prompt tokens per call (system + activities + 11) | prompt tokens per activity | with json_schema: tokens per call (schema) | with json_schema: per activity | answer tokens per activity |\n|---|---|---|---|---|---|---|---|\n")
	perActivity := map[int]float64{}
	for _, n := range []int{1, 5, 10, 20, 50} {
		calls, chars, tokens, user, schemaTokens, answer := 0, 0, 0, 0, 0, 0
		for i := 0; i+n <= len(qs); i += n {
			s := llmcost.Measure(cfg, qs[i:i+n])
			calls++
			chars += s.Chars()
			tokens += s.Tokens()
			user += s.UserTokens
			schemaTokens += llmcost.Measure(schemaCfg, qs[i:i+n]).SchemaTokens
			answer += llmcost.AnswerTokens(labels[i : i+n])
		}
		pa := float64(tokens) / float64(calls*n)
		perActivity[n] = pa
		fmt.Fprintf(&b, "| %d | %d | %d | %d (%d + %d + 11) | %.0f | %d (%d) | %.0f | %.1f |\n", n, calls, chars/calls, tokens/calls,
			sys.SystemTokens, user/calls, pa, (tokens+schemaTokens)/calls, schemaTokens/calls, float64(tokens+schemaTokens)/float64(calls*n),
			float64(answer)/float64(calls*n))
	}
	t.Logf("on %d activities of testdata/blind.jsonl:\n%s", len(qs), b.String())
	if perActivity[50] > perActivity[1]/10 {
		t.Errorf("50 a call costs %.0f tokens an activity, alone %.0f: want at most a tenth", perActivity[50], perActivity[1])
	}
	if c, tok := llmcost.Cost(cfg, qs[:10]); c <= sys.SystemChars || tok <= sys.SystemTokens {
		t.Errorf("Cost = %d characters, %d tokens: less than the system prompt alone", c, tok)
	}
}

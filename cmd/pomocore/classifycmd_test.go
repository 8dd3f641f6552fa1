package main

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pomocore/pomocore/internal/llmtest"
)

// recordedCorrect is the accuracy recorded in the README for
// testdata/labeled.jsonl with the LLM off: 429 of 434 (98.8%).
const recordedCorrect, recordedTotal = 429, 434

func TestEvalKeepsTheRecordedAccuracy(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "labeled.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cf classifierFlags
	m, err := cf.matcher()
	if err != nil {
		t.Fatal(err)
	}
	r, err := evaluate(m, f)
	if err != nil {
		t.Fatal(err)
	}
	if r.Total < 400 {
		t.Errorf("labelled set has %d rows, want >= 400", r.Total)
	}
	if r.Total != recordedTotal || r.Correct < recordedCorrect {
		var b bytes.Buffer
		r.print(&b)
		t.Errorf("accuracy %d of %d, recorded %d of %d:\n%s", r.Correct, r.Total, recordedCorrect, recordedTotal, b.String())
	}
}

func TestEvalAndClassifyCommands(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := evalCmd([]string{filepath.Join("..", "..", "testdata", "labeled.jsonl")}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"accuracy:", "precision", "recall", "confusions"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("eval output lacks %q:\n%s", want, out.String())
		}
	}
	if err := evalCmd(nil, &out, &errOut); err == nil {
		t.Error("eval without a file succeeded")
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"app\":\"Xcode\"}\n"), 0o644)
	if err := evalCmd([]string{bad}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("unlabelled row: %v", err)
	}

	out.Reset()
	in := strings.NewReader("{\"app\":\"Xcode 15\"}\n\n{\"app\":\"Safari\",\"url\":\"https://linux.com/x\"}\n")
	if err := classifyCmd([]string{"-no-llm"}, envOf(nil), in, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var got []map[string]string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]string
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, m)
	}
	if len(got) != 2 || got[0]["category"] != "Development" || got[0]["source"] != "app" ||
		got[1]["category"] != "Uncategorized" || got[1]["source"] != "default" {
		t.Errorf("classify = %v", got)
	}
	out.Reset()
	if err := classifyCmd([]string{"-app", "Chrome", "-url", "https://GitHub.com/x"}, envOf(nil), strings.NewReader(""), &out, &errOut); err != nil ||
		!strings.Contains(out.String(), `"category":"Development"`) {
		t.Errorf("classify -app: %v %s", err, out.String())
	}
	if err := classifyCmd([]string{"-patterns", "/no/such/file"}, envOf(nil), strings.NewReader(""), &out, &errOut); err == nil {
		t.Error("missing -patterns file accepted")
	}
}

func TestClassifyCommandAsksTheLLM(t *testing.T) {
	fake := &llmtest.Server{Answer: llmtest.Always("Marketing")}
	api := httptest.NewServer(fake)
	defer api.Close()
	env := envOf(map[string]string{"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": api.URL + "/v1/"})
	var out, errOut bytes.Buffer
	in := strings.NewReader("{\"app\":\"Zzz Ads Tool\"}\n{\"app\":\"Xcode\"}\n{\"app\":\"Zzz Other\"}\n")
	if err := classifyCmd(nil, env, in, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.Count(got, `"category":"Marketing","source":"llm"`) != 2 || !strings.Contains(got, `"category":"Development","source":"app"`) {
		t.Errorf("classify with the LLM:\n%s%s", got, errOut.String())
	}
	if n := fake.Calls.Load(); n != 1 {
		t.Errorf("LLM calls = %d, want 1 for both unknowns", n)
	}
	out.Reset()
	if err := classifyCmd([]string{"-no-llm", "-app", "Zzz Ads Tool"}, env, strings.NewReader(""), &out, &errOut); err != nil ||
		!strings.Contains(out.String(), `"source":"default"`) || fake.Calls.Load() != 1 {
		t.Errorf("-no-llm: %v %s (calls %d)", err, out.String(), fake.Calls.Load())
	}
}

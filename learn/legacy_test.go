package learn_test

import (
	"context"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/fixtures"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/learn/learntest"
)

// legacyLabels are categorized_data documents the old service's substring
// matcher classified after a cut-over: "afk" in kafka, "x.com" in fox.com,
// "localhost" in a login page's redirect_uri.
var legacyLabels = [][4]string{
	{"Google Chrome", "https://kafka.apache.org/documentation/", "Apache Kafka Documentation", "AFK"},
	{"Google Chrome", "https://www.fox.com/shows/", "FOX Shows", "SNS"},
	{"Google Chrome", "https://accounts.example-sso.com/login?redirect_uri=localhost:3000/cb", "Sign in", "Development"},
}

// A label the old service's patterns gave is trusted only where pomocore's
// own patterns agree; an LLM answer is trusted as it is.
func TestLegacyLabelsThePatternsContradictAreNotTrusted(t *testing.T) {
	store := learntest.NewMemory(fixtures.ProductionPatterns(t))
	for range 10 {
		for _, l := range legacyLabels {
			store.AddLabel(l[0], l[1], l[2], l[3])
		}
	}
	store.AddLabel("Google Chrome", "https://github.com/pomocore/pomocore/pull/1", "PR", "Development") // the patterns agree
	store.AddLLMLabel("Google Chrome", "https://blorp.example/a", "Blorp", "Game")                      // the LLM's answer
	patterns, _ := store.LoadPatterns(context.Background())
	docs, _ := store.TrustedLabels(context.Background(), 1000)
	got, distrusted, err := learn.TrustedExamples(docs, patterns, classify.DefaultPatterns(), pomocore.Uncategorized)
	if err != nil {
		t.Fatal(err)
	}
	if distrusted != 30 || len(got) != 2 {
		t.Fatalf("trusted %+v, %d left out; want the github.com and the LLM's labels, 30 left out", got, distrusted)
	}
	for _, ex := range got {
		if ex.URL != "https://github.com/pomocore/pomocore/pull/1" && ex.URL != "https://blorp.example/a" {
			t.Errorf("trusted %+v", ex)
		}
	}

	sink := &learntest.Sink{}
	r, err := newTrainer(t, store, sink, true).Retrain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.DistrustedLabels != 30 {
		t.Errorf("report: %d labels left out, want 30", r.DistrustedLabels)
	}
	m, _ := sink.Model()
	for _, l := range legacyLabels {
		if p := m.Predict(l[0], l[1], l[2]); p.Category == l[3] && p.Confidence >= 0.9 {
			t.Errorf("%s: the model brings back the old service's %s (%+v)", l[1], l[3], p)
		}
	}
}

// The spurious features of the model before: a public suffix (co.kr ->
// E-commerce), a brand word in a title (Notion -> Documentation), an
// unknown subdomain of google.com (-> Browsing). Trained on production's
// patterns and the testdata labels (but those of the subdomains asked
// about), the model abstains or is right.
func TestSpuriousFeaturesDoNotDecide(t *testing.T) {
	var labels []classify.Example
	for _, name := range []string{"blind.jsonl", "labeled.jsonl", "production-derived.jsonl"} {
		for _, ex := range fixtures.Examples(t, name) {
			host, _ := classify.Host(ex.URL)
			if ex.Category != pomocore.Uncategorized && host != "aistudio.google.com" && host != "search.google.com" && host != "scholar.google.com" {
				labels = append(labels, ex)
			}
		}
	}
	m, _, err := learn.TrainModel(classify.ExamplesFromPatterns(fixtures.ProductionPatterns(t), pomocore.Uncategorized), labels, learn.Config{}, clock())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		url, title, wrong string
	}{
		{"https://shop.example.co.kr/", "welcome", "E-commerce & Shopping"},
		{"https://blog.example.co.kr/post/1", "my trip", "E-commerce & Shopping"},
		{"https://www.someunknownsite.com/", "Meeting notes - Notion", "Documentation"},
		{"https://unknown.example/", "Notion tips", "Documentation"},
		{"https://aistudio.google.com/prompts/new_chat", "Google AI Studio", "Browsing"},
		{"https://search.google.com/search-console", "Search Console", "Browsing"},
		{"https://scholar.google.com/scholar?q=x", "Google Scholar", "Browsing"},
	} {
		if p := m.Predict("Google Chrome", tc.url, tc.title); p.Category == tc.wrong && p.Confidence >= 0.9 {
			t.Errorf("%s %q: %+v", tc.url, tc.title, p)
		}
	}
}

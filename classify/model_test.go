package classify_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/fixtures"
)

// toyPatterns are three categories whose names share words, so that a model
// can generalise from them to names no pattern has.
func toyPatterns() []pomocore.CategoryPattern {
	return []pomocore.CategoryPattern{
		{Category: "Design", AppPatterns: []string{"zork paint", "zork sketch", "zork draw", "zork vector", "zork pixel"},
			DomainPatterns: []string{"paintzork.com", "zork-art.com"}},
		{Category: "Development", AppPatterns: []string{"qux code", "qux studio", "qux compiler", "qux debugger", "qux shell"},
			DomainPatterns: []string{"quxhub.com", "quxlab.com", "docs.quxhub.com"}},
		{Category: "Entertainment", AppPatterns: []string{"wib music", "wib tv", "wib player", "wib radio", "wib movies"},
			DomainPatterns: []string{"wibflix.com", "wibtube.com"}},
	}
}

func trainToy(t testing.TB) *classify.Model {
	t.Helper()
	m, err := classify.Train(classify.ExamplesFromPatterns(toyPatterns()), classify.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestModelGeneralisesFromPatternWordsToUnseenApps(t *testing.T) {
	m := trainToy(t)
	for app, want := range map[string]string{"Zork Canvas 3": "Design", "Qux Profiler": "Development", "Wib Podcasts": "Entertainment"} {
		p := m.Predict(app, "", "")
		if p.Category != want || p.Confidence < 0.9 {
			t.Errorf("%q: %+v, want %s with confidence >= 0.9", app, p, want)
		}
	}
	// A subdomain of a learnt domain shares its parent's features.
	if p := m.Predict("Google Chrome", "https://api.quxhub.com/v1", ""); p.Category != "Development" {
		t.Errorf("api.quxhub.com: %+v, want Development", p)
	}
}

func TestModelIsNotConfidentAboutWhatItNeverSaw(t *testing.T) {
	m := trainToy(t)
	for _, a := range [][3]string{{"Blorp", "", ""}, {"", "", ""}, {"Safari", "https://unseen.example.org/x", "nothing known"}} {
		if p := m.Predict(a[0], a[1], a[2]); p.Confidence >= 0.6 {
			t.Errorf("%q: %+v, want a confidence < 0.6 for features never seen", a, p)
		}
	}
}

func TestModelProbabilitiesAreAProbability(t *testing.T) {
	m := trainToy(t)
	for _, app := range []string{"zork paint", "qux", "nothing"} {
		p := m.Predict(app, "", "")
		if !(p.Confidence > 0 && p.Confidence <= 1) || math.IsNaN(p.Confidence) {
			t.Errorf("%q: confidence %v outside (0, 1]", app, p.Confidence)
		}
		if p.Confidence < 1/float64(len(m.Classes()))-1e-9 {
			t.Errorf("%q: the most probable of %d categories has %v", app, len(m.Classes()), p.Confidence)
		}
	}
}

func TestModelTrainingIsReproducible(t *testing.T) {
	a, _ := json.Marshal(trainToy(t))
	b, _ := json.Marshal(trainToy(t))
	if !bytes.Equal(a, b) {
		t.Fatal("two trainings on the same examples gave different models")
	}
}

func TestModelRoundTripsThroughJSON(t *testing.T) {
	m := trainToy(t)
	m.SetTemperature(1.7, 2.3)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back classify.Model
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Temperature() != 1.7 || back.NovelTemperature() != 2.3 || back.Examples() != m.Examples() || !slices.Equal(back.Classes(), m.Classes()) {
		t.Fatalf("loaded temperature %v, examples %d, classes %v; want %v, %d, %v",
			back.Temperature(), back.Examples(), back.Classes(), m.Temperature(), m.Examples(), m.Classes())
	}
	for _, a := range [][3]string{{"Zork Canvas", "", ""}, {"", "https://docs.quxhub.com/a", "qux"}, {"x", "", "y"}} {
		if got, want := back.Predict(a[0], a[1], a[2]), m.Predict(a[0], a[1], a[2]); math.Abs(got.Confidence-want.Confidence) > 1e-6 || got.Category != want.Category {
			t.Errorf("%q: loaded model %+v, trained %+v", a, got, want)
		}
	}
}

func TestModelRefusesAMisshapenFile(t *testing.T) {
	for name, doc := range map[string]string{
		"other format":      `{"format":"x","classes":["a","b"],"features":[],"weights":[],"biases":[0,0],"temperature":1}`,
		"weights too short": `{"format":"pomocore-model-v1","classes":["a","b"],"features":["a:x"],"weights":[1],"biases":[0,0],"temperature":1}`,
		"no temperature":    `{"format":"pomocore-model-v1","classes":["a","b"],"features":[],"weights":[],"biases":[0,0]}`,
		"one class":         `{"format":"pomocore-model-v1","classes":["a"],"features":[],"weights":[],"biases":[0],"temperature":1}`,
	} {
		var m classify.Model
		if err := json.Unmarshal([]byte(doc), &m); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func TestTrainNeedsTwoCategories(t *testing.T) {
	_, err := classify.Train([]classify.Example{{App: "a", Category: "x"}, {App: "b", Category: "x"}}, classify.TrainOptions{})
	if err != classify.ErrNoExamples {
		t.Fatalf("got %v, want ErrNoExamples", err)
	}
}

func TestFeaturesOfAnActivity(t *testing.T) {
	got := classify.Features("Google Chrome", "https://www.docs.github.com/pomocore/x?q=1", "Pull Request #12 · Fix")
	for _, want := range []string{"d:docs.github.com", "d:github.com", "l:docs", "l:github", "p:pomocore", "dp:github.com/pomocore", "b:google chrome", "t:pull", "t:request", "t:fix"} {
		if !slices.Contains(got, want) {
			t.Errorf("features %q lack %q", got, want)
		}
	}
	for _, unwanted := range []string{"d:com", "t:12", "a:google chrome", "w:google"} {
		if slices.Contains(got, unwanted) {
			t.Errorf("features %q hold %q", got, unwanted)
		}
	}
	app := classify.Features("IntelliJ IDEA 2024.2.1 Ultimate", "", "")
	if !slices.Equal(app, []string{"a:intellij idea", "w:intellij", "w:idea"}) {
		t.Errorf("app features %q", app)
	}
	if s := classify.Features("Google Chrome", "chrome://newtab/", ""); !slices.Contains(s, "s:chrome") || !slices.Contains(s, "d:newtab") {
		t.Errorf("a browser page's features %q lack its scheme and host", s)
	}
}

func TestEvaluateMeasuresAccuracyCalibrationAndCoverage(t *testing.T) {
	m := trainToy(t)
	examples := []classify.Example{
		{App: "zork paint", Category: "Design"},      // confident and right
		{App: "qux code", Category: "Development"},   // confident and right
		{App: "wib music", Category: "Design"},       // confident and wrong
		{App: "never seen", Category: "Development"}, // unsure
	}
	ev := classify.Evaluate(m, examples, 0.9)
	if ev.Examples != 4 || ev.Threshold != 0.9 {
		t.Fatalf("%+v", ev)
	}
	if ev.Coverage != 0.75 || math.Abs(ev.AccuracyAbove-2.0/3) > 1e-9 {
		t.Errorf("coverage %v accuracy above %v, want 0.75 and 2/3: %v", ev.Coverage, ev.AccuracyAbove, ev)
	}
	if ev.Accuracy > 0.75 || ev.Accuracy < 0.5 {
		t.Errorf("accuracy %v, want 0.5 or 0.75", ev.Accuracy)
	}
	// One confident wrong answer in three confident ones: the top bin is
	// about a third over-confident.
	if ev.ECE < 0.15 || ev.ECE > 0.6 {
		t.Errorf("ECE %v, want the over-confidence visible", ev.ECE)
	}
}

func TestCalibrateSoftensAnOverconfidentModel(t *testing.T) {
	m := trainToy(t)
	// Held-out labels that contradict the model half of the time.
	held := []classify.Example{
		{App: "zork canvas", Category: "Design"}, {App: "zork frame", Category: "Entertainment"},
		{App: "qux linter", Category: "Development"}, {App: "qux player", Category: "Entertainment"},
	}
	before := classify.Evaluate(m, held, 0.9).ECE
	m.Calibrate(held)
	// Apps the model never saw: their temperature is the novel one.
	if m.NovelTemperature() <= 1 || m.Temperature() != 1 {
		t.Fatalf("temperatures %v, novel %v; want the novel one > 1 for an over-confident model", m.Temperature(), m.NovelTemperature())
	}
	if after := classify.Evaluate(m, held, 0.9).ECE; after >= before {
		t.Errorf("ECE %v after calibration, %v before", after, before)
	}
}

// The held-out share is split by site and app: the pages of one site (by
// its registrable domain) and the windows of one app are all on one side,
// so that a near-duplicate of a training row never counts as unseen.
func TestSplitByGroupKeepsASiteOrAppOnOneSide(t *testing.T) {
	var ex []classify.Example
	for i := range 200 {
		site := fmt.Sprintf("site%d.co.kr", i)
		for j, host := range []string{site, "docs." + site, "m." + site} {
			ex = append(ex, classify.Example{App: "Google Chrome", URL: fmt.Sprintf("https://%s/page/%d", host, j),
				Title: fmt.Sprintf("page %d of %s", j, site), Category: "x"})
		}
		ex = append(ex, classify.Example{App: fmt.Sprintf("App%d 2024.1", i), Title: "window", Category: "y"},
			classify.Example{App: fmt.Sprintf("app%d", i), Title: "other window", Category: "y"})
	}
	ex = append(ex, ex[0], ex[0])
	h := classify.SplitByGroup(ex, 20)
	if n := len(h.Train) + len(h.Unseen) + len(h.Revisits); n != len(ex) {
		t.Fatalf("%d examples split into %d", len(ex), n)
	}
	if len(h.Unseen) < len(ex)/10 || len(h.Unseen) > len(ex)*3/10 || len(h.Revisits) == 0 {
		t.Fatalf("held out %d unseen and %d revisits of %d", len(h.Unseen), len(h.Revisits), len(ex))
	}
	groups := func(exs []classify.Example) map[string]bool {
		out := map[string]bool{}
		for _, e := range exs {
			out[classify.Group(e.App, e.URL)] = true
		}
		return out
	}
	train, unseen, revisits := groups(h.Train), groups(h.Unseen), groups(h.Revisits)
	for g := range unseen {
		if train[g] || revisits[g] {
			t.Errorf("group %q held out as unseen is also trained on or revisited", g)
		}
	}
	for g := range revisits {
		if !train[g] {
			t.Errorf("group %q revisited but never trained on", g)
		}
	}
	if g := classify.Group("Safari", "https://docs.site1.co.kr/x"); g != "d:site1.co.kr" {
		t.Errorf("group of a subdomain: %q", g)
	}
	if g := classify.Group("App7 2024.1", ""); g != classify.Group("app7", "") {
		t.Errorf("an app's versions make another group: %q", g)
	}
}

func TestRegistrableDomainIsNeverABarePublicSuffix(t *testing.T) {
	for host, want := range map[string]string{
		"docs.github.com": "github.com", "shop.example.co.kr": "example.co.kr", "co.kr": "", "com": "com",
		"me.github.io": "me.github.io", "github.io": "", "localhost": "localhost", "127.0.0.1": "127.0.0.1", "": "",
	} {
		if got := classify.RegistrableDomain(host); got != want {
			t.Errorf("RegistrableDomain(%q) = %q, want %q", host, got, want)
		}
	}
}

// No feature is a public suffix alone: "co.kr" or "co" says nothing about
// a site, and once made every Korean shop's page E-commerce.
func TestFeaturesHaveNoPublicSuffixAlone(t *testing.T) {
	for _, url := range []string{"https://www.gmarket.co.kr/item?x=1", "https://blog.example.co.kr/post/1", "https://news.bbc.co.uk/",
		"https://me.github.io/x", "https://shop.example.com.au/"} {
		for _, f := range classify.Features("Google Chrome", url, "") {
			rest, ok := strings.CutPrefix(f, "d:")
			if !ok {
				rest, ok = strings.CutPrefix(f, "l:")
			}
			if !ok {
				continue
			}
			for _, suffix := range []string{"co.kr", "kr", "co", "com", "uk", "co.uk", "github.io", "io", "au", "com.au"} {
				if rest == suffix {
					t.Errorf("%s: feature %q is a public suffix", url, f)
				}
			}
		}
	}
}

// The chain and the model.

func toyChain(t *testing.T, f classify.Fallback, cfg classify.ChainConfig) *classify.Chain {
	t.Helper()
	c := newChain(t, f, cfg)
	c.SetModel(trainToy(t))
	return c
}

func TestChainModelAnswersAConfidentUnknownWithoutTheLLM(t *testing.T) {
	f := &fakeFallback{answer: func(q classify.Query) (string, error) { return "Game", nil }}
	var mu sync.Mutex
	var told []classify.Answered
	c := toyChain(t, f, classify.ChainConfig{OnAnswer: func(a classify.Answered) {
		mu.Lock()
		told = append(told, a)
		mu.Unlock()
	}})
	got := c.Classify("Zork Canvas 3", "", "")
	if got != (pomocore.Classification{Category: "Design", Source: pomocore.SourceModel}) {
		t.Fatalf("got %+v, want Design from the model", got)
	}
	if st := c.Stats(); st.ModelAnswers != 1 || st.ModelAbstained != 0 {
		t.Errorf("stats %+v, want one model answer", st)
	}
	c.Close() // the workers are done: nothing was queued
	if f.calls.Load() != 0 {
		t.Errorf("the LLM was called %d times for an activity the model answered", f.calls.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 1 || told[0].Source != pomocore.SourceModel || told[0].Category != "Design" || told[0].Confidence < 0.9 || told[0].App != "Zork Canvas 3" {
		t.Errorf("OnAnswer was told %+v", told)
	}
}

func TestChainBelowTheThresholdFallsThroughToTheLLM(t *testing.T) {
	f := &fakeFallback{answer: func(q classify.Query) (string, error) { return "Game", nil }}
	// The model is confident about "Zork Canvas", not 0.999999 confident.
	c := toyChain(t, f, classify.ChainConfig{ModelThreshold: 0.999999})
	if got := c.Classify("Zork Canvas 3", "", ""); got.Source != pomocore.SourceDefault {
		t.Fatalf("got %+v, want the default while the LLM is asked", got)
	}
	waitAnswered(t, c, 1)
	if got := c.Classify("Zork Canvas 3", "", ""); got != (pomocore.Classification{Category: "Game", Source: pomocore.SourceCache}) {
		t.Fatalf("got %+v, want the LLM's answer", got)
	}
	if st := c.Stats(); st.ModelAnswers != 0 || st.ModelAbstained != 1 || st.Calls != 1 {
		t.Errorf("stats %+v, want one abstention and one LLM call", st)
	}
}

func TestChainModelNeverOverridesAPattern(t *testing.T) {
	c := toyChain(t, nil, classify.ChainConfig{})
	if got := c.Classify("Xcode 15", "", "zork paint zork draw"); got.Source != pomocore.SourceApp || got.Category != "Development" {
		t.Fatalf("got %+v, want the pattern's answer", got)
	}
	if st := c.Stats(); st.ModelAnswers+st.ModelAbstained != 0 {
		t.Errorf("the model was asked about a pattern hit: %+v", st)
	}
}

func TestChainModelAnswersWithoutAnLLM(t *testing.T) {
	c := toyChain(t, nil, classify.ChainConfig{})
	if got := c.Classify("Wib Podcasts", "", ""); got != (pomocore.Classification{Category: "Entertainment", Source: pomocore.SourceModel}) {
		t.Fatalf("got %+v", got)
	}
	if got := c.Classify("Blorp", "", ""); got.Source != pomocore.SourceDefault {
		t.Fatalf("an unsure model answered %+v", got)
	}
	c.SetModel(nil)
	if got := c.Classify("Wib Podcasts", "", ""); got.Source != pomocore.SourceDefault {
		t.Fatalf("without a model: %+v", got)
	}
}

func TestChainModelAnswersOnlyTheChainsCategories(t *testing.T) {
	c := newChain(t, nil, classify.ChainConfig{})
	m, err := classify.Train([]classify.Example{
		{App: "foo one", Category: "Not A Category"}, {App: "foo two", Category: "Not A Category"}, {App: "foo four", Category: "Not A Category"},
		{App: "bar one", Category: "Design"}, {App: "bar two", Category: "Design"}, {App: "bar four", Category: "Design"},
	}, classify.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.SetModel(m)
	if p := m.Predict("foo three", "", ""); p.Category != "Not A Category" || p.Confidence < 0.9 {
		t.Fatalf("the model: %+v", p)
	}
	if got := c.Classify("foo three", "", ""); got.Source != pomocore.SourceDefault {
		t.Fatalf("got %+v, want the default for a category the chain does not have", got)
	}
}

func TestChainTellsFreshLLMAnswersNotCachedOnes(t *testing.T) {
	f := &fakeFallback{answer: func(q classify.Query) (string, error) { return "Game", nil }}
	told := make(chan classify.Answered, 10)
	c := newChain(t, f, classify.ChainConfig{OnAnswer: func(a classify.Answered) { told <- a }})
	c.Classify("Blorp", "https://www.blorp.example/play", "level 1")
	a := <-told
	if a.Source != pomocore.SourceLLM || a.Category != "Game" || a.Confidence != 1 || a.Host != "blorp.example" || a.Key == "" {
		t.Fatalf("told %+v", a)
	}
	if got := c.Classify("Blorp", "https://www.blorp.example/play", "level 1"); got.Source != pomocore.SourceCache {
		t.Fatalf("got %+v, want the cached answer", got)
	}
	c.Close()
	if len(told) != 0 {
		t.Errorf("a cached answer was told: %+v", <-told)
	}
}

// The model on the blind set's unknowns.

// blindExamples reads testdata/blind.jsonl: 732 activities labelled blind
// from docs/categories.md and the contract.
func blindExamples(t testing.TB) []classify.Example {
	t.Helper()
	return fixtures.Examples(t, "blind.jsonl")
}

// replay is what the model does on a replay of the blind set through the
// chain, LLM off.
type replay struct {
	total, unknowns       int // activities; those no pattern decides
	answered, rightThere  int // unknowns the model answers; of those, as labelled
	offCorrect, onCorrect int // the whole set classified as labelled, model off and on
	keys                  int // distinct unknown activities the model answers (LLM queries saved)
}

func replayBlind(t testing.TB, m *classify.Model, threshold float64) replay {
	t.Helper()
	mt, err := classify.Build(classify.DefaultPatterns(), pomocore.Uncategorized)
	if err != nil {
		t.Fatal(err)
	}
	c := classify.NewChain(mt, nil, classify.ChainConfig{Categories: pomocore.DefaultTaxonomy().Categories, ModelThreshold: threshold})
	defer c.Close()
	keys := map[classify.Example]bool{}
	var r replay
	for _, ex := range blindExamples(t) {
		r.total++
		off := mt.Classify(ex.App, ex.URL, ex.Title)
		if off.Category == ex.Category {
			r.offCorrect++
		}
		c.SetModel(m)
		on := c.Classify(ex.App, ex.URL, ex.Title)
		if on.Category == ex.Category {
			r.onCorrect++
		}
		if off.Source != pomocore.SourceDefault {
			continue
		}
		r.unknowns++
		if on.Source == pomocore.SourceModel {
			r.answered++
			keys[classify.Example{App: ex.App, URL: ex.URL, Title: ex.Title}] = true
			if on.Category == ex.Category {
				r.rightThere++
			}
		}
	}
	r.keys = len(keys)
	return r
}

// labelledExamples reads a JSON lines file of labelled activities
// (testdata's format), without the default category.
func labelledExamples(t testing.TB, name string) []classify.Example {
	t.Helper()
	var out []classify.Example
	for _, ex := range fixtures.Examples(t, name) {
		if ex.Category != pomocore.Uncategorized {
			out = append(out, ex)
		}
	}
	return out
}

// The model on the blind set's activities no pattern classifies (47 of
// 732, 13 of them labelled Uncategorized), at the default threshold 0.9,
// trained on the built-in patterns and production's file, then also on
// testdata/labeled.jsonl (the self-written set, standing in for the
// categorized_data labels the pipeline trusts). Measured (training is
// deterministic): patterns only, 2 answered, both right, 690 of 732 in all;
// with labels, 2 answered (5 before the model abstained on what it never
// saw), all right, 690. Ratcheted a little below, at
// most one wrong answer; without the model, 688 of 732.
func TestModelOnTheBlindSetsUnknownsKeepsTheRecordedNumbers(t *testing.T) {
	const blindUnknowns, blindOffCorrect = 47, 688
	for _, tc := range []struct {
		name               string
		labels             string
		ece                float64
		answers, right, on int // unknowns answered, of those as labelled, the whole set as labelled
	}{
		{name: "patterns", ece: 0.08, answers: 1, right: 1, on: 689},
		// The model abstains more on activities of sites and apps it never
		// saw (it answered 4 before Model.Novel, all right).
		{name: "patterns and labels", labels: "labeled.jsonl", ece: 0.09, answers: 2, right: 2, on: 690},
	} {
		t.Run(tc.name, func(t *testing.T) {
			examples := classify.ExamplesFromPatterns(append(classify.DefaultPatterns(), productionPatterns(t)...), pomocore.Uncategorized)
			if tc.labels != "" {
				examples = append(examples, labelledExamples(t, tc.labels)...)
			}
			split := classify.SplitByGroup(examples, 20)
			probe, err := classify.Train(split.Train, classify.TrainOptions{})
			if err != nil {
				t.Fatal(err)
			}
			held := append(split.Unseen, split.Revisits...)
			probe.Calibrate(held)
			probe.KeepPrecision(held, 0.9, 0.9)
			ev := classify.Evaluate(probe, held, 0.9)
			m, err := classify.Train(examples, classify.TrainOptions{})
			if err != nil {
				t.Fatal(err)
			}
			m.SetTemperature(probe.Temperature(), probe.NovelTemperature())
			r := replayBlind(t, m, 0.9)
			t.Logf("held out: %s (temperatures %.2f, novel %.2f)", ev, probe.Temperature(), probe.NovelTemperature())
			t.Logf("blind set: %d activities, %d unknown to the patterns; the model answers %d (%.1f%%), %d as labelled; LLM queries saved %d of %d; accuracy model off %d (%.1f%%), on %d (%.1f%%)",
				r.total, r.unknowns, r.answered, 100*float64(r.answered)/float64(r.unknowns), r.rightThere, r.keys, r.unknowns,
				r.offCorrect, 100*float64(r.offCorrect)/float64(r.total), r.onCorrect, 100*float64(r.onCorrect)/float64(r.total))
			if r.unknowns != blindUnknowns || r.offCorrect < blindOffCorrect {
				t.Errorf("the patterns changed: %d unknowns (recorded %d), %d correct (recorded %d); update the recorded numbers", r.unknowns, blindUnknowns, r.offCorrect, blindOffCorrect)
			}
			if r.answered < tc.answers || r.rightThere < tc.right || r.onCorrect < tc.on {
				t.Errorf("the model answers %d unknowns, %d as labelled, %d correct in all; recorded %d, %d, %d", r.answered, r.rightThere, r.onCorrect, tc.answers, tc.right, tc.on)
			}
			if wrong := r.answered - r.rightThere; wrong > 1 {
				t.Errorf("the model answered %d unknowns wrongly at the threshold (none recorded)", wrong)
			}
			if ev.ECE > tc.ece {
				t.Errorf("held-out ECE %.3f, want <= %.2f", ev.ECE, tc.ece)
			}
		})
	}
}

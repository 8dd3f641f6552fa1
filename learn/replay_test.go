package learn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/learn/learntest"
)

func TestReadExamplesNamesABadLine(t *testing.T) {
	ex, err := learn.ReadExamples(strings.NewReader("// a comment\n\n" + `{"app":"Xcode","url":"","title":"t","category":"Development"}` + "\n"))
	if err != nil || len(ex) != 1 || ex[0] != (classify.Example{App: "Xcode", Title: "t", Category: "Development"}) {
		t.Fatalf("got %+v, %v", ex, err)
	}
	for in, want := range map[string]string{
		`{"app":"x"}` + "\n":                       "line 1: no category label",
		`{"app":"x","category":"A"}` + "\n{oops\n": "line 2:",
	} {
		if _, err := learn.ReadExamples(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestReplayUnknownsScoresTheModelOnWhatThePatternsMiss(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	for _, p := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		store.AddLLMLabel("Google Chrome", "https://blorp.example/"+p, "Blorp level "+p, "Game")
	}
	sink := &learntest.Sink{}
	if _, err := newTrainer(t, store, sink, true).Retrain(context.Background()); err != nil {
		t.Fatal(err)
	}
	model, _ := sink.Model()
	newPage := classify.Example{App: "Google Chrome", URL: "https://blorp.example/zz", Title: "Blorp level zz", Category: "Game"}
	examples := []classify.Example{
		{App: "zork paint", Category: "Design"}, // a pattern hit, right
		{App: "qux code", Category: "Game"},     // a pattern hit, wrong
		newPage,                                 // unknown: the model, right
		newPage,                                 // the same activity again
		{App: "Google Chrome", URL: "https://blorp.example/yy", Title: "Blorp level yy", Category: "Design"}, // unknown: the model, wrong
		{App: "Blorp", Category: pomocore.Uncategorized},                                                     // unknown and never seen: the model abstains
	}
	r, err := learn.ReplayUnknowns(matcherOf(t, store), model, 0.6, pomocore.DefaultTaxonomy().Categories, examples)
	if err != nil {
		t.Fatal(err)
	}
	want := learn.Replay{Total: 6, Unknowns: 4, ModelAnswers: 3, ModelRight: 2, CorrectModelOff: 2, CorrectModelOn: 4, LLMQueriesSaved: 2}
	if r != want {
		t.Fatalf("replay %+v, want %+v", r, want)
	}
	if s := r.String(); !strings.Contains(s, "the model answers 3 of them (75.0%), 2 as labelled (66.7%); LLM queries saved 2") {
		t.Errorf("summary %q", s)
	}
}

func TestDecodeModelReadsAnEncodedModel(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	sink := &learntest.Sink{}
	if _, err := newTrainer(t, store, sink, false).Retrain(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, _ := sink.Model()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := learn.DecodeModel(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := back.Predict("Zork Paint", "", ""), m.Predict("Zork Paint", "", ""); got != want {
		t.Errorf("decoded %+v, encoded %+v", got, want)
	}
	if _, err := learn.DecodeModel(strings.NewReader(`{"format":"other"}`)); err == nil {
		t.Error("decoded a file of another format")
	}
}

// WriteModel writes what ReadModel reads, and leaves no temporary file.
func TestWriteModelReadsBack(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	sink := &learntest.Sink{}
	if _, err := newTrainer(t, store, sink, false).Retrain(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, _ := sink.Model()
	path := filepath.Join(t.TempDir(), "model.json")
	n, err := learn.WriteModel(path, m)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != int64(n) {
		t.Errorf("stat = %v, %v; WriteModel said %d bytes", fi, err, n)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the temporary file is left: %v", err)
	}
	back, err := learn.ReadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := back.Predict("Zork Paint", "", ""), m.Predict("Zork Paint", "", ""); got != want {
		t.Errorf("read back %+v, written %+v", got, want)
	}
	if _, err := learn.WriteModel(filepath.Join(t.TempDir(), "missing", "model.json"), m); err == nil {
		t.Error("wrote into a directory that does not exist")
	}
}

package learntest

import (
	"context"
	"testing"
	"time"

	"github.com/pomocore/pomocore/learn"
)

// RunLearnedLog runs the contract of learn.LearnedLog against the log
// newLog returns (empty, one per subtest): a store adapter runs it in its
// tests.
func RunLearnedLog(t *testing.T, newLog func(t *testing.T) learn.LearnedLog) {
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	rec := func(kind learn.Kind, pattern, category string) learn.Learned {
		return learn.Learned{Kind: kind, Pattern: pattern, Category: category, Origin: learn.OriginLearned,
			Answers: 5, LLMAnswers: 3, ModelAnswers: 2, MinConfidence: 0.97, At: at}
	}
	t.Run("records are listed oldest first with every field", func(t *testing.T) {
		log := newLog(t)
		a, b := rec(learn.KindDomain, "docs.example.com", "Documentation"), rec(learn.KindApp, "zzz paint", "Design")
		b.At = at.Add(time.Hour)
		for _, l := range []learn.Learned{a, b} {
			if err := log.RecordLearned(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		got, err := log.LearnedPatterns(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !same(got[0], a) || !same(got[1], b) {
			t.Fatalf("listed %+v, want %+v then %+v", got, a, b)
		}
	})
	t.Run("recording the same kind and pattern replaces the record", func(t *testing.T) {
		log := newLog(t)
		first, second := rec(learn.KindApp, "zzz paint", "Design"), rec(learn.KindApp, "zzz paint", "Productivity")
		for _, l := range []learn.Learned{first, second} {
			if err := log.RecordLearned(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		got, err := log.LearnedPatterns(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Category != "Productivity" {
			t.Fatalf("listed %+v, want only the second record", got)
		}
	})
	t.Run("forgetting removes only that record and forgetting none is no error", func(t *testing.T) {
		log := newLog(t)
		app, dom := rec(learn.KindApp, "example", "Design"), rec(learn.KindDomain, "example", "Design")
		for _, l := range []learn.Learned{app, dom} {
			if err := log.RecordLearned(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		if err := log.ForgetLearned(ctx, learn.KindApp, "example"); err != nil {
			t.Fatal(err)
		}
		if err := log.ForgetLearned(ctx, learn.KindApp, "never recorded"); err != nil {
			t.Fatalf("forgetting a pattern never recorded: %v", err)
		}
		got, err := log.LearnedPatterns(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Kind != learn.KindDomain {
			t.Fatalf("listed %+v, want only the domain record", got)
		}
	})
}

func same(a, b learn.Learned) bool {
	return a.Kind == b.Kind && a.Pattern == b.Pattern && a.Category == b.Category && a.Origin == b.Origin &&
		a.Answers == b.Answers && a.LLMAnswers == b.LLMAnswers && a.ModelAnswers == b.ModelAnswers &&
		a.MinConfidence == b.MinConfidence && a.At.Equal(b.At)
}

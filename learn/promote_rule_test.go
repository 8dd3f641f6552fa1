package learn_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/learn/learntest"
)

// Promotion refuses what `patterns add` and the unknowns panel refuse
// (classify.CheckDomain): a bare public suffix would move every site under
// it (issue 27 item 5).
func TestNoPromotionOfAPublicSuffix(t *testing.T) {
	store := learntest.NewMemory(operatorPatterns())
	p := newPromoter(t, store, learn.Config{Promote: true, MinCount: 2})
	for _, k := range []string{"a", "b"} {
		p.Observe(answer(k, "Chrome", "co.uk", "Game", pomocore.SourceLLM, 1))
	}
	got, err := p.Promote(context.Background())
	if err != nil || len(got) != 0 {
		t.Fatalf("promoted %+v, %v; want nothing", got, err)
	}
	if n := store.Upserts(); n != 0 {
		t.Errorf("%d pattern documents written", n)
	}
	patterns, _ := store.LoadPatterns(context.Background())
	for _, cp := range patterns {
		for _, d := range cp.DomainPatterns {
			if strings.EqualFold(d, "co.uk") {
				t.Fatalf("co.uk added to %s", cp.Category)
			}
		}
	}
}

// Without a kind, Revert finds the pattern by either kind, and refuses one
// learned as both.
func TestRevertWithoutAKind(t *testing.T) {
	ctx := context.Background()
	store := learntest.NewMemory(operatorPatterns())
	p := newPromoter(t, store, learn.Config{})
	for _, k := range []learn.Kind{learn.KindApp, learn.KindDomain} {
		if err := store.RecordLearned(ctx, learn.Learned{Kind: k, Pattern: "blorp.example", Category: "Game", Origin: learn.OriginLearned}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Revert(ctx, "", "Blorp.example"); !errors.Is(err, learn.ErrAmbiguousLearned) {
		t.Errorf("both kinds: err = %v, want ErrAmbiguousLearned", err)
	}
	if _, err := p.Revert(ctx, "", "nope.example"); !errors.Is(err, learn.ErrNotLearned) {
		t.Errorf("unknown: err = %v, want ErrNotLearned", err)
	}
	l, err := p.Revert(ctx, learn.KindDomain, "blorp.example")
	if err != nil || l.Kind != learn.KindDomain {
		t.Fatalf("domain: %+v, %v", l, err)
	}
	if l, err := p.Revert(ctx, "", "Blorp.example"); err != nil || l.Kind != learn.KindApp {
		t.Errorf("the app left: %+v, %v", l, err)
	}
}

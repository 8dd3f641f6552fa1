package pipeline_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
)

// patternsOnly is a category_pattern source with a settable health.
type patternsOnly struct {
	patterns []pomocore.CategoryPattern
	pingErr  error
}

func (p *patternsOnly) LoadPatterns(context.Context) ([]pomocore.CategoryPattern, error) {
	return p.patterns, nil
}
func (p *patternsOnly) Ping(context.Context) error { return p.pingErr }

func TestShadowStoreWritesNothingAndReadsPatterns(t *testing.T) {
	ctx := context.Background()
	src := &patternsOnly{}
	st := pipeline.NewShadowStore(src)
	defaults := []pomocore.CategoryPattern{{Category: "Development", AppPatterns: []string{"xcode"}}}
	seeded, err := st.SeedPatterns(ctx, defaults)
	if err != nil || seeded {
		t.Fatalf("SeedPatterns = %v, %v: a shadow seeds nothing", seeded, err)
	}
	if ps, _ := st.LoadPatterns(ctx); len(ps) != 1 || ps[0].Category != "Development" {
		t.Errorf("empty store: patterns = %+v, want the built-in ones in memory", ps)
	}
	src.patterns = []pomocore.CategoryPattern{{Category: "Design"}, {Category: "SNS"}}
	if ps, _ := st.LoadPatterns(ctx); len(ps) != 2 || ps[0].Category != "Design" {
		t.Errorf("patterns = %+v, want the store's", ps)
	}
	if err := st.Save(ctx, []pipeline.Record{{}}); err != nil {
		t.Errorf("Save = %v", err)
	}
	src.pingErr = errors.New("down")
	if st.Ping(ctx) == nil {
		t.Error("Ping hides the store's outage")
	}
	var s pipeline.Store = st
	if _, ok := s.(pipeline.PatternEditor); ok {
		t.Error("the shadow store can edit category_pattern")
	}
	if _, ok := s.(pipeline.PartitionClaimer); ok {
		t.Error("the shadow store can claim a partition")
	}
	if _, ok := s.(pipeline.AnswerKeeper); ok {
		t.Error("the shadow store can keep LLM answers")
	}
}

// Without a store the shadow answers, and reads the seeded patterns.
func TestShadowStoreWithoutAStore(t *testing.T) {
	ctx := context.Background()
	st := pipeline.NewShadowStore(nil)
	if err := st.Ping(ctx); err != nil {
		t.Errorf("Ping = %v", err)
	}
	if ps, err := st.LoadPatterns(ctx); err != nil || len(ps) != 0 {
		t.Errorf("before seeding: %+v, %v", ps, err)
	}
	_, _ = st.SeedPatterns(ctx, []pomocore.CategoryPattern{{Category: "Design"}})
	if ps, _ := st.LoadPatterns(ctx); len(ps) != 1 || ps[0].Category != "Design" {
		t.Errorf("patterns = %+v, want the seeded ones", ps)
	}
}

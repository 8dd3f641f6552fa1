package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/sqlite"
)

// promoteInto records one promotion in the store: host answered as
// category by the LLM for min different activities.
func promoteInto(t *testing.T, st *sqlite.Store, host, category string) learn.Learned {
	t.Helper()
	ctx := context.Background()
	p, err := learn.NewPromoter(learn.Config{Promote: true, MinCount: 2, MinConfidence: 0.5},
		learn.PromoterDeps{Editor: learn.NewEditor(st, nil), Log: st})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b"} {
		p.Observe(classify.Answered{Key: key, Host: host, Category: category, Source: pomocore.SourceLLM, Confidence: 1})
	}
	added, err := p.Promote(ctx)
	if err != nil || len(added) != 1 {
		t.Fatalf("promotion: %+v, %v", added, err)
	}
	return added[0]
}

func domainsOf(t *testing.T, st *sqlite.Store, category string) []string {
	t.Helper()
	ps, err := st.LoadPatterns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Category == category {
			return p.DomainPatterns
		}
	}
	return nil
}

// `pomocore patterns learned` lists what promotion added with its origin,
// and `patterns revert` removes it from its category and from the list;
// an operator's pattern is not revertible there.
func TestPatternsLearnedListsAndRevertRemovesAPromotion(t *testing.T) {
	dataDir, st := seededStore(t)
	promoteInto(t, st, "zzz-docs.example", "Documentation")
	if !slices.Contains(domainsOf(t, st, "Documentation"), "zzz-docs.example") {
		t.Fatal("the promotion did not add the pattern")
	}
	st.Close()
	run := func(args ...string) (string, error) {
		var out, errOut strings.Builder
		err := patternsCmd(context.Background(), args, envOf(map[string]string{"POMOCORE_DATA_DIR": dataDir}), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	out, err := run("learned")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "ORIGIN") ||
		strings.Join(strings.Fields(lines[1])[:4], " ") != "domain zzz-docs.example Documentation learned" {
		t.Fatalf("patterns learned:\n%s", out)
	}
	if out, err := run("revert", "github.com"); !errors.Is(err, learn.ErrNotLearned) {
		t.Errorf("reverting an operator's pattern: %v\n%s", err, out)
	}
	if out, err := run("revert", "ZZZ-docs.example"); err != nil || !strings.Contains(out, `reverted learned domain pattern "zzz-docs.example" of Documentation`) {
		t.Fatalf("revert: %v\n%s", err, out)
	}
	if out, _ := run("learned"); strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("still listed after the revert:\n%s", out)
	}
	if _, err := run("revert", "zzz-docs.example"); !errors.Is(err, learn.ErrNotLearned) {
		t.Errorf("reverting twice: %v", err)
	}
	if out, err := run("revert", "-kind", "url", "x"); err == nil {
		t.Errorf("-kind url accepted: %s", out)
	}
	st, err = sqlite.Open(context.Background(), sqlite.Config{Dir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	doms := domainsOf(t, st, "Documentation")
	if slices.Contains(doms, "zzz-docs.example") || len(doms) == 0 {
		t.Errorf("Documentation's domains after the revert: %v", doms)
	}
	if !slices.Contains(domainsOf(t, st, "Development"), "github.com") {
		t.Error("the operator's github.com pattern is gone")
	}
}

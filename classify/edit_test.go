package classify

import (
	"errors"
	"slices"
	"testing"

	"github.com/pomocore/pomocore"
)

func editFixture() []pomocore.CategoryPattern {
	return []pomocore.CategoryPattern{
		{ID: pomocore.ObjectID{1}, Category: "Development", AppPatterns: []string{"Xcode"}, DomainPatterns: []string{"github.com"}},
		{ID: pomocore.ObjectID{2}, Category: "SNS", DomainPatterns: []string{"x.com"}},
	}
}

func TestPatternEditAddsOnceAndLeavesCurrentAlone(t *testing.T) {
	current := editFixture()
	after, id, err := PatternEdit{Category: "Development", Apps: []string{"xcode", "Zed"}, Domains: []string{"gitlab.com"}}.
		Apply(current, func() pomocore.ObjectID { t.Fatal("no new document wanted"); return pomocore.ObjectID{} })
	if err != nil {
		t.Fatal(err)
	}
	if id != (pomocore.ObjectID{1}) {
		t.Errorf("edited document %v, want the Development one", id)
	}
	if got := after[0].AppPatterns; !slices.Equal(got, []string{"Xcode", "Zed"}) {
		t.Errorf("apps after add = %q: an existing pattern (case folded) is not added twice", got)
	}
	if got := after[0].DomainPatterns; !slices.Equal(got, []string{"github.com", "gitlab.com"}) {
		t.Errorf("domains after add = %q", got)
	}
	if got := current[0].AppPatterns; !slices.Equal(got, []string{"Xcode"}) {
		t.Errorf("Apply modified its input: %q", got)
	}
}

func TestPatternEditCreatesCategoryDocumentOnAdd(t *testing.T) {
	after, id, err := PatternEdit{Category: "Game", Apps: []string{"Steam"}}.
		Apply(editFixture(), func() pomocore.ObjectID { return pomocore.ObjectID{9} })
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 3 || id != (pomocore.ObjectID{9}) || after[2].Category != "Game" || !slices.Equal(after[2].AppPatterns, []string{"Steam"}) {
		t.Errorf("after = %+v, id %v", after, id)
	}
}

func TestPatternEditRemove(t *testing.T) {
	after, _, err := PatternEdit{Category: "Development", Domains: []string{"GITHUB.COM"}, Remove: true}.Apply(editFixture(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(after[0].DomainPatterns) != 0 {
		t.Errorf("domains after remove = %q", after[0].DomainPatterns)
	}
	if _, _, err := (PatternEdit{Category: "Nope", Apps: []string{"a"}, Remove: true}).Apply(editFixture(), nil); err == nil {
		t.Error("removing from a category without a document succeeded")
	}
}

func TestPatternEditRefusesEmpty(t *testing.T) {
	for _, e := range []PatternEdit{{Apps: []string{"a"}}, {Category: "SNS"}, {Category: "SNS", Domains: []string{" "}}} {
		if err := e.Validate(); err == nil {
			t.Errorf("%+v: no error", e)
		}
	}
}

func TestCheckChangeRefusesNewConflictOnly(t *testing.T) {
	before := editFixture()
	before = append(before, pomocore.CategoryPattern{ID: pomocore.ObjectID{3}, Category: "Meetings", DomainPatterns: []string{"x.com"}})
	// x.com is already in two categories: that conflict is known, not new.
	after, _, err := PatternEdit{Category: "SNS", Domains: []string{"github.com"}}.Apply(before, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckChange(before, after, false); !errors.Is(err, ErrNewConflict) {
		t.Errorf("github.com into a second category: err = %v, want ErrNewConflict", err)
	}
	if _, err := CheckChange(before, after, true); err != nil {
		t.Errorf("allowed conflicts: %v", err)
	}
	ok, _, _ := PatternEdit{Category: "SNS", Domains: []string{"instagram.com"}}.Apply(before, nil)
	m, err := CheckChange(before, ok, false)
	if err != nil {
		t.Fatalf("a change adding no conflict was refused (the known x.com one must not count): %v", err)
	}
	if got := m.Classify("", "https://instagram.com/p/1", "").Category; got != "SNS" {
		t.Errorf("instagram.com classifies as %q after the change", got)
	}
}

package classify

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// A pattern that would move every unknown site of a suffix (com, org,
// co.uk; the public suffix list's ICANN section), a wildcard, a host beyond DNS limits and a host of empty labels
// are refused with ErrBadEdit; removing one stays possible, and every
// production pattern passes (issue 27 item 5).
func TestPatternEditRefusesPatternsThatBreakClassification(t *testing.T) {
	long := strings.Repeat("a", 3950) + ".com"
	label64 := strings.Repeat("b", 64) + ".com"
	name254 := strings.Repeat("c.", 125) + "abcd" // 254 bytes
	for _, e := range []PatternEdit{
		{Category: "Game", Domains: []string{"com"}},
		{Category: "AFK", Domains: []string{"org"}},
		{Category: "AFK", Domains: []string{"ORG."}},
		{Category: "AFK", Domains: []string{"co.uk"}},
		{Category: "AFK", Domains: []string{"com/search"}},
		{Category: "AFK", Domains: []string{"*"}},
		{Category: "AFK", Domains: []string{"*.example.com"}},
		{Category: "AFK", Domains: []string{"exa*mple.com"}},
		{Category: "AFK", Domains: []string{long}},
		{Category: "AFK", Domains: []string{label64}},
		{Category: "AFK", Domains: []string{name254}},
		{Category: "AFK", Domains: []string{"."}},
		{Category: "AFK", Domains: []string{"a..com"}},
		{Category: "AFK", Domains: []string{".example.com"}},
		{Category: "AFK", Domains: []string{"exa mple.com"}},
		{Category: "Game", Apps: []string{"*"}},
		{Category: "Game", Apps: []string{"Steam*"}},
		{Category: "Game", Apps: []string{strings.Repeat("s", 256)}},
		{Category: "SNS", Domains: []string{" "}},
	} {
		err := e.Validate()
		if !errors.Is(err, ErrBadEdit) {
			t.Errorf("%.60v: err = %v, want ErrBadEdit", e, err)
		}
		if _, _, err := e.Apply(editFixture(), func() pomocore.ObjectID { return pomocore.ObjectID{9} }); !errors.Is(err, ErrBadEdit) {
			t.Errorf("%.60v: Apply err = %v, want ErrBadEdit", e, err)
		}
	}
	for _, e := range []PatternEdit{
		{Category: "Game", Domains: []string{"example.com", "google.com/search", "docs.github.io", "github.io", "notion.site", "127.0.0.1", "bbc.co.uk", "afk", "localhost",
			strings.Repeat("d", 63) + ".com", "카카오.com", "www.example.com:8080"}},
		{Category: "Game", Apps: []string{"Steam", "리그 오브 레전드", "IntelliJ IDEA 2025.2"}},
		{Category: "Game", Domains: []string{"com", "*"}, Remove: true},
	} {
		if err := e.Validate(); err != nil {
			t.Errorf("%v: %v, want it accepted", e, err)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "testdata", "main-server-category-patterns.json"))
	if err != nil {
		t.Fatal(err)
	}
	production, err := ParsePatterns(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range production {
		if err := (PatternEdit{Category: cp.Category, Apps: cp.AppPatterns, Domains: cp.DomainPatterns}).Validate(); err != nil {
			t.Errorf("production %s: %v", cp.Category, err)
		}
	}
}

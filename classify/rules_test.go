package classify_test

import (
	"slices"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// Compile: ids by category, the categories the LLM may answer (those with
// a document), the taxonomy's categories without one, the documents
// outside the taxonomy, a missing default, and the built-in set layered
// (with its disagreements) only when given.
func TestCompile(t *testing.T) {
	tax := pomocore.DefaultTaxonomy()
	dev, unc, com := pomocore.ObjectID{1}, pomocore.ObjectID{2}, pomocore.ObjectID{3}
	ps := []pomocore.CategoryPattern{
		{ID: dev, Category: "Development", AppPatterns: []string{"xcode"}},
		{ID: unc, Category: "Uncategorized"},
		{ID: com, Category: "Communication", AppPatterns: []string{"slack"}},
	}
	rs, err := classify.Compile(ps, tax, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rs.IDs["Development"] != dev || rs.IDs["Uncategorized"] != unc || rs.IDs["Communication"] != com || len(rs.IDs) != 3 {
		t.Errorf("IDs = %v", rs.IDs)
	}
	usable := slices.Sorted(slices.Values(rs.Usable))
	if !slices.Equal(usable, []string{"Development", "Uncategorized"}) {
		t.Errorf("Usable = %v", rs.Usable)
	}
	if !slices.Contains(rs.Missing, "Meetings") || slices.Contains(rs.Missing, "Development") || len(rs.Missing) != len(tax.Categories)-2 {
		t.Errorf("Missing = %v", rs.Missing)
	}
	if !slices.Equal(rs.Outside, []string{"Communication"}) || rs.NoDefault || rs.Disagreements != nil {
		t.Errorf("Outside %v, NoDefault %v, Disagreements %v", rs.Outside, rs.NoDefault, rs.Disagreements)
	}
	if got := rs.Matcher.Classify("Xcode", "", "").Category; got != "Development" {
		t.Errorf("Xcode = %s", got)
	}
	if got := rs.Matcher.Classify("Ghostty", "", ""); got.Source == pomocore.SourceBuiltin {
		t.Errorf("Ghostty = %+v without the built-in layer", got)
	}
	if rs, _ := classify.Compile(ps[:1], tax, nil); !rs.NoDefault {
		t.Error("no document for the default, and NoDefault is false")
	}

	builtin, err := classify.Build(classify.DefaultPatterns(), tax.Default)
	if err != nil {
		t.Fatal(err)
	}
	// The built-in set answers where the documents are silent, with a
	// category that has a document.
	// "steam" is a built-in Game pattern; here it is Development.
	ps[0].AppPatterns = append(ps[0].AppPatterns, "steam")
	rs, err = classify.Compile(ps, tax, builtin)
	if err != nil {
		t.Fatal(err)
	}
	if got := rs.Matcher.Classify("Ghostty", "", ""); got != (pomocore.Classification{Category: "Development", Source: pomocore.SourceBuiltin}) {
		t.Errorf("Ghostty = %+v, want Development by builtin", got)
	}
	if got := rs.Matcher.Classify("Steam", "", "").Category; got != "Development" {
		t.Errorf("Steam = %s: the documents' answer must stand", got)
	}
	if !slices.ContainsFunc(rs.Disagreements, func(d classify.Disagreement) bool { return d.Pattern == "steam" }) {
		t.Errorf("Disagreements = %v, want steam's", rs.Disagreements)
	}
}

// Fingerprint changes with any field of any document and with their order.
func TestFingerprint(t *testing.T) {
	a := []pomocore.CategoryPattern{{ID: pomocore.ObjectID{1}, Category: "Development", AppPatterns: []string{"xcode"}}, {ID: pomocore.ObjectID{2}, Category: "Game"}}
	f := classify.Fingerprint(a)
	if f != classify.Fingerprint(slices.Clone(a)) {
		t.Error("not deterministic")
	}
	for name, change := range map[string]func([]pomocore.CategoryPattern){
		"app":      func(ps []pomocore.CategoryPattern) { ps[0].AppPatterns = []string{"xcode2"} },
		"domain":   func(ps []pomocore.CategoryPattern) { ps[1].DomainPatterns = []string{"steam.com"} },
		"priority": func(ps []pomocore.CategoryPattern) { ps[1].Priority = 1 },
		"category": func(ps []pomocore.CategoryPattern) { ps[1].Category = "SNS" },
		"id":       func(ps []pomocore.CategoryPattern) { ps[1].ID = pomocore.ObjectID{3} },
		"title": func(ps []pomocore.CategoryPattern) {
			ps[0].TitleRules = []pomocore.TitleRule{{Scope: "x", Keywords: []string{"y"}}}
		},
		"order": func(ps []pomocore.CategoryPattern) { ps[0], ps[1] = ps[1], ps[0] },
	} {
		b := slices.Clone(a)
		change(b)
		if classify.Fingerprint(b) == f {
			t.Errorf("%s changed, the fingerprint did not", name)
		}
	}
}

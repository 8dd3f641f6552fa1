package classify_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// layered returns production's patterns (as the store holds them) with the
// built-in set under them, allowed the given categories.
func layered(t *testing.T, store []pomocore.CategoryPattern, allowed []string) *classify.Matcher {
	t.Helper()
	primary, err := classify.Build(store, pomocore.Uncategorized)
	if err != nil {
		t.Fatal(err)
	}
	builtin, err := classify.Build(classify.DefaultPatterns(), pomocore.Uncategorized)
	if err != nil {
		t.Fatal(err)
	}
	return classify.Layer(primary, builtin, allowed)
}

// withOperatorEdit returns production's patterns with github.com moved
// from Development to Documentation, as an operator might edit them.
func withOperatorEdit(t *testing.T) []pomocore.CategoryPattern {
	ps := productionPatterns(t)
	moved := false
	for i := range ps {
		if j := slices.Index(ps[i].DomainPatterns, "github.com"); j >= 0 {
			ps[i].DomainPatterns = slices.Delete(slices.Clone(ps[i].DomainPatterns), j, j+1)
			moved = true
		}
	}
	for i := range ps {
		if ps[i].Category == "Documentation" {
			ps[i].DomainPatterns = append(slices.Clone(ps[i].DomainPatterns), "github.com")
		}
	}
	if !moved {
		t.Fatal("production has no github.com pattern")
	}
	return ps
}

// TestMainServerPatternsStayTheAuthority: with the built-in set layered
// under the store's patterns, whatever the store's patterns decide stands
// (production's own answers, even where the built-in set has a more
// specific pattern, and an operator's edit); only where they are silent
// does the built-in set answer, recorded as builtin.
func TestMainServerPatternsStayTheAuthority(t *testing.T) {
	all := pomocore.DefaultTaxonomy().Categories
	m := layered(t, withOperatorEdit(t), all)
	for _, c := range []struct {
		app, url, want string
		src            pomocore.Source
	}{
		// Production is silent: the built-in set answers.
		{"Ghostty", "", "Development", pomocore.SourceBuiltin},
		{"Google Chrome", "https://chat.deepseek.com/a/chat/s/1", "LLM", pomocore.SourceBuiltin},
		{"Firefox", "https://kubernetes.io/docs/concepts/workloads/pods/", "Development", pomocore.SourceBuiltin},
		// Production decides, though the built-in set has a more specific
		// pattern in another category ("notion calendar" Productivity,
		// outlook.office.com Meetings).
		{"Notion Calendar", "", "Documentation", pomocore.SourceApp},
		{"Microsoft Edge", "https://outlook.office.com/mail/", "Documentation", pomocore.SourceDomain},
		// An operator's edit beats the built-in set's Development.
		{"Safari", "https://github.com/pomocore/pomocore", "Documentation", pomocore.SourceDomain},
		// The built-in set keeps the browser rule: Chrome's name decides
		// nothing with an unknown URL, in either layer.
		{"Google Chrome", "https://nowhere.example/x", pomocore.Uncategorized, pomocore.SourceDefault},
		{"Some Unknown Tool", "", pomocore.Uncategorized, pomocore.SourceDefault},
	} {
		if got := m.Classify(c.app, c.url, ""); got.Category != c.want || got.Source != c.src {
			t.Errorf("Classify(%q, %q) = %+v, want %s by %s", c.app, c.url, got, c.want, c.src)
		}
	}
	primary, _ := classify.Build(withOperatorEdit(t), pomocore.Uncategorized)
	pa, pd := primary.Stats()
	if a, d := m.Stats(); a != pa || d != pd || len(m.Conflicts()) != len(primary.Conflicts()) {
		t.Errorf("Stats = %d, %d, want the store's %d, %d", a, d, pa, pd)
	}
	if got := primary.Classify("Ghostty", "", ""); got.Source != pomocore.SourceDefault {
		t.Errorf("Layer changed the store's matcher: %+v", got)
	}
}

// TestBuiltinAnswersOnlyCategoriesTheStoreHas: a built-in answer in a
// category without a category_pattern document (no categoryId to write)
// stays the default.
func TestBuiltinAnswersOnlyCategoriesTheStoreHas(t *testing.T) {
	var store []pomocore.CategoryPattern
	var allowed []string
	for _, p := range productionPatterns(t) {
		if p.Category != "Development" {
			store = append(store, p)
			allowed = append(allowed, p.Category)
		}
	}
	m := layered(t, store, allowed)
	if got := m.Classify("Ghostty", "", ""); got.Category != pomocore.Uncategorized || got.Source != pomocore.SourceDefault {
		t.Errorf("Ghostty = %+v, want the default: the store has no Development document", got)
	}
	if got := m.Classify("Firefox", "https://chat.deepseek.com/", ""); got.Category != "LLM" || got.Source != pomocore.SourceBuiltin {
		t.Errorf("chat.deepseek.com = %+v, want LLM by builtin", got)
	}
}

// TestDisagreements: the patterns both sets hold in different categories,
// each resolved as Build resolves it; production's own file agrees with the
// built-in set everywhere (the set holds each of its patterns in the
// category it classifies to there).
func TestDisagreements(t *testing.T) {
	if d := classify.Disagreements(productionPatterns(t), classify.DefaultPatterns()); len(d) != 0 {
		t.Errorf("production's patterns disagree with the built-in set: %v", d)
	}
	d := classify.Disagreements(withOperatorEdit(t), classify.DefaultPatterns())
	want := classify.Disagreement{Kind: "domain", Pattern: "github.com", Store: "Documentation", Builtin: "Development"}
	if len(d) != 1 || d[0] != want {
		t.Fatalf("Disagreements = %v, want [%v]", d, want)
	}
	if s := d[0].String(); s != `domain "github.com": store Documentation, built-in Development` {
		t.Errorf("String() = %s", s)
	}
	// Resolution within a set: priority, then the document loaded later;
	// apps normalised, domains without "www." or a trailing slash.
	store := []pomocore.CategoryPattern{
		{Category: "Game", AppPatterns: []string{"Steam"}},
		{Category: "Entertainment", Priority: 1, AppPatterns: []string{"steam"}},
		{Category: "SNS", DomainPatterns: []string{"www.Example.com/Feed/"}},
		{Category: "Game", AppPatterns: []string{"Zork"}},
		{Category: "Education", AppPatterns: []string{"zork"}},
	}
	builtin := []pomocore.CategoryPattern{
		{Category: "Game", AppPatterns: []string{"steam", "zork"}, DomainPatterns: []string{"example.com/feed"}},
	}
	var got []string
	for _, x := range classify.Disagreements(store, builtin) {
		got = append(got, x.String())
	}
	if w := []string{`app "steam": store Entertainment, built-in Game`, `app "zork": store Education, built-in Game`,
		`domain "example.com/feed": store SNS, built-in Game`}; !slices.Equal(got, w) {
		t.Errorf("Disagreements =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
	}
}

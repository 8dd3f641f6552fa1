package classify

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/pomocore/pomocore"
)

// Layer returns a matcher that classifies as primary (the store's
// category_pattern: production's patterns, operator edits, learned
// patterns) and, only where primary is silent (its answer would be
// SourceDefault), as builtin (the built-in set), recorded with
// pomocore.SourceBuiltin. Whenever primary decides, by any pattern, its
// answer stands, whatever builtin says.
//
// builtin answers only the categories in allowed (those with a
// category_pattern document, so that the answer has a categoryId; nil
// allows every category); any other answer of it leaves the activity to the
// default, as if builtin were silent. builtin keeps its own rules (the
// browser rule among them: a browser's name decides nothing there either
// when a URL is known).
//
// The result has primary's default category, Stats and Conflicts; neither
// matcher is changed, and the result is as safe for concurrent use as they
// are. Layer is cheap (no rebuild): call it again after a pattern reload.
func Layer(primary, builtin *Matcher, allowed []string) *Matcher {
	l := *primary
	l.under = builtin
	l.allowed = nil
	if allowed != nil {
		l.allowed = make(map[string]bool, len(allowed))
		for _, c := range allowed {
			l.allowed[c] = true
		}
	}
	return &l
}

// silent is the answer where m's own patterns decide nothing: the layer
// under it when it has one (Layer) and that layer decides a category it
// may give, else the default.
func (m *Matcher) silent(app, url, title string) pomocore.Classification {
	if m.under != nil {
		if c := m.under.Classify(app, url, title); c.Source != pomocore.SourceDefault && (m.allowed == nil || m.allowed[c.Category]) {
			return pomocore.Classification{Category: c.Category, Source: pomocore.SourceBuiltin}
		}
	}
	return pomocore.Classification{Category: m.def, Source: pomocore.SourceDefault}
}

// Disagreement is a pattern that both the store's category_pattern and the
// built-in set hold, in different categories. The store's category decides
// (Layer); the built-in set's is only reported.
type Disagreement struct {
	// Kind is "app" or "domain".
	Kind string
	// Pattern is the pattern as matched (normalised: an app as
	// NormalizeApp gives it, a domain as host and path, lower case).
	Pattern string
	// Store is the category it classifies to in the store's patterns,
	// Builtin the one in the built-in set.
	Store, Builtin string
}

// String describes the disagreement: `domain "google.com/maps": store
// Browsing, built-in Travel`.
func (d Disagreement) String() string {
	return fmt.Sprintf("%s %q: store %s, built-in %s", d.Kind, d.Pattern, d.Store, d.Builtin)
}

// Disagreements lists the app and domain patterns that store and builtin
// both hold and classify to different categories, each pattern resolved
// within its own set as Build resolves it (the higher priority, then the
// document loaded later). Apps come first, then domains, each sorted by
// pattern. Malformed patterns (those Build refuses) are skipped.
func Disagreements(store, builtin []pomocore.CategoryPattern) []Disagreement {
	ours, theirs := resolvePatterns(store), resolvePatterns(builtin)
	var out []Disagreement
	for k, r := range ours {
		if b, ok := theirs[k]; ok && b.category != r.category {
			out = append(out, Disagreement{Kind: k.kind, Pattern: k.pattern, Store: r.category, Builtin: b.category})
		}
	}
	slices.SortFunc(out, func(a, b Disagreement) int {
		return cmp.Or(cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)), strings.Compare(a.Pattern, b.Pattern))
	})
	return out
}

func kindOrder(kind string) int {
	if kind == "app" {
		return 0
	}
	return 1
}

type patternKey struct{ kind, pattern string }

// resolvePatterns returns the category of each app and domain pattern of
// ps, a pattern in several documents resolved as Build does.
func resolvePatterns(ps []pomocore.CategoryPattern) map[patternKey]rule {
	out := map[patternKey]rule{}
	claim := func(k patternKey, p pomocore.CategoryPattern) {
		if old, ok := out[k]; !ok || p.Priority >= old.priority {
			out[k] = rule{category: p.Category, priority: p.Priority, set: true}
		}
	}
	for _, p := range ps {
		if strings.TrimSpace(p.Category) == "" {
			continue
		}
		for _, a := range p.AppPatterns {
			if n := NormalizeApp(a); n != "" {
				claim(patternKey{"app", n}, p)
			}
		}
		for _, d := range p.DomainPatterns {
			host, path := Host(d)
			if host == "" || strings.ContainsAny(host, " \t") {
				continue
			}
			claim(patternKey{"domain", idnForms(host)[0] + strings.TrimRight(path, "/")}, p)
		}
	}
	return out
}

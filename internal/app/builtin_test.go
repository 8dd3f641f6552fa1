package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// openWithPatterns opens an App on a fresh SQLite store that already holds
// ps (nil: an empty category_pattern), as production's MongoDB does at
// cut-over, with POMOCORE_BUILTIN_PATTERNS=mode, and returns its chain.
func openWithPatterns(t *testing.T, mode string, ps []pomocore.CategoryPattern) (*App, *classify.Chain) {
	t.Helper()
	cfg := Defaults()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Learn.Interval = 0
	cfg.BuiltinPatterns = mode
	cfg.Complete(func(string) bool { return false })
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	ctx := context.Background()
	st, err := a.Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ps != nil {
		if _, err := st.SeedPatterns(ctx, ps); err != nil {
			t.Fatal(err)
		}
	}
	chain, err := a.Classifier(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return a, chain
}

func mainServerPatterns(t *testing.T) []pomocore.CategoryPattern {
	t.Helper()
	b, err := os.ReadFile(mainServerFile)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := classify.ParsePatterns(b)
	if err != nil {
		t.Fatal(err)
	}
	return withIDs(ps)
}

// TestMainServerPatternsStayTheAuthorityInTheApp: with production's
// category_pattern in the store, the default (fallback) layers the built-in
// set under it: what production is silent about gets the built-in answer
// (source builtin, a category production has a document for), what it
// decides keeps production's answer; seed-only and off classify with
// production's patterns alone, as before.
func TestMainServerPatternsStayTheAuthorityInTheApp(t *testing.T) {
	ghostty := pomocore.Classification{Category: "Development", Source: pomocore.SourceBuiltin}
	notionCal := pomocore.Classification{Category: "Documentation", Source: pomocore.SourceApp} // built-in: Productivity
	def := pomocore.Classification{Category: pomocore.Uncategorized, Source: pomocore.SourceDefault}
	for _, c := range []struct {
		mode          string
		ghostty, deep pomocore.Classification
	}{
		{"fallback", ghostty, pomocore.Classification{Category: "LLM", Source: pomocore.SourceBuiltin}},
		{"seed-only", def, def},
		{"off", def, def},
	} {
		a, chain := openWithPatterns(t, c.mode, mainServerPatterns(t))
		if got := chain.Classify("Ghostty", "", ""); got != c.ghostty {
			t.Errorf("%s: Ghostty = %+v, want %+v", c.mode, got, c.ghostty)
		}
		if got := chain.Classify("Google Chrome", "https://chat.deepseek.com/a/chat/s/1", ""); got != c.deep {
			t.Errorf("%s: chat.deepseek.com = %+v, want %+v", c.mode, got, c.deep)
		}
		if got := chain.Classify("Notion Calendar", "", ""); got != notionCal {
			t.Errorf("%s: Notion Calendar = %+v, want production's %+v", c.mode, got, notionCal)
		}
		if a.rules.IDs["Development"].IsZero() {
			t.Errorf("%s: Development has no categoryId", c.mode)
		}
	}
}

// TestBuiltinPatternsSeedOnlyUnlessOff: an empty category_pattern is seeded
// with the built-in set in fallback and seed-only, not when off.
func TestBuiltinPatternsSeedOnlyUnlessOff(t *testing.T) {
	for mode, want := range map[string]int{"fallback": len(classify.DefaultPatterns()), "seed-only": len(classify.DefaultPatterns()), "off": 0} {
		a, chain := openWithPatterns(t, mode, nil)
		ps, err := a.st.LoadPatterns(context.Background())
		if err != nil || len(ps) != want {
			t.Errorf("%s: %d documents (%v), want %d", mode, len(ps), err, want)
		}
		wantSrc := pomocore.SourceApp
		if mode == "off" {
			wantSrc = pomocore.SourceDefault // no document at all: nothing to answer with
		}
		if got := chain.Classify("Ghostty", "", ""); got.Source != wantSrc {
			t.Errorf("%s: Ghostty = %+v, want source %s", mode, got, wantSrc)
		}
	}
}

// TestBuiltinLayerSurvivesAPatternReload: the rules swapped in after
// category_pattern changed (learning's reload; the periodic reload builds
// them alike) keep the built-in layer under the new patterns.
func TestBuiltinLayerSurvivesAPatternReload(t *testing.T) {
	a, chain := openWithPatterns(t, "fallback", mainServerPatterns(t))
	a.cfg.Learn.Threshold = 1 // the model never answers here
	ctx := context.Background()
	l, err := a.startLearning(ctx, chain, a.st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.editor.Edit(ctx, classify.PatternEdit{Category: "Game", Apps: []string{"Qqxy Toolbox"}}); err != nil {
		t.Fatal(err)
	}
	l.reload(ctx)
	if got := chain.Classify("Qqxy Toolbox", "", ""); got != (pomocore.Classification{Category: "Game", Source: pomocore.SourceApp}) {
		t.Errorf("the edit: %+v, want Game by app", got)
	}
	if got := chain.Classify("Ghostty", "", ""); got != (pomocore.Classification{Category: "Development", Source: pomocore.SourceBuiltin}) {
		t.Errorf("after the reload Ghostty = %+v, want Development by builtin", got)
	}
}

// TestBuiltinPatternsSettingRefusesABadValue: a value other than fallback,
// seed-only or off stops start-up with a message naming the setting; the
// default is fallback.
func TestBuiltinPatternsSettingRefusesABadValue(t *testing.T) {
	cfg := Defaults()
	if cfg.BuiltinPatterns != "fallback" {
		t.Errorf("default = %q, want fallback", cfg.BuiltinPatterns)
	}
	for _, st := range cfg.Settings() {
		if st.Env == "POMOCORE_BUILTIN_PATTERNS" {
			if err := st.Value.Set("seed_only"); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg.Complete(func(string) bool { return false })
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), `POMOCORE_BUILTIN_PATTERNS: "seed_only": want fallback`) {
		t.Errorf("Validate = %v, want POMOCORE_BUILTIN_PATTERNS named", err)
	}
	for _, ok := range []string{"fallback", "seed-only", "off"} {
		cfg.BuiltinPatterns = ok
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestDoctorComparesTheLayeredSetOnly: doctor compares category_pattern
// with the built-in set, and compare replays it, when it is layered under
// it (fallback), not when it only seeds or is off.
func TestDoctorComparesTheLayeredSetOnly(t *testing.T) {
	tax := pomocore.DefaultTaxonomy()
	for mode, want := range map[string]bool{"fallback": true, "seed-only": false, "off": false} {
		cfg := Defaults()
		cfg.BuiltinPatterns = mode
		if got := cfg.DoctorConfig(time.UTC, tax).Builtin != nil; got != want {
			t.Errorf("%s: doctor compares the built-in set: %v, want %v", mode, got, want)
		}
		if got := cfg.CompareConfig("2026-11-24", "2026-11-24", "pattern_match_group", time.UTC, tax).Builtin != nil; got != want {
			t.Errorf("%s: compare replays the built-in set: %v, want %v", mode, got, want)
		}
	}
}

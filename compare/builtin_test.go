package compare_test

import (
	"testing"

	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/compare"
)

// TestCompareReplaysTheBuiltinLayerAsTheShadowRan: an app category_pattern
// does not know (Ghostty) the shadow counted as Development through the
// built-in set layered under it; compare replays that layer, so the
// difference from the deployed Uncategorized is explained, not left over.
func TestCompareReplaysTheBuiltinLayerAsTheShadowRan(t *testing.T) {
	day := "2026-11-24"
	e := jackson("u1", "Ghostty", "", "6543210fedcba98765430001", 100)
	fields := make([]string, len(e))
	for i, v := range e {
		fields[i] = v.(string)
	}
	in := compare.Input{
		Live:     map[string]map[string]float64{"Uncategorized:" + day: {"u1": 100}},
		Shadow:   map[string]map[string]float64{"Development:" + day: {"u1": 100}, "work:" + day: {"u1": 100}},
		Entries:  []doctorEntry{{ID: "1795489200000-1", Fields: fields}},
		Patterns: patterns,
	}
	for _, c := range []struct {
		name                   string
		builtin                bool
		unexplained, unmatched float64
	}{{"layered", true, 0, 300}, {"store only", false, 300, 0}} {
		cfg := compare.Config{ShadowPrefix: "shadow", From: day, To: day, AssumeOldUnknown: "Uncategorized"}
		if c.builtin {
			cfg.Builtin = classify.DefaultPatterns()
		}
		rep, err := compare.Compare(cfg, in)
		if err != nil {
			t.Fatal(err)
		}
		if !near(rep.Summary.UnexplainedSeconds, c.unexplained) || !near(rep.Summary.Explained[compare.Unmatched], c.unmatched) {
			t.Errorf("%s: unexplained %v, explained %v; want %v unexplained, %v unmatched", c.name,
				rep.Summary.UnexplainedSeconds, rep.Summary.Explained, c.unexplained, c.unmatched)
		}
	}
}

package doctor_test

import (
	"context"
	"slices"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/doctor"
	"github.com/pomocore/pomocore/internal/fixtures"
)

type patternList []pomocore.CategoryPattern

func (p patternList) LoadPatterns(context.Context) ([]pomocore.CategoryPattern, error) { return p, nil }

// TestDoctorShowsWhereTheBuiltinSetDisagreesWithMainServerPatterns: with
// the built-in set layered under category_pattern, doctor compares them:
// production's own file agrees everywhere; an operator's edit that puts a
// pattern elsewhere is a warning naming it, with the counts.
func TestDoctorShowsWhereTheBuiltinSetDisagreesWithMainServerPatterns(t *testing.T) {
	ctx := context.Background()
	cfg := doctor.Config{Builtin: classify.DefaultPatterns()}
	prod := fixtures.ProductionPatterns(t)
	rep, err := doctor.Run(ctx, cfg, doctor.Sources{Patterns: patternList(prod)})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, rep, "category_pattern", "built-in patterns", doctor.OK, "agrees with category_pattern")

	edited := slices.Clone(prod)
	for i := range edited {
		switch edited[i].Category {
		case "Documentation": // an operator moves github.com here and adds Ghostty
			edited[i].DomainPatterns = append(slices.Clone(edited[i].DomainPatterns), "github.com")
			edited[i].AppPatterns = append(slices.Clone(edited[i].AppPatterns), "Ghostty")
		case "Development":
			edited[i].DomainPatterns = slices.DeleteFunc(slices.Clone(edited[i].DomainPatterns), func(d string) bool { return d == "github.com" })
		}
	}
	rep, err = doctor.Run(ctx, cfg, doctor.Sources{Patterns: patternList(edited)})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, rep, "category_pattern", "built-in patterns", doctor.Warn, "2 patterns (1 apps, 1 domains)",
		`app "ghostty": store Documentation, built-in Development`, `domain "github.com": store Documentation, built-in Development`)
	if len(rep.Facts.BuiltinDisagreements) != 2 {
		t.Errorf("facts: %v", rep.Facts.BuiltinDisagreements)
	}

	// Without a layered set (POMOCORE_BUILTIN_PATTERNS seed-only or off)
	// there is nothing to compare.
	rep, err = doctor.Run(ctx, doctor.Config{}, doctor.Sources{Patterns: patternList(edited)})
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := find(rep, "category_pattern", "built-in patterns"); ok {
		t.Errorf("a line without a layered set: %+v", l)
	}
}

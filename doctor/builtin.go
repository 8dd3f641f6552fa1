package doctor

import (
	"strings"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// builtinExamples is how many disagreements a line names.
const builtinExamples = 5

// builtin compares category_pattern with the pattern set layered under it
// (Config.Builtin): a pattern both hold in different categories is decided
// by category_pattern, which the operator may want to know or fix.
func (b *report) builtin(pats []pomocore.CategoryPattern) {
	if b.cfg.Builtin == nil {
		return
	}
	ds := classify.Disagreements(pats, b.cfg.Builtin)
	if len(ds) == 0 {
		b.add(secPatterns, "built-in patterns", OK, "the built-in set agrees with category_pattern on every pattern both hold; it answers (source builtin) what category_pattern is silent about")
		return
	}
	var apps int
	for _, d := range ds {
		b.r.Facts.BuiltinDisagreements = append(b.r.Facts.BuiltinDisagreements, d.String())
		if d.Kind == "app" {
			apps++
		}
	}
	examples := b.r.Facts.BuiltinDisagreements[:min(len(ds), builtinExamples)]
	more := ""
	if len(ds) > len(examples) {
		more = "; ..."
	}
	b.add(secPatterns, "built-in patterns", Warn, "%d patterns (%d apps, %d domains) are in another category in the built-in set; category_pattern's applies (pomocore patterns list shows them all): %s%s",
		len(ds), apps, len(ds)-apps, strings.Join(examples, "; "), more)
}

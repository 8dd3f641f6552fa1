package classify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/pomocore/pomocore"
)

// Rules is the classifier of a category_pattern set with what the
// pipeline and the LLM need of its documents, and what its caller may
// want to report about them.
type Rules struct {
	// Matcher is category_pattern's, with the built-in set layered under
	// it when Compile was given one.
	Matcher *Matcher
	// IDs is each document's id by its category (the categoryId the
	// pipeline records).
	IDs map[string]pomocore.ObjectID
	// Usable are the taxonomy's categories that have a document: the only
	// answers the LLM fallback may give.
	Usable []string
	// Fingerprint identifies the pattern set (Fingerprint), to rebuild
	// only when it changed.
	Fingerprint string

	// Conflicts are the patterns in two categories at the same priority
	// (the document loaded later wins, as deployed).
	Conflicts []Conflict
	// Outside are the documents' categories not in the taxonomy (their
	// activities are recorded as the default).
	Outside []string
	// Missing are the taxonomy's categories without a document (recorded
	// as the default, which has no categoryId when NoDefault).
	Missing   []string
	NoDefault bool
	// Disagreements are where the layered built-in set and category_pattern
	// answer differently (category_pattern's answer stands); none when
	// nothing is layered.
	Disagreements []Disagreement
}

// Compile builds the rules of patterns for tax and, when builtin (the
// built-in set, DefaultPatterns, compiled) is not nil, layers it under
// them: it answers, as source builtin, only where
// category_pattern is silent, and only categories that have a document.
func Compile(patterns []pomocore.CategoryPattern, tax *pomocore.Taxonomy, builtin *Matcher) (*Rules, error) {
	matcher, err := Build(patterns, tax.Default)
	if err != nil {
		return nil, fmt.Errorf("category patterns: %w", err)
	}
	r := &Rules{Conflicts: matcher.Conflicts(), IDs: make(map[string]pomocore.ObjectID, len(tax.Categories)), Fingerprint: Fingerprint(patterns)}
	for _, p := range patterns {
		r.IDs[p.Category] = p.ID
		if !tax.Has(p.Category) {
			r.Outside = append(r.Outside, p.Category)
		}
	}
	// A category without a document has no categoryId the main server can
	// name: the pipeline records its activities as the default category.
	r.Usable, r.Missing = Restrict(patterns, tax)
	_, hasDefault := r.IDs[tax.Default]
	r.NoDefault = !hasDefault
	if builtin != nil {
		matcher = Layer(matcher, builtin, r.Usable)
		r.Disagreements = Disagreements(patterns, DefaultPatterns())
	}
	r.Matcher = matcher
	return r, nil
}

// Fingerprint identifies a pattern set: equal for the same documents in
// the same order.
func Fingerprint(patterns []pomocore.CategoryPattern) string {
	h := sha256.New()
	for _, p := range patterns {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00%q\x00%q\x00%+v\x00", p.ID, p.Category, p.Priority, p.AppPatterns, p.DomainPatterns, p.TitleRules)
	}
	return hex.EncodeToString(h.Sum(nil))
}

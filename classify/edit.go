package classify

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pomocore/pomocore"
)

// ErrNewConflict is returned by CheckChange when a change puts a pattern in
// a second category at the same priority.
var ErrNewConflict = errors.New("the change puts a pattern in a second category at the same priority")

// PatternEdit adds patterns to, or removes them from, one category's
// category_pattern document: the one rule behind `pomocore patterns
// add|remove` and the live page's "accept a suggestion".
type PatternEdit struct {
	// Category names the document to edit.
	Category string
	// Apps and Domains are the patterns to add or remove (compared case
	// insensitively; adding one already there is a no-op).
	Apps, Domains []string
	// Remove removes the patterns instead of adding them.
	Remove bool
}

// Validate reports an edit that names no category or no pattern.
func (e PatternEdit) Validate() error {
	if strings.TrimSpace(e.Category) == "" {
		return errors.New("no category")
	}
	if len(e.Apps)+len(e.Domains) == 0 {
		return errors.New("no app or domain pattern")
	}
	for _, p := range slices.Concat(e.Apps, e.Domains) {
		if strings.TrimSpace(p) == "" {
			return errors.New("an empty pattern")
		}
	}
	return nil
}

// Apply returns a copy of current with the edit applied and the id of the
// edited document. Adding to a category without a document creates one
// with the id newID returns; removing from one is an error. current is not
// modified.
func (e PatternEdit) Apply(current []pomocore.CategoryPattern, newID func() pomocore.ObjectID) ([]pomocore.CategoryPattern, pomocore.ObjectID, error) {
	if err := e.Validate(); err != nil {
		return nil, pomocore.ObjectID{}, err
	}
	ps := slices.Clone(current)
	i := slices.IndexFunc(ps, func(p pomocore.CategoryPattern) bool { return p.Category == e.Category })
	if i < 0 {
		if e.Remove {
			return nil, pomocore.ObjectID{}, fmt.Errorf("no category %q", e.Category)
		}
		ps = append(ps, pomocore.CategoryPattern{ID: newID(), Category: e.Category})
		i = len(ps) - 1
	}
	p := &ps[i]
	p.AppPatterns = e.edit(slices.Clone(p.AppPatterns), e.Apps)
	p.DomainPatterns = e.edit(slices.Clone(p.DomainPatterns), e.Domains)
	return ps, p.ID, nil
}

// edit adds values to list (those not there yet) or removes them.
func (e PatternEdit) edit(list, values []string) []string {
	for _, v := range values {
		same := func(x string) bool { return strings.EqualFold(x, v) }
		switch {
		case e.Remove:
			list = slices.DeleteFunc(list, same)
		case !slices.ContainsFunc(list, same):
			list = append(list, v)
		}
	}
	return list
}

// CheckChange builds the pattern set after a change and returns its
// matcher. A pattern the change puts in a second category at the same
// priority (a conflict before did not have) is refused with ErrNewConflict,
// unless allowConflicts (an imported file's own data, loaded as deployed).
func CheckChange(before, after []pomocore.CategoryPattern, allowConflicts bool) (*Matcher, error) {
	m, err := Build(after, pomocore.Uncategorized)
	if err != nil {
		return nil, err
	}
	if allowConflicts {
		return m, nil
	}
	known := map[string]bool{}
	if old, err := Build(before, pomocore.Uncategorized); err == nil {
		for _, c := range old.Conflicts() {
			known[c.Kind+"\x00"+c.Pattern] = true
		}
	}
	var added []string
	for _, c := range m.Conflicts() {
		if !known[c.Kind+"\x00"+c.Pattern] {
			added = append(added, c.String())
		}
	}
	if len(added) > 0 {
		return nil, fmt.Errorf("%w (%s); remove it from the other category or give one document a higher priority",
			ErrNewConflict, strings.Join(added, "; "))
	}
	return m, nil
}

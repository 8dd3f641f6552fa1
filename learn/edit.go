package learn

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// PatternStore reads and writes the category_pattern documents
// (pipeline.Patterns and pipeline.PatternEditor of a store).
type PatternStore interface {
	PatternReader
	PatternWriter
}

// Editor is the one pattern-editing workflow: load the category_pattern
// documents, apply a change, check that the new set builds and puts no
// pattern in a second category at the same priority
// (classify.CheckChange), and upsert the documents the change touched.
// `pomocore patterns add|remove|import`, the live page's accept and
// promotion all edit through an Editor; the edits of one Editor are
// serialised, each a read-modify-write of the documents. Safe for
// concurrent use.
type Editor struct {
	st    PatternStore
	newID func() pomocore.ObjectID
	mu    sync.Mutex
}

// NewEditor returns the editor of the documents of st. A document an edit
// creates gets the id newID returns (nil: a new ObjectID of the time).
func NewEditor(st PatternStore, newID func() pomocore.ObjectID) *Editor {
	if newID == nil {
		newID = func() pomocore.ObjectID { return pomocore.NewObjectID(time.Now()) }
	}
	return &Editor{st: st, newID: newID}
}

// Update is one change of the documents.
type Update struct {
	// Change returns the documents after the change from the current ones
	// (it must not modify them) and the ids of the documents to write.
	// newID gives the id of a document it creates.
	Change func(current []pomocore.CategoryPattern, newID func() pomocore.ObjectID) (next []pomocore.CategoryPattern, write []pomocore.ObjectID, err error)
	// AllowConflicts takes a pattern the change puts in a second category
	// at the same priority (an imported file's own data, loaded as
	// deployed); otherwise it is refused with classify.ErrNewConflict.
	AllowConflicts bool
	// BeforeWrite, when set, runs after the check and before the first
	// write; its error stops the edit with nothing written.
	BeforeWrite func(ctx context.Context, c Change) error
}

// Change is the outcome of an Update.
type Change struct {
	// Before and After are the documents before and after the change, and
	// Matcher is After's.
	Before, After []pomocore.CategoryPattern
	Matcher       *classify.Matcher
	// Written are the documents written, in After's order.
	Written []pomocore.CategoryPattern
}

// Apply runs u: load, change, check, write. A failed check returns its
// error with nothing written; a failed write stops at that document (the
// ones before it stay written).
func (e *Editor) Apply(ctx context.Context, u Update) (Change, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	current, err := e.st.LoadPatterns(ctx)
	if err != nil {
		return Change{}, fmt.Errorf("patterns: %w", err)
	}
	next, write, err := u.Change(current, e.newID)
	if err != nil {
		return Change{}, err
	}
	m, err := classify.CheckChange(current, next, u.AllowConflicts)
	if err != nil {
		return Change{}, err
	}
	c := Change{Before: current, After: next, Matcher: m}
	for _, p := range next {
		if slices.Contains(write, p.ID) {
			c.Written = append(c.Written, p)
		}
	}
	if u.BeforeWrite != nil {
		if err := u.BeforeWrite(ctx, c); err != nil {
			return Change{}, err
		}
	}
	for _, p := range c.Written {
		if err := e.st.UpsertPattern(ctx, p); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Edit applies pe (classify.PatternEdit.Apply) and writes the edited
// document; conflicts are refused.
func (e *Editor) Edit(ctx context.Context, pe classify.PatternEdit) (Change, error) {
	return e.Apply(ctx, Update{Change: func(current []pomocore.CategoryPattern, newID func() pomocore.ObjectID) ([]pomocore.CategoryPattern, []pomocore.ObjectID, error) {
		next, id, err := pe.Apply(current, newID)
		return next, []pomocore.ObjectID{id}, err
	}})
}

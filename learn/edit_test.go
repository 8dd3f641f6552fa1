package learn_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/learn/learntest"
)

func editorPatterns() []pomocore.CategoryPattern {
	return []pomocore.CategoryPattern{
		{ID: pomocore.ObjectID{1}, Category: "Game", AppPatterns: []string{"Steam"}},
		{ID: pomocore.ObjectID{2}, Category: "Development", AppPatterns: []string{"Xcode"}, DomainPatterns: []string{"github.com"}},
	}
}

// Concurrent edits of one Editor are serialised: none is lost, as each is
// a read-modify-write of the same document.
func TestEditorSerialisesEdits(t *testing.T) {
	st := &overlapProbe{Memory: learntest.NewMemory(editorPatterns())}
	e := learn.NewEditor(st, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.Edit(context.Background(), classify.PatternEdit{Category: "Game", Apps: []string{fmt.Sprintf("Game %d", i)}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ps, _ := st.LoadPatterns(context.Background())
	i := slices.IndexFunc(ps, func(p pomocore.CategoryPattern) bool { return p.Category == "Game" })
	if n := len(ps[i].AppPatterns); n != 21 {
		t.Errorf("Game has %d app patterns after 20 edits, want 21: %q", n, ps[i].AppPatterns)
	}
	if m := st.most.Load(); m != 1 {
		t.Errorf("%d edits were between their load and their write at once, want 1", m)
	}
}

// overlapProbe counts the edits between their load and their write (each
// edit here writes one document), yielding after a load so that another
// edit could start.
type overlapProbe struct {
	*learntest.Memory
	in, most atomic.Int32
}

func (o *overlapProbe) LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error) {
	n := o.in.Add(1)
	for m := o.most.Load(); n > m && !o.most.CompareAndSwap(m, n); m = o.most.Load() {
	}
	for range 100 {
		runtime.Gosched()
	}
	return o.Memory.LoadPatterns(ctx)
}

func (o *overlapProbe) UpsertPattern(ctx context.Context, p pomocore.CategoryPattern) error {
	defer o.in.Add(-1)
	return o.Memory.UpsertPattern(ctx, p)
}

// A new conflict is refused with nothing written (BeforeWrite not run);
// an import's own conflicts are taken when allowed, and the result names
// the documents written and the conflicts that remain.
func TestEditorChecksBeforeWriting(t *testing.T) {
	ctx := context.Background()
	st := learntest.NewMemory(editorPatterns())
	e := learn.NewEditor(st, func() pomocore.ObjectID { return pomocore.ObjectID{9} })
	before := false
	_, err := e.Apply(ctx, learn.Update{
		Change: func(cur []pomocore.CategoryPattern, newID func() pomocore.ObjectID) ([]pomocore.CategoryPattern, []pomocore.ObjectID, error) {
			next, id, err := classify.PatternEdit{Category: "Game", Apps: []string{"Xcode"}}.Apply(cur, newID)
			return next, []pomocore.ObjectID{id}, err
		},
		BeforeWrite: func(context.Context, learn.Change) error { before = true; return nil },
	})
	if !errors.Is(err, classify.ErrNewConflict) {
		t.Fatalf("err = %v, want ErrNewConflict", err)
	}
	if before || st.Upserts() != 0 {
		t.Fatalf("a refused edit ran BeforeWrite (%v) or wrote %d documents", before, st.Upserts())
	}

	c, err := e.Apply(ctx, learn.Update{
		Change: func(cur []pomocore.CategoryPattern, newID func() pomocore.ObjectID) ([]pomocore.CategoryPattern, []pomocore.ObjectID, error) {
			id := newID()
			return append(slices.Clone(cur), pomocore.CategoryPattern{ID: id, Category: "Other", AppPatterns: []string{"Xcode"}}), []pomocore.ObjectID{id}, nil
		},
		AllowConflicts: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Written) != 1 || c.Written[0].ID != (pomocore.ObjectID{9}) || st.Upserts() != 1 {
		t.Errorf("written %+v (%d upserts), want the new document only", c.Written, st.Upserts())
	}
	if len(c.Matcher.Conflicts()) != 1 {
		t.Errorf("conflicts %v, want Xcode's", c.Matcher.Conflicts())
	}

	failed := errors.New("no")
	_, err = e.Edit(ctx, classify.PatternEdit{Category: "Game", Apps: []string{"Zork"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Apply(ctx, learn.Update{
		Change: func(cur []pomocore.CategoryPattern, newID func() pomocore.ObjectID) ([]pomocore.CategoryPattern, []pomocore.ObjectID, error) {
			return cur, []pomocore.ObjectID{cur[0].ID}, nil
		},
		BeforeWrite: func(context.Context, learn.Change) error { return failed },
	})
	if !errors.Is(err, failed) || st.Upserts() != 2 {
		t.Errorf("BeforeWrite's error: err = %v, %d upserts, want it and nothing more written", err, st.Upserts())
	}
}

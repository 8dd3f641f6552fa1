package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// recordingToucher records the ids of each Touch call; fail makes calls
// fail.
type recordingToucher struct {
	fail  atomic.Bool
	mu    sync.Mutex
	calls [][]string
}

func (r *recordingToucher) Touch(_ context.Context, ids []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, append([]string(nil), ids...))
	if r.fail.Load() {
		return errors.New("touch refused")
	}
	return nil
}

// counts returns how often each id was touched.
func (r *recordingToucher) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, c := range r.calls {
		for _, id := range c {
			out[id]++
		}
	}
	return out
}

func (r *recordingToucher) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, c := range r.calls {
		out = append(out, len(c))
	}
	return out
}

// warnCounter is a log handler that counts warnings.
type warnCounter struct{ n atomic.Int64 }

func (w *warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		w.n.Add(1)
	}
	return nil
}
func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }

// Entries held for at least the interval are touched at every tick, from
// the tick after they are due until they are released; entries held for
// less are left alone; nothing is touched once run is stopped. Time is
// synctest's: the ticks are the tracker's own.
func TestFreshnessTouchesWhatIsHeldUntilReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const every = 10 * time.Second
		f, r := newFreshness(), &recordingToucher{}
		t0 := time.Now()
		stop := f.run(context.Background(), r, every, time.Now, slog.New(slog.DiscardHandler))
		releaseAB := f.hold(t0, []string{"a", "b"})
		at := func(d time.Duration, want map[string]int) {
			t.Helper()
			time.Sleep(time.Until(t0.Add(d)))
			synctest.Wait()
			got := r.counts()
			for _, id := range []string{"a", "b", "c"} {
				if got[id] != want[id] {
					t.Fatalf("at %v: %s touched %d times, want %d (all: %v)", d, id, got[id], want[id], got)
				}
			}
		}
		at(9*time.Second, map[string]int{})
		at(11*time.Second, map[string]int{"a": 1, "b": 1})
		f.hold(time.Now(), []string{"c"})                  // held from 11 s
		at(21*time.Second, map[string]int{"a": 2, "b": 2}) // c held 9 s at the tick of 20 s: not due
		at(31*time.Second, map[string]int{"a": 3, "b": 3, "c": 1})
		releaseAB()
		releaseAB() // twice is once
		at(41*time.Second, map[string]int{"a": 3, "b": 3, "c": 2})
		stop()
		at(100*time.Second, map[string]int{"a": 3, "b": 3, "c": 2})
	})
}

// One Touch call takes at most touchChunk ids.
func TestFreshnessTouchesInChunks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, r := newFreshness(), &recordingToucher{}
		var ids []string
		for i := range 2*touchChunk + 500 {
			ids = append(ids, strconv.Itoa(i))
		}
		f.hold(time.Now(), ids)
		stop := f.run(context.Background(), r, time.Second, time.Now, slog.New(slog.DiscardHandler))
		defer stop()
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		if got := r.sizes(); len(got) != 3 || got[0] != touchChunk || got[1] != touchChunk || got[2] != 500 {
			t.Errorf("Touch calls of %v ids, want %d, %d, 500", got, touchChunk, touchChunk)
		}
	})
}

// A Touch that keeps failing is warned about once, and once more after it
// worked again and failed anew; the ticks go on meanwhile.
func TestFreshnessWarnsOncePerFailingStreak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, r, w := newFreshness(), &recordingToucher{}, &warnCounter{}
		f.hold(time.Now(), []string{"a"})
		stop := f.run(context.Background(), r, time.Second, time.Now, slog.New(w))
		defer stop()
		tick := func(n int) {
			time.Sleep(time.Duration(n) * time.Second)
			synctest.Wait()
		}
		time.Sleep(500 * time.Millisecond)
		r.fail.Store(true)
		tick(3)
		if n := w.n.Load(); n != 1 {
			t.Fatalf("%d warnings after 3 failing ticks, want 1", n)
		}
		r.fail.Store(false)
		tick(1)
		r.fail.Store(true)
		tick(2)
		if n := w.n.Load(); n != 2 {
			t.Errorf("%d warnings after a second failing streak, want 2", n)
		}
		if got := len(r.sizes()); got != 6 {
			t.Errorf("%d Touch calls in 6 ticks, want 6", got)
		}
	})
}

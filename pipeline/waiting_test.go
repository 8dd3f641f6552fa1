package pipeline

import (
	"slices"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
)

// answer is an Awaited a test completes by hand.
type answer struct {
	done chan struct{}
	cls  pomocore.Classification
	ok   bool
}

func newAnswer() *answer { return &answer{done: make(chan struct{})} }

func (a *answer) Done() <-chan struct{} { return a.done }
func (a *answer) Result() (pomocore.Classification, bool) {
	select {
	case <-a.done:
		return a.cls, a.ok
	default:
		return pomocore.Classification{}, false
	}
}
func (a *answer) give(cat string, ok bool) {
	a.cls, a.ok = pomocore.Classification{Category: cat, Source: pomocore.SourceLLM}, ok
	if !ok {
		a.cls = pomocore.Classification{Category: pomocore.Uncategorized, Source: pomocore.SourceDefault}
	}
	close(a.done)
}

func ids(rs []released) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.msg.ID)
	}
	return out
}

var t0 = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)

func TestWaitingLetsGoWhatIsAnsweredInOrderAndKeepsTheRest(t *testing.T) {
	w := newWaiting(10, 30*time.Second, newFreshness())
	a, b, c := newAnswer(), newAnswer(), newAnswer()
	s := sessionKey{"u", "2026-12-06", 1}
	for i, aw := range []*answer{a, b, c} {
		if !w.holdActivity(Message{ID: []string{"1-1", "1-2", "1-3"}[i]}, aw, s, false, t0) {
			t.Fatal("not held")
		}
	}
	if got := w.take(t0); len(got) != 0 {
		t.Fatalf("let go before any answer: %v", ids(got))
	}
	c.give("Design", true)
	a.give("", false)
	got := w.take(t0.Add(time.Second))
	if !slices.Equal(ids(got), []string{"1-1", "1-3"}) {
		t.Fatalf("let go %v, want [1-1 1-3] in the order held", ids(got))
	}
	if got[0].outcome != waitFailed || got[0].cls.Source != pomocore.SourceDefault {
		t.Errorf("failed answer: %+v", got[0])
	}
	if got[1].outcome != waitAnswered || got[1].cls != (pomocore.Classification{Category: "Design", Source: pomocore.SourceLLM}) {
		t.Errorf("answered: %+v", got[1])
	}
	if w.len() != 1 {
		t.Errorf("held %d, want 1", w.len())
	}
}

func TestWaitingExpiresAfterTheWait(t *testing.T) {
	w := newWaiting(10, 30*time.Second, newFreshness())
	w.holdActivity(Message{ID: "1-1"}, newAnswer(), sessionKey{}, false, t0)
	if got := w.take(t0.Add(30*time.Second - time.Nanosecond)); len(got) != 0 {
		t.Fatalf("let go before the wait passed: %v", ids(got))
	}
	got := w.take(t0.Add(30 * time.Second))
	if len(got) != 1 || got[0].outcome != waitExpired {
		t.Fatalf("after the wait: %+v", got)
	}
}

// The main server scores a session from its usage logs when the session
// event arrives: a session end waits until the earlier activities of its
// session are let go, and comes after them.
func TestMainServerScoresSessionsAfterTheirActivitiesAreDecided(t *testing.T) {
	w := newWaiting(10, 30*time.Second, newFreshness())
	s1, s2 := sessionKey{"u", "2026-12-06", 1}, sessionKey{"u", "2026-12-06", 2}
	early := newAnswer()
	w.holdActivity(Message{ID: "1-1"}, early, s1, false, t0)
	if w.holdEnd(Message{ID: "1-5"}, pomocore.Classification{Category: "Game"}, s2, t0) {
		t.Error("a session end held although its session has nothing held")
	}
	if !w.holdEnd(Message{ID: "1-2"}, pomocore.Classification{Category: "Game", Source: pomocore.SourceApp}, s1, t0) {
		t.Fatal("the session end was not held behind its session's activity")
	}
	late := newAnswer() // an activity of the session held after its end
	w.holdActivity(Message{ID: "1-3"}, late, s1, false, t0)
	if got := w.take(t0); len(got) != 0 {
		t.Fatalf("let go %v before the activity was decided", ids(got))
	}
	early.give("Development", true)
	got := w.take(t0)
	if !slices.Equal(ids(got), []string{"1-1", "1-2"}) {
		t.Fatalf("let go %v, want the activity then its session end", ids(got))
	}
	if got[1].outcome != waitSession || got[1].cls.Category != "Game" {
		t.Errorf("session end: %+v", got[1])
	}
}

func TestWaitingHoldsAtMostMaxActivitiesButEveryEnd(t *testing.T) {
	w := newWaiting(2, time.Minute, newFreshness())
	s := sessionKey{"u", "d", 1}
	if !w.holdActivity(Message{ID: "1-1"}, newAnswer(), s, false, t0) || !w.holdActivity(Message{ID: "1-2"}, newAnswer(), s, false, t0) {
		t.Fatal("not held")
	}
	if w.holdActivity(Message{ID: "1-3"}, newAnswer(), s, false, t0) {
		t.Error("a third activity was held over the bound of 2")
	}
	if !w.holdEnd(Message{ID: "1-4"}, pomocore.Classification{}, s, t0) {
		t.Error("the session end was not held: its session event would precede its activities")
	}
}

// Held entries stay fresh (no consumer reclaims them) until let go.
func TestHeldEntriesStayFreshUntilLetGo(t *testing.T) {
	f := newFreshness()
	w := newWaiting(10, time.Minute, f)
	a := newAnswer()
	w.holdActivity(Message{ID: "1-1"}, a, sessionKey{}, false, t0)
	w.holdActivity(Message{ID: "1-2"}, newAnswer(), sessionKey{}, false, t0)
	if due := f.due(t0); !slices.Equal(sortedCopy(due), []string{"1-1", "1-2"}) {
		t.Fatalf("touched %v", due)
	}
	a.give("Design", true)
	w.take(t0)
	if due := f.due(t0); !slices.Equal(due, []string{"1-2"}) {
		t.Errorf("after letting 1-1 go, touched %v", due)
	}
	w.drop()
	if due := f.due(t0); len(due) != 0 || w.len() != 0 {
		t.Errorf("after drop: touched %v, held %d", due, w.len())
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

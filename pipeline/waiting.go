package pipeline

import (
	"sync"
	"time"

	"github.com/pomocore/pomocore"
)

// Decider is implemented by Classifiers that can tell the pipeline an
// activity's answer is on its way (classify.Chain: the LLM fallback was
// asked). Decide returns the classification to use now and, when the
// answer is awaited, what to wait for (nil otherwise). Safe for concurrent
// use; it must not block.
type Decider interface {
	Decide(app, url, title string) (pomocore.Classification, pomocore.Awaited)
}

// waitOutcome is how a held entry was let go.
type waitOutcome int

const (
	// waitAnswered: the awaited answer came.
	waitAnswered waitOutcome = iota
	// waitFailed: the classifier gave up (errors, breaker, shutdown).
	waitFailed
	// waitExpired: Config.DecideWait passed first.
	waitExpired
	// waitSession: a session end that waited only for its session's
	// earlier activities.
	waitSession
)

// String names the outcome as metrics label it.
func (o waitOutcome) String() string {
	return [...]string{waitAnswered: "answered", waitFailed: "failed", waitExpired: "expired", waitSession: "session"}[o]
}

// sessionKey names a session as the main server does: user, session date
// and session number.
type sessionKey struct {
	user, date string
	session    int
}

// waiter is one held entry.
type waiter struct {
	msg      Message
	cls      pomocore.Classification // the classification when nothing is awaited
	awaited  pomocore.Awaited        // nil: a session end waiting for its session
	session  sessionKey
	end      bool
	deadline time.Time
	release  func() // its freshness hold
}

// released is a held entry let go: its message and the classification it
// is stored and counted with.
type released struct {
	msg     Message
	cls     pomocore.Classification
	outcome waitOutcome
}

// waiting holds the entries whose answer is on its way: they are neither
// stored nor committed, so they stay pending in the consumer group (kept
// fresh, so that no consumer reclaims them), while the rest of their batch
// commits. An entry is let go once its answer came, or the classifier gave
// up, or the wait passed (then it counts as the default category). A
// session end is held as long as an activity of its session held before it
// is, so that its session event follows their final usage logs (the main
// server scores the session from them). At most max activities are held;
// session ends are held whatever the count (there is at most one per held
// session, and a session is held only through a held activity). Safe for
// concurrent use.
type waiting struct {
	max   int
	wait  time.Duration
	fresh *freshness

	mu        sync.Mutex
	queue     []*waiter          // in the order they were held
	bySession map[sessionKey]int // held activities (not ends) per session
}

func newWaiting(max int, wait time.Duration, fresh *freshness) *waiting {
	return &waiting{max: max, wait: wait, fresh: fresh, bySession: map[sessionKey]int{}}
}

// holdActivity holds m, whose answer aw is awaited, until take lets it go;
// false when max activities are held already (the caller counts it now).
func (w *waiting) holdActivity(m Message, aw pomocore.Awaited, session sessionKey, end bool, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !end && w.activities() >= w.max {
		return false
	}
	w.add(&waiter{msg: m, awaited: aw, session: session, end: end, deadline: now.Add(w.wait)}, now)
	return true
}

// holdEnd holds the session end m, decided as cls, when an activity of its
// session is held, and reports whether it did.
func (w *waiting) holdEnd(m Message, cls pomocore.Classification, session sessionKey, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bySession[session] == 0 {
		return false
	}
	w.add(&waiter{msg: m, cls: cls, session: session, end: true}, now)
	return true
}

// add queues h; w.mu is held.
func (w *waiting) add(h *waiter, now time.Time) {
	h.release = w.fresh.hold(now, []string{h.msg.ID})
	w.queue = append(w.queue, h)
	if !h.end {
		w.bySession[h.session]++
	}
}

// activities returns how many activities (not session ends) are held;
// w.mu is held.
func (w *waiting) activities() int {
	n := 0
	for _, c := range w.bySession {
		n += c
	}
	return n
}

// take lets go, in the order they were held, the entries that may go at
// now: an activity whose answer came, whose classifier gave up or whose
// wait passed; a session end once no activity of its session held before
// it is still held (and its own answer, if it awaits one, came or
// expired).
func (w *waiting) take(now time.Time) []released {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []released
	kept := w.queue[:0]
	before := map[sessionKey]int{} // activities of each session still held, of those seen so far
	for _, h := range w.queue {
		r, ready := released{msg: h.msg, cls: h.cls, outcome: waitSession}, true
		if h.awaited != nil {
			select {
			case <-h.awaited.Done():
				cls, ok := h.awaited.Result()
				r.cls, r.outcome = cls, waitAnswered
				if !ok {
					r.outcome = waitFailed
				}
			default:
				if now.Before(h.deadline) {
					ready = false
				} else {
					r.outcome = waitExpired // the default is set by the caller
				}
			}
		}
		if h.end && before[h.session] > 0 {
			ready = false
		}
		if !ready {
			kept = append(kept, h)
			if !h.end {
				before[h.session]++
			}
			continue
		}
		h.release()
		if !h.end {
			if w.bySession[h.session]--; w.bySession[h.session] == 0 {
				delete(w.bySession, h.session)
			}
		}
		out = append(out, r)
	}
	clear(w.queue[len(kept):])
	w.queue = kept
	return out
}

// len returns how many entries are held.
func (w *waiting) len() int {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// drop lets go of every held entry without a verdict (shutdown: they stay
// pending, for a consumer to read again).
func (w *waiting) drop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, h := range w.queue {
		h.release()
	}
	clear(w.queue)
	w.queue = nil
	clear(w.bySession)
}

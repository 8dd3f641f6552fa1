package pipeline

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// batchSizer is the adaptive batch size (Config.SlowStore): the size of
// reads and of store calls, following the store's latency. It is told of
// every store call (observe) and read by the loop and the store (size).
//
// The rules, in order (a call of n records, at current size cur):
//   - a call that timed out halves the size (from the smaller of cur and
//     n, at least 1), whatever it remembers: a call that did not finish
//     says nothing of how long it would have taken;
//   - a successful call slower than SlowStore halves it the same way,
//     unless the store was found slow per call (below);
//   - halving helps only when a call costs per record: when a slow call
//     at half the size (or less) of the slow call halved after took 3/4 as
//     long or more, the cost is per call (a collection scan, a slow round
//     trip): the size goes back to what it was and slow successful calls
//     leave it alone until a call times out;
//   - a successful call faster than SlowStore/2 grows it by BatchSize/32
//     (at least 1), up to BatchSize;
//   - anything else (a call between the two, a failure that is not a
//     timeout) leaves it where it is.
//
// With a negative SlowStore the size is BatchSize, always. Safe for
// concurrent use.
type batchSizer struct {
	max  int           // Config.BatchSize
	slow time.Duration // Config.SlowStore
	log  *slog.Logger
	cur  atomic.Int64

	// mu guards what observe remembers: the size and latency of the last
	// slow successful call it halved after (shrunkFrom, shrunkTook), and
	// perCall, set when halving did not shorten the call.
	mu         sync.Mutex
	shrunkFrom int
	shrunkTook time.Duration
	perCall    bool
}

func newBatchSizer(max int, slow time.Duration, log *slog.Logger) *batchSizer {
	s := &batchSizer{max: max, slow: slow, log: log}
	s.cur.Store(int64(max))
	return s
}

// size returns the current batch size.
func (s *batchSizer) size() int { return int(s.cur.Load()) }

// observe adjusts the size after a store call of n records that took took
// and returned err.
func (s *batchSizer) observe(took time.Duration, n int, err error) {
	if s.slow < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.size()
	next := cur
	switch {
	case isTimeout(err):
		next = max(1, min(cur, n)/2)
		s.perCall, s.shrunkFrom = false, 0
	case err == nil && took > s.slow:
		if s.perCall {
			break
		}
		if s.shrunkFrom > 0 && n*2 <= s.shrunkFrom && took*4 >= s.shrunkTook*3 {
			next, s.perCall, s.shrunkFrom = max(cur, s.shrunkFrom), true, 0
			s.log.Info("store slow per call, not per record: batch size restored and held", "batch_size", next,
				"took", took, "records", n, "before", s.shrunkTook, "slow_store", s.slow)
			break
		}
		next = max(1, min(cur, n)/2)
		s.shrunkFrom, s.shrunkTook = min(cur, n), took
	case err == nil && took < s.slow/2:
		next = min(s.max, cur+max(1, s.max/32))
		s.shrunkFrom = 0
	}
	if next == cur {
		return
	}
	s.cur.Store(int64(next))
	if next < cur {
		s.log.Info("store slow: batch size halved", "batch_size", next, "took", took, "records", n, "slow_store", s.slow, "err", err)
	} else {
		s.log.Debug("store fast: batch size grown", "batch_size", next, "took", took)
	}
}

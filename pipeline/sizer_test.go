package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"
)

// TestBatchSizerRules is the specification of the adaptive batch size
// (Config.SlowStore), one row per rule: a sequence of store calls, each
// with the size it must leave. The sizer is given each call's duration,
// so it needs no clock.
func TestBatchSizerRules(t *testing.T) {
	const slow = time.Second
	var (
		timeout = fmt.Errorf("save: %w", context.DeadlineExceeded)
		refused = errors.New("document refused")
	)
	type call struct {
		took time.Duration
		n    int
		err  error
		want int // the size after the call
	}
	for _, c := range []struct {
		name  string
		max   int
		slow  time.Duration
		calls []call
	}{
		{"starts at BatchSize", 64, slow, nil},
		{"a slow call halves the size", 64, slow, []call{{3 * slow, 64, nil, 32}}},
		{"halving starts from the call when it was smaller than the size", 64, slow, []call{{3 * slow, 10, nil, 5}}},
		{"halving stops at 1", 64, slow, []call{{3 * slow, 1, nil, 1}, {3 * slow, 1, nil, 1}}},
		{"a timeout halves the size, however fast", 64, slow, []call{{time.Millisecond, 64, timeout, 32}}},
		{"a fast call grows the size by BatchSize/32", 64, slow, []call{
			{3 * slow, 64, nil, 32}, {slow / 4, 32, nil, 34}, {slow / 4, 34, nil, 36}}},
		{"growing stops at BatchSize", 4, slow, []call{
			{3 * slow, 4, nil, 2}, {0, 2, nil, 3}, {0, 3, nil, 4}, {0, 4, nil, 4}}},
		{"growing is at least 1", 16, slow, []call{{3 * slow, 16, nil, 8}, {0, 8, nil, 9}}},
		{"a call between SlowStore/2 and SlowStore leaves the size", 64, slow, []call{
			{3 * slow, 64, nil, 32}, {slow * 3 / 4, 32, nil, 32}, {slow, 32, nil, 32}}},
		{"a failure that is not a timeout leaves the size", 64, slow, []call{
			{3 * slow, 64, refused, 64}, {0, 64, refused, 64}}},
		{"halving that does not shorten the call restores the size and holds it", 64, slow, []call{
			{3 * slow, 64, nil, 32},                // slow: halved
			{3 * slow * 3 / 4, 32, nil, 64},        // half the records, 3/4 of the time: per call
			{5 * slow, 64, nil, 64},                // held
			{5 * slow, 64, nil, 64},                // held
			{time.Millisecond, 64, timeout, 32},    // a timeout still halves
			{3 * slow, 32, nil, 16},                // and slow calls halve again
			{3 * slow * 3 / 4 * 1 / 2, 16, nil, 8}, // this one got shorter: per record
		}},
		{"a call that got shorter by more than a quarter halves again", 64, slow, []call{
			{4 * slow, 64, nil, 32}, {2 * slow, 32, nil, 16}}},
		{"per call needs a call at half the size or less", 64, slow, []call{
			{4 * slow, 40, nil, 20}, {4 * slow, 30, nil, 10}}},
		{"a fast call forgets the slow call halved after", 64, slow, []call{
			{4 * slow, 64, nil, 32}, {0, 32, nil, 34}, {4 * slow, 17, nil, 8}}},
		{"negative SlowStore: BatchSize always", 64, -1, []call{
			{3 * slow, 64, nil, 64}, {0, 64, timeout, 64}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newBatchSizer(c.max, c.slow, slog.New(slog.DiscardHandler))
			if got := s.size(); got != c.max {
				t.Fatalf("initial size %d, want %d", got, c.max)
			}
			for i, k := range c.calls {
				s.observe(k.took, k.n, k.err)
				if got := s.size(); got != k.want {
					t.Fatalf("after call %d (%d records, %v, err %v): size %d, want %d", i+1, k.n, k.took, k.err, got, k.want)
				}
			}
		})
	}
}

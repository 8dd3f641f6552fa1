package bench

import (
	"testing"
	"time"
)

// The histogram's quantiles are within a bucket (about 4%) of the exact
// ones, and never above the largest value recorded.
func TestHistogramQuantilesWithinABucket(t *testing.T) {
	h := &histogram{}
	var ds []time.Duration
	for i := 1; i <= 1000; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	h.record(ds)
	for q, exact := range map[float64]time.Duration{0.5: 500 * time.Millisecond, 0.99: 990 * time.Millisecond, 1: time.Second} {
		got := h.quantile(q)
		if got < exact || float64(got) > 1.07*float64(exact) || got > time.Second {
			t.Errorf("quantile(%v) = %v, want %v to 7%% above (at most the max)", q, got, exact)
		}
	}
	if (&histogram{}).quantile(0.5) != 0 {
		t.Error("an empty histogram has a quantile")
	}
}

func TestHumanCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := humanCount(n); got != want {
			t.Errorf("humanCount(%d) = %q, want %q", n, got, want)
		}
	}
}

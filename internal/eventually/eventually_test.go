package eventually

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	var n atomic.Int32
	if !Within(time.Second, func() bool { return n.Add(1) == 5 }) {
		t.Error("a condition true on the 5th poll was not seen")
	}
	if Within(20*time.Millisecond, func() bool { return false }) {
		t.Error("a false condition reported true")
	}
}

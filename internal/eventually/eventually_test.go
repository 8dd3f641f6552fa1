package eventually

import (
	"regexp"
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

func TestMatchReturnsTheFirstGroupOnceWritten(t *testing.T) {
	var n atomic.Int32
	read := func() string { // the address is "written" on the third read
		if n.Add(1) < 3 {
			return "msg=starting\n"
		}
		return "msg=starting\nmsg=start addr=127.0.0.1:4242\n"
	}
	if got, ok := Match(5*time.Second, read, regexp.MustCompile(`addr=(\S+)`)); !ok || got != "127.0.0.1:4242" || n.Load() != 3 {
		t.Errorf("Match = %q, %v after %d reads; want the address on the third", got, ok, n.Load())
	}
	if got, ok := Match(5*time.Second, read, regexp.MustCompile(`start\b`)); !ok || got != "start" {
		t.Errorf("Match without a group = %q, %v; want the whole match", got, ok)
	}
	if _, ok := Match(20*time.Millisecond, read, regexp.MustCompile(`never`)); ok {
		t.Error("Match reported a match that never came")
	}
}

package backoff

import (
	"context"
	"testing"
	"time"
)

func TestWaitDoublesWithJitterAndCaps(t *testing.T) {
	p := Policy{Min: 100 * time.Millisecond, Max: time.Second}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 50: time.Second} {
		for range 100 {
			if d := p.Wait(n); d < want/2 || d > want {
				t.Fatalf("Wait(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
	if d := (Policy{}).Wait(3); d != 0 {
		t.Errorf("zero policy waits %v", d)
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("Sleep = %v, want context.Canceled", err)
	}
	if err := Sleep(context.Background(), 0); err != nil {
		t.Errorf("Sleep(0) = %v", err)
	}
}

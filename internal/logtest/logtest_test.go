package logtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestBufferConcurrentWritersAllKept(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				fmt.Fprintf(&b, "w%d-%d\n", i, j)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Errorf("%d lines kept, want 800", n)
	}
}

func TestLoggerWritesDebugToItsBuffer(t *testing.T) {
	log, b := Logger()
	log.Debug("hello", "k", 1)
	if got := b.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "k=1") {
		t.Errorf("logged %q", got)
	}
}

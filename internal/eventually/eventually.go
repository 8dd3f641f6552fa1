// Package eventually is the tests' one way to wait for a condition that
// another process or goroutine makes true: it polls, with a growing
// interval, until the condition holds or a deadline passes. It replaces
// hand-written sleep loops; it is not a synchronisation primitive for code
// the test controls (use channels and gates there).
package eventually

import (
	"regexp"
	"time"
)

// Within reports whether cond became true within d, polling every 1ms at
// first and at most every 50ms.
func Within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	wait := time.Millisecond
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// Match waits up to d for re to match what text returns (a log or an
// output another goroutine writes) and returns re's first group, or its
// whole match when it has none; false when it did not match in time.
func Match(d time.Duration, text func() string, re *regexp.Regexp) (string, bool) {
	var got string
	ok := Within(d, func() bool {
		m := re.FindStringSubmatch(text())
		if m != nil {
			got = m[min(1, len(m)-1)]
		}
		return m != nil
	})
	return got, ok
}

// Package eventually is the tests' one way to wait for a condition that
// another process or goroutine makes true: it polls, with a growing
// interval, until the condition holds or a deadline passes. It replaces
// hand-written sleep loops; it is not a synchronisation primitive for code
// the test controls (use channels and gates there).
package eventually

import "time"

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

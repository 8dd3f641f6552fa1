package bench

import (
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// With KnownOnly the patterns decide every key of the workload; without,
// some keys are unknown.
func TestKnownOnlyWorkloadHasNoUnknownKeys(t *testing.T) {
	m, err := classify.Build(classify.DefaultPatterns(), pomocore.Uncategorized)
	if err != nil {
		t.Fatal(err)
	}
	unknown := func(knownOnly bool) int {
		w := newWorkload(workloadConfig{Users: 10, Keys: 2000, Zipf: 1.1, Days: 1, Seed: 1, Now: time.Now(), KnownOnly: knownOnly})
		n := 0
		for _, k := range w.keys {
			if m.Classify(k.app, k.url, k.title).Source == pomocore.SourceDefault {
				n++
			}
		}
		return n
	}
	if n := unknown(false); n == 0 {
		t.Errorf("the default workload has no unknown keys")
	}
	if n := unknown(true); n != 0 {
		t.Errorf("the known-only workload has %d unknown keys, want 0", n)
	}
}

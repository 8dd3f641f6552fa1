package pomocore_test

import (
	"testing"

	"github.com/pomocore/pomocore"
)

// TestSourcePattern: the built-in set decides like a pattern of
// category_pattern (its activities are no unknowns) and is not LLM-based.
func TestSourcePattern(t *testing.T) {
	for src, want := range map[pomocore.Source]bool{
		pomocore.SourceApp: true, pomocore.SourceDomain: true, pomocore.SourceTitle: true, pomocore.SourceBuiltin: true,
		pomocore.SourceCache: false, pomocore.SourceLLM: false, pomocore.SourceModel: false, pomocore.SourceDefault: false,
	} {
		if got := src.Pattern(); got != want {
			t.Errorf("%s.Pattern() = %v, want %v", src, got, want)
		}
	}
	if (pomocore.Classification{Category: "Development", Source: pomocore.SourceBuiltin}).LLMBased() {
		t.Error("a built-in answer is LLM-based")
	}
}

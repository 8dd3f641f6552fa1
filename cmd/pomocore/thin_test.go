package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMainStaysThin holds docs/architecture.md's bound on cmd/pomocore:
// flags and environment onto settings, then internal/app; the logic lives
// in packages. Its non-test code stays under 1,200 lines.
func TestMainStaysThin(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines += bytes.Count(b, []byte("\n"))
	}
	if lines >= 1200 {
		t.Errorf("cmd/pomocore's non-test code is %d lines, want under 1,200: move logic into a package", lines)
	}
}

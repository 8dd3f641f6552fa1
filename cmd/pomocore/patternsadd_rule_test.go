package main

import (
	"strings"
	"testing"
)

// `patterns add` refuses what the unknowns panel and promotion refuse
// (classify.CheckDomain, CheckApp), and says why rather than how to call
// it (issue 27 item 5).
func TestPatternsAddRefusesPatternsThatBreakClassification(t *testing.T) {
	run := patternsTool(t)
	before, err := run("export")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		why  string
	}{
		{[]string{"-domain", "com"}, "public suffix"},
		{[]string{"-domain", "*"}, "wildcard"},
		{[]string{"-domain", strings.Repeat("a", 300) + ".com"}, "DNS"},
		{[]string{"-domain", "."}, "empty label"},
		{[]string{"-app", "*"}, "wildcard"},
	} {
		out, err := run(append([]string{"add", "-category", "Game"}, c.args...)...)
		if err == nil {
			t.Errorf("%.40q: written: %s", c.args, out)
			continue
		}
		if !strings.Contains(err.Error(), c.why) || strings.Contains(err.Error(), "want -category") {
			t.Errorf("%.40q: %v, want it to say %q (not how to call add)", c.args, err, c.why)
		}
	}
	if after, _ := run("export"); after != before {
		t.Error("refused edits changed the patterns")
	}
}

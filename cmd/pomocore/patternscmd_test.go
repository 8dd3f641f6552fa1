package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pomocore/pomocore/classify"
)

var mainServerFile = filepath.Join("..", "..", "testdata", "main-server-category-patterns.json")

// `patterns import` takes the main server's category-patterns.json as it
// is: its documents replace the built-in ones of the same category, keeping
// their ids, and its twenty patterns in two categories are accepted and
// noted.
func TestPatternsImportAcceptsTheMainServerFile(t *testing.T) {
	run := patternsTool(t)
	before, err := run("list")
	if err != nil {
		t.Fatal(err)
	}
	out, err := run("import", mainServerFile)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if !strings.Contains(out, "wrote 19 category_pattern document(s)") || !strings.Contains(out, "note: 20 pattern(s)") ||
		!strings.Contains(out, `app "zoom" in Video Editing, Meetings: Meetings wins`) {
		t.Errorf("import output:\n%s", out)
	}
	after, _ := run("list")
	if idsOf(before) != idsOf(after) || strings.Count(after, "\n") != 20 {
		t.Errorf("import changed the category ids or their number:\n%s\n%s", before, after)
	}
	exported, _ := run("export")
	imported, err := classify.ParsePatterns([]byte(exported))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(mainServerFile)
	prod, _ := classify.ParsePatterns(want)
	for i, p := range imported {
		if p.Category != prod[i].Category || strings.Join(p.AppPatterns, "|") != strings.Join(prod[i].AppPatterns, "|") ||
			strings.Join(p.DomainPatterns, "|") != strings.Join(prod[i].DomainPatterns, "|") {
			t.Errorf("document %d after import: %+v, want %+v", i, p, prod[i])
		}
	}
	// An edit that adds a new conflict is still refused; one that adds none
	// is written although the imported ones remain.
	if out, err := run("add", "-category", "Game", "-app", "Xcode"); err == nil {
		t.Errorf("a conflicting pattern was written: %s", out)
	}
	if out, err := run("add", "-category", "Game", "-app", "Zzz Quest"); err != nil || !strings.Contains(out, "note: 20 pattern(s)") {
		t.Errorf("add after import: %v\n%s", err, out)
	}
	// The bare-array format still imports.
	arr := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(arr, []byte(`[{"category":"Game","appPatterns":["Zzz Quest","Zzz Two"],"domainPatterns":[]}]`), 0o644)
	if out, err := run("import", arr); err != nil || !strings.Contains(out, "wrote") {
		t.Errorf("import of an array: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"categories": []}`), 0o644)
	if _, err := run("import", bad); err == nil {
		t.Error("an object without categoryPatterns was imported")
	}
}

// patternsTool returns a runner of `pomocore patterns` over a seeded
// SQLite store: its output (stdout and stderr) and error.
func patternsTool(t *testing.T) func(args ...string) (string, error) {
	t.Helper()
	dataDir, st := seededStore(t)
	st.Close()
	env := envOf(map[string]string{"POMOCORE_DATA_DIR": dataDir})
	return func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := patternsCmd(context.Background(), args, env, &out, &errOut)
		return out.String() + errOut.String(), err
	}
}

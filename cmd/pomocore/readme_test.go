package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/pomocore/pomocore/internal/app"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite README's configuration table from the settings")

// The README's configuration table is what operators read: every setting
// `pomocore settings` knows is in it, with the same default and meaning.
func TestReadmeListsEverySettingWithItsDefault(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	c := app.Defaults()
	if *updateReadme {
		writeReadmeTable(t, string(readme), c.Settings())
		return
	}
	rows := map[string]string{}
	header := false
	for _, l := range strings.Split(string(readme), "\n") {
		header = header || strings.HasPrefix(l, "| Environment |")
		if header && strings.HasPrefix(l, "| `") {
			env := strings.Trim(strings.SplitN(l, "|", 3)[1], " `")
			rows[env] = l
		}
	}
	for _, s := range c.Settings() {
		row, ok := rows[s.Env]
		if !ok {
			t.Errorf("README's configuration table lacks %s", s.Env)
			continue
		}
		want := readmeRow(s)
		if row != want {
			t.Errorf("README row of %s:\n got %s\nwant %s", s.Env, row, want)
		}
	}
}

// readmeRow is the README table row of a setting at its default.
func readmeRow(s app.Setting) string {
	def := s.Value.String()
	if s.Env == "POMOCORE_CONSUMER" {
		def = "<host>-<pid>"
	}
	if def != "" {
		def = "`" + def + "`"
	}
	return "| `" + s.Env + "` | `-" + s.Flag + "` | " + def + " | " + s.Help + " |"
}

// writeReadmeTable replaces the rows of README's configuration table with
// those of settings (go test -run TestReadme ./cmd/pomocore -update-readme).
func writeReadmeTable(t *testing.T, readme string, settings []app.Setting) {
	lines := strings.Split(readme, "\n")
	var out []string
	header, done := false, false
	for i := 0; i < len(lines); i++ {
		header = header || strings.HasPrefix(lines[i], "| Environment |")
		if header && !done && strings.HasPrefix(lines[i], "| `") {
			for i < len(lines) && strings.HasPrefix(lines[i], "| `") {
				i++
			}
			for _, s := range settings {
				out = append(out, readmeRow(s))
			}
			done = true
		}
		out = append(out, lines[i])
	}
	if err := os.WriteFile("../../README.md", []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

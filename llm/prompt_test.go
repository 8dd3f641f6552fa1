package llm

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The prompt carries each category's definition, and the embedded
// definitions are docs/categories.md's, word for word (one source of truth).
func TestPromptCarriesTheCategoryDefinitions(t *testing.T) {
	defs := DefaultDefinitions()
	cats := []string{"Meetings", "SNS", "Entertainment"}
	p := systemPrompt(cats, defs)
	for _, c := range cats {
		if defs[c] == "" || !strings.Contains(p, "- "+c+": "+defs[c]) {
			t.Errorf("prompt lacks the definition of %s:\n%s", c, p)
		}
	}
	if strings.Contains(p, defs["Game"]) {
		t.Error("the prompt defines a category it does not offer")
	}
	doc, err := os.ReadFile("../docs/categories.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?ms)^## ([^\n]+)\n\n\*\*Definition\.\*\* (.+?)\n\n`)
	found := 0
	for _, m := range re.FindAllStringSubmatch(string(doc), -1) {
		want := strings.Join(strings.Fields(strings.NewReplacer("**", "", "`", "").Replace(m[2])), " ")
		if defs[m[1]] != want {
			t.Errorf("definitions.json %s = %q, docs/categories.md says %q", m[1], defs[m[1]], want)
		}
		found++
	}
	if found != 19 || len(defs) != 19 {
		t.Errorf("%d definitions in the doc, %d embedded; want production's 19", found, len(defs))
	}
	t.Logf("definitions add %d characters (~%d tokens at 4 characters a token) to the system prompt", len(p)-len(systemPrompt(cats, nil)), (len(p)-len(systemPrompt(cats, nil)))/4)
}

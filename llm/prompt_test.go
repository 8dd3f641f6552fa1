package llm

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pomocore/pomocore"
)

// The prompt carries, for every category the deployment has, its
// definition and every one of its boundary rules; the guide covers
// exactly the categories of docs/categories.md, each with at least one
// boundary rule.
func TestPromptCarriesDefinitionsAndBoundaries(t *testing.T) {
	g := DefaultGuide()
	cats := pomocore.DefaultTaxonomy().Categories
	p := systemPrompt(cats, g)
	for _, c := range cats {
		if g.Definitions[c] == "" || !strings.Contains(p, "\n"+c+": "+g.Definitions[c]+"\n") {
			t.Errorf("the prompt lacks the definition of %s", c)
		}
		if len(g.Boundaries[c]) == 0 {
			t.Errorf("%s has no boundary rules", c)
		}
		for _, r := range g.Boundaries[c] {
			if !strings.Contains(p, "\n - "+r+"\n") {
				t.Errorf("the prompt lacks the boundary rule of %s %q", c, r)
			}
		}
	}
	doc, err := os.ReadFile("../docs/categories.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range regexp.MustCompile(`(?m)^## ([^\n]+)\n\n\*\*Definition\.\*\*`).FindAllStringSubmatch(string(doc), -1) {
		documented = append(documented, m[1])
	}
	slices.Sort(documented)
	for name, m := range map[string]map[string]bool{"definitions": keys(g.Definitions), "boundaries": keys(g.Boundaries)} {
		var got []string
		for c := range m {
			got = append(got, c)
		}
		slices.Sort(got)
		if !slices.Equal(got, documented) || len(got) != 19 {
			t.Errorf("guide %s cover %q; docs/categories.md defines %q", name, got, documented)
		}
	}
}

func keys[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// Without a category, its definition and the rules that send activities
// to it are left out; the other categories keep every other rule.
func TestPromptDropsRulesToMissingCategories(t *testing.T) {
	g := DefaultGuide()
	all := pomocore.DefaultTaxonomy().Categories
	for _, gone := range all {
		cats := slices.DeleteFunc(slices.Clone(all), func(c string) bool { return c == gone })
		p := systemPrompt(cats, g)
		if strings.Contains(p, g.Definitions[gone]) {
			t.Errorf("without %s its definition is still there", gone)
		}
		for _, c := range cats {
			for _, r := range g.Boundaries[c] {
				if want := !slices.Contains(mentions(r, g), gone); strings.Contains(p, r) != want {
					t.Errorf("without %s, rule %q of %s: present %v, want %v", gone, r, c, !want, want)
				}
			}
		}
	}
}

// The guide invents nothing: every example it names in parentheses is
// named in docs/categories.md, and a rule names the category it is listed
// under only to say an activity is not in it.
func TestGuideExamplesComeFromTheDoc(t *testing.T) {
	doc, err := os.ReadFile("../docs/categories.md")
	if err != nil {
		t.Fatal(err)
	}
	lower := strings.ToLower(strings.Join(strings.Fields(strings.ReplaceAll(string(doc), "`", "")), " "))
	g := DefaultGuide()
	var texts []string
	for c, d := range g.Definitions {
		texts = append(texts, d)
		texts = append(texts, g.Boundaries[c]...)
	}
	for _, text := range texts {
		for _, m := range regexp.MustCompile(`\(([^)]*)\)`).FindAllStringSubmatch(text, -1) {
			for _, ex := range strings.Split(m[1], ", ") {
				ex = strings.TrimSuffix(strings.TrimPrefix(ex, "e.g. "), " too")
				if !strings.Contains(lower, strings.ToLower(ex)) {
					t.Errorf("%q (in %q) is not in docs/categories.md", ex, text)
				}
			}
		}
	}
}

// mentions finds category names as whole words only.
func TestMentions(t *testing.T) {
	g := DefaultGuide()
	for text, want := range map[string][]string{
		"Playing games is Game; video games are Entertainment": {"Entertainment", "Game"},
		"System Settings, Games, LLMs, E-commerce & Shopping.": {"E-commerce & Shopping"},
		"nothing here": nil,
	} {
		if got := mentions(text, g); !slices.Equal(got, want) {
			t.Errorf("mentions(%q) = %q, want %q", text, got, want)
		}
	}
}

// A category the guide does not know is still listed as an answer.
func TestPromptListsACategoryWithoutDefinition(t *testing.T) {
	p := systemPrompt([]string{"Development", "Research"}, DefaultGuide())
	if !strings.Contains(p, "\nResearch\n") || !strings.Contains(p, "\nDevelopment: ") {
		t.Errorf("prompt:\n%s", p)
	}
}

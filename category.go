package pomocore

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Uncategorized is the category of the default taxonomy given to activities
// that nothing matched.
const Uncategorized = "Uncategorized"

// Source says which part of the classifier decided a Classification.
type Source string

// The sources of a classification.
const (
	SourceApp     Source = "app"     // the app-name trie
	SourceDomain  Source = "domain"  // the URL host/path automaton
	SourceTitle   Source = "title"   // a title keyword rule
	SourceCache   Source = "cache"   // a remembered earlier answer
	SourceLLM     Source = "llm"     // the LLM fallback
	SourceModel   Source = "model"   // the local learnt model (classify.Model)
	SourceBuiltin Source = "builtin" // the built-in pattern set, where category_pattern is silent (classify.Layer)
	SourceDefault Source = "default" // nothing matched
)

// Pattern reports whether a pattern decided: the app trie, the domain
// automaton, a title rule (of category_pattern) or the built-in pattern
// set. Such an activity is known; it is not an unknown for the model, the
// LLM or the unknowns panel.
func (s Source) Pattern() bool {
	return s == SourceApp || s == SourceDomain || s == SourceTitle || s == SourceBuiltin
}

// Classification is the category given to one activity and how it was found.
type Classification struct {
	Category string
	Source   Source
}

// LLMBased reports whether the classification came from the LLM fallback
// (directly or remembered in its cache), which the categorized_data
// documents record as isLLMBased.
func (c Classification) LLMBased() bool { return c.Source == SourceLLM || c.Source == SourceCache }

// CategoryPattern is one document of the category_pattern collection: the
// patterns that put an activity into Category. Its ID is the categoryId that
// categorized_data and pomodoro_usage_log documents refer to.
type CategoryPattern struct {
	ID             ObjectID
	Category       string
	Priority       int
	AppPatterns    []string
	DomainPatterns []string
	// TitleRules put an activity into Category when its window title
	// contains a keyword and its domain or app is the rule's scope (stored
	// as titleRules; the deployed documents have none).
	TitleRules []TitleRule
}

// TitleRule is a title keyword rule: within Scope — a domain pattern
// ("youtube.com", matching its subdomains too) or "app:" and an app pattern
// ("app:Microsoft Teams") — a title containing any of Keywords (case
// folded) decides the category, over the scope's own pattern.
type TitleRule struct {
	Scope    string   `json:"scope" bson:"scope"`
	Keywords []string `json:"keywords" bson:"keywords"`
}

// Taxonomy is the set of categories, which of them count as work, and the
// names of the work aggregate and of the fallback category. It is data: the
// default is embedded from taxonomy.json and a deployment may load its own.
type Taxonomy struct {
	// Categories lists every category name.
	Categories []string `json:"categories"`
	// Work lists the categories whose time also counts towards WorkAggregate.
	Work []string `json:"work"`
	// WorkAggregate is the pseudo-category whose leaderboards sum the work
	// categories ("work").
	WorkAggregate string `json:"workAggregate"`
	// Default is the category of activities nothing matched ("Uncategorized").
	Default string `json:"default"`

	work  map[string]bool
	known map[string]bool
}

//go:embed taxonomy.json
var defaultTaxonomy []byte

// DefaultTaxonomy returns the taxonomy of the CONTRACT, embedded in the
// binary: production's 19 categories (those of the main server's
// category_pattern; no Communication, no Music), the deployed data server's
// 13 work categories, and Uncategorized as the default.
func DefaultTaxonomy() *Taxonomy {
	t, err := ParseTaxonomy(defaultTaxonomy)
	if err != nil {
		panic(fmt.Sprintf("pomocore: embedded taxonomy.json: %v", err))
	}
	return t
}

// LoadTaxonomy reads a taxonomy JSON file (the format of taxonomy.json).
func LoadTaxonomy(path string) (*Taxonomy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("taxonomy: %w", err)
	}
	t, err := ParseTaxonomy(b)
	if err != nil {
		return nil, fmt.Errorf("taxonomy %s: %w", path, err)
	}
	return t, nil
}

// ParseTaxonomy decodes and validates a taxonomy JSON document.
func ParseTaxonomy(b []byte) (*Taxonomy, error) {
	var t Taxonomy
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// Validate checks that the taxonomy is usable and indexes it. It must be
// called (ParseTaxonomy does) before IsWork or Has.
func (t *Taxonomy) Validate() error {
	var errs []error
	if len(t.Categories) == 0 {
		errs = append(errs, errors.New("categories: empty"))
	}
	t.known = make(map[string]bool, len(t.Categories))
	for _, c := range t.Categories {
		switch {
		case strings.TrimSpace(c) == "":
			errs = append(errs, errors.New("categories: empty name"))
		case strings.Contains(c, ":"):
			errs = append(errs, fmt.Errorf("categories: %q contains ':', which would break leaderboard key names", c))
		case t.known[c]:
			errs = append(errs, fmt.Errorf("categories: %q listed twice", c))
		}
		t.known[c] = true
	}
	t.work = make(map[string]bool, len(t.Work))
	for _, c := range t.Work {
		if !t.known[c] {
			errs = append(errs, fmt.Errorf("work: %q is not one of the categories", c))
		}
		t.work[c] = true
	}
	if !t.known[t.Default] {
		errs = append(errs, fmt.Errorf("default: %q is not one of the categories", t.Default))
	}
	if t.WorkAggregate == "" || strings.Contains(t.WorkAggregate, ":") {
		errs = append(errs, fmt.Errorf("workAggregate: %q must be a non-empty name without ':'", t.WorkAggregate))
	} else if t.known[t.WorkAggregate] {
		errs = append(errs, fmt.Errorf("workAggregate: %q must not also be a category", t.WorkAggregate))
	}
	return errors.Join(errs...)
}

// Has reports whether c is one of the taxonomy's categories.
func (t *Taxonomy) Has(c string) bool { return t.known[c] }

// IsWork reports whether time in category c also counts towards the work
// aggregate.
func (t *Taxonomy) IsWork(c string) bool { return t.work[c] }

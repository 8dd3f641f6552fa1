package classify

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pomocore/pomocore"
)

//go:embed patterns.json
var defaultPatterns []byte

type patternDoc struct {
	Category       string               `json:"category"`
	Priority       int                  `json:"priority"`
	AppPatterns    []string             `json:"appPatterns"`
	DomainPatterns []string             `json:"domainPatterns"`
	TitleRules     []pomocore.TitleRule `json:"titleRules,omitempty"`
}

// DefaultPatterns returns the built-in pattern set (patterns.json, embedded
// in the binary): one CategoryPattern with a zero ID for each of
// production's 19 categories, in the main server's order. It holds every
// pattern of the main server's category-patterns.json, in the category it
// classifies to there (a pattern production has in two categories only in
// the later one), and wider coverage in the same semantics. It seeds an
// empty category_pattern collection and, layered under the collection's
// patterns (Layer), answers what they are silent about.
func DefaultPatterns() []pomocore.CategoryPattern {
	out, err := ParsePatterns(defaultPatterns)
	if err != nil {
		panic(fmt.Sprintf("classify: embedded patterns.json: %v", err))
	}
	return out
}

// ParsePatterns decodes category patterns in either of two shapes: a JSON
// array in the format of patterns.json ({"category", "priority",
// "appPatterns", "domainPatterns", "titleRules": [{"scope", "keywords"}]}),
// or the main server's category-patterns.json, an object whose
// "categoryPatterns" holds that array. Unknown fields (the main server's
// "color") are ignored; a null or absent priority is 0.
func ParsePatterns(b []byte) ([]pomocore.CategoryPattern, error) {
	var docs []patternDoc
	switch t := bytes.TrimLeft(b, " \t\r\n\ufeff"); {
	case len(t) > 0 && t[0] == '{':
		var file struct {
			CategoryPatterns *[]patternDoc `json:"categoryPatterns"`
		}
		if err := json.Unmarshal(t, &file); err != nil {
			return nil, fmt.Errorf("category patterns: %w", err)
		}
		if file.CategoryPatterns == nil {
			return nil, errors.New(`category patterns: an object must hold them in "categoryPatterns"`)
		}
		docs = *file.CategoryPatterns
	default:
		if err := json.Unmarshal(t, &docs); err != nil {
			return nil, fmt.Errorf("category patterns: %w", err)
		}
	}
	out := make([]pomocore.CategoryPattern, len(docs))
	for i, d := range docs {
		out[i] = pomocore.CategoryPattern{Category: d.Category, Priority: d.Priority,
			AppPatterns: nonNil(d.AppPatterns), DomainPatterns: nonNil(d.DomainPatterns), TitleRules: d.TitleRules}
	}
	return out, nil
}

// Restrict compares the taxonomy with the category_pattern documents: a
// category can only be written with a valid categoryId when a document
// names it. usable lists the taxonomy's categories that have a document,
// missing those that have none (both in taxonomy order). The caller treats
// a missing category as the taxonomy's default and reports it.
func Restrict(patterns []pomocore.CategoryPattern, tax *pomocore.Taxonomy) (usable, missing []string) {
	docs := make(map[string]bool, len(patterns))
	for _, p := range patterns {
		docs[p.Category] = true
	}
	for _, c := range tax.Categories {
		if docs[c] {
			usable = append(usable, c)
		} else {
			missing = append(missing, c)
		}
	}
	return usable, missing
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// MarshalPatterns encodes patterns in the format ParsePatterns reads (that
// of patterns.json; IDs are not part of it), indented, HTML not escaped.
func MarshalPatterns(ps []pomocore.CategoryPattern) ([]byte, error) {
	docs := make([]patternDoc, len(ps))
	for i, p := range ps {
		docs[i] = patternDoc{Category: p.Category, Priority: p.Priority, AppPatterns: nonNil(p.AppPatterns),
			DomainPatterns: nonNil(p.DomainPatterns), TitleRules: p.TitleRules}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(docs); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

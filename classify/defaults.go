package classify

import (
	"bytes"
	_ "embed"
	"encoding/json"
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
// in the binary), one CategoryPattern per category with zero IDs. It seeds
// an empty category_pattern collection.
func DefaultPatterns() []pomocore.CategoryPattern {
	out, err := ParsePatterns(defaultPatterns)
	if err != nil {
		panic(fmt.Sprintf("classify: embedded patterns.json: %v", err))
	}
	return out
}

// ParsePatterns decodes a JSON array of category patterns in the format of
// patterns.json: {"category", "priority", "appPatterns", "domainPatterns",
// "titleRules": [{"scope", "keywords"}]}.
func ParsePatterns(b []byte) ([]pomocore.CategoryPattern, error) {
	var docs []patternDoc
	if err := json.Unmarshal(b, &docs); err != nil {
		return nil, err
	}
	out := make([]pomocore.CategoryPattern, len(docs))
	for i, d := range docs {
		out[i] = pomocore.CategoryPattern{Category: d.Category, Priority: d.Priority,
			AppPatterns: nonNil(d.AppPatterns), DomainPatterns: nonNil(d.DomainPatterns), TitleRules: d.TitleRules}
	}
	return out, nil
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

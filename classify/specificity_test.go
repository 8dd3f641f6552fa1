package classify_test

import (
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// TestMainServerSubdomainPatternBeatsParentPath: the most specific host
// wins across a host and its subdomains. Production has sheets.google.com
// (Documentation) and adwords.google.com (Marketing), and google.com/search
// (Browsing): a search inside Sheets or AdWords is the subdomain's, not a
// web search. On google.com itself the path pattern still decides, and on a
// subdomain's own host a path pattern still beats its plain one.
func TestMainServerSubdomainPatternBeatsParentPath(t *testing.T) {
	m, err := classify.Build(productionPatterns(t), pomocore.Uncategorized)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ url, want string }{
		{"https://sheets.google.com/search?q=budget", "Documentation"},
		{"https://adwords.google.com/search", "Marketing"},
		{"https://ads.google.com/search/campaigns", "Marketing"},
		{"https://www.google.com/search?q=redis", "Browsing"},
		{"https://news.google.com/search?q=go", "Browsing"}, // no pattern of its own: the parent's path
	} {
		if got := m.Classify("Google Chrome", c.url, ""); got.Category != c.want || got.Source != pomocore.SourceDomain {
			t.Errorf("Classify(%q) = %+v, want %s by domain", c.url, got, c.want)
		}
	}
	// Within one host a path pattern stays more specific than the plain one,
	// and a subdomain's path pattern beats its parent's.
	m, err = classify.Build([]pomocore.CategoryPattern{
		{Category: "Browsing", DomainPatterns: []string{"google.com/search"}},
		{Category: "Documentation", DomainPatterns: []string{"docs.google.com"}},
		{Category: "Productivity", DomainPatterns: []string{"docs.google.com/search"}},
	}, pomocore.Uncategorized)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ url, want string }{
		{"https://docs.google.com/search", "Productivity"},
		{"https://docs.google.com/document/d/1", "Documentation"},
		{"https://a.docs.google.com/search", "Productivity"},
		{"https://google.com/search", "Browsing"},
	} {
		if got := m.Classify("Safari", c.url, ""); got.Category != c.want {
			t.Errorf("Classify(%q) = %+v, want %s", c.url, got, c.want)
		}
	}
}

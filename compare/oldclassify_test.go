package compare

import (
	"testing"

	"github.com/pomocore/pomocore"
)

func TestOldClassifierReplaysTheDeployedSubstringScan(t *testing.T) {
	o := newOldClassifier([]pomocore.CategoryPattern{
		{Category: "Productivity", AppPatterns: []string{"finder", "WindowManager"}},
		{Category: "File Management", AppPatterns: []string{"finder"}},
		{Category: "SNS", DomainPatterns: []string{"x.com"}},
		{Category: "Entertainment", DomainPatterns: []string{"netflix.com"}},
		{Category: "AFK", DomainPatterns: []string{"afk"}},
		{Category: "Development", DomainPatterns: []string{"localhost"}},
	})
	for _, c := range []struct{ app, url, cat, how string }{
		{"Finder", "", "File Management", "app"},                             // lower-cased, exact; the later document wins
		{"WindowManager", "", "", ""},                                        // a mixed-case pattern never matches a lower-cased app
		{"Finder 2", "", "", ""},                                             // exact only
		{"Chrome", "https://www.netflix.com/browse", "Entertainment", "url"}, // both end at the same rune: the longest
		{"Chrome", "https://fox.com.netflix.com/", "SNS", "url"},             // "x.com" ends first
		{"Chrome", "https://kafka.apache.org/", "AFK", "url"},                // "afk" inside a word
		{"Chrome", "https://accounts.example/login?redirect_uri=localhost", "Development", "url"},
		{"Chrome", "https://example.org/", "", ""},
	} {
		cat, how, _ := o.classify(c.app, c.url)
		if cat != c.cat || how != c.how {
			t.Errorf("classify(%q, %q) = %q by %q, want %q by %q", c.app, c.url, cat, how, c.cat, c.how)
		}
	}
}

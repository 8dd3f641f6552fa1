package classify

import (
	"sort"
	"strings"
)

// Answer is one remembered fallback answer: an activity and its category.
type Answer struct {
	App, URL, Title, Category string
}

// Suggestion proposes a pattern the fallback has answered consistently: a
// domain (for activities with a URL) or an app name.
type Suggestion struct {
	Category      string `json:"category"`
	DomainPattern string `json:"domainPattern,omitempty"`
	AppPattern    string `json:"appPattern,omitempty"`
	// Answers is how many answers agree.
	Answers int `json:"answers"`
}

// Suggest groups answers by URL host (or, without a URL, by app name
// without trailing versions, edition words and numbers) and proposes a
// pattern for each group answered at least min times, always with the same
// category, that m (when not nil) does not already match. An app pattern is
// the words the group's names share: "Zzz Paint 3" and "Zzz Paint 4" give
// "zzz paint", "IntelliJ IDEA 2024.2.1" gives "intellij idea", and "Dota 2"
// alone stays "dota 2". Suggestions are sorted by category, then pattern.
func Suggest(answers []Answer, min int, m *Matcher) []Suggestion {
	type group struct {
		domain, app string
		cats        map[string]int
	}
	groups := map[string]*group{}
	for _, a := range answers {
		host, _ := Host(a.URL)
		k, g := "", &group{}
		if host != "" {
			k, g.domain = "d:"+host, host
		} else if app := baseAppName(a.App); app != "" {
			k, g.app = "a:"+withoutTrailingNumber(app), app
		} else {
			continue
		}
		if existing, ok := groups[k]; ok {
			g = existing
			if g.app != "" {
				g.app = commonWords(g.app, baseAppName(a.App))
			}
		} else {
			g.cats = map[string]int{}
			groups[k] = g
		}
		g.cats[a.Category]++
	}
	var out []Suggestion
	for _, g := range groups {
		if len(g.cats) != 1 {
			continue // the answers disagree
		}
		for cat, n := range g.cats {
			if n < min {
				continue
			}
			if m != nil {
				probe := m.Classify(g.app, "", "")
				if g.domain != "" {
					probe = m.Classify("", "https://"+g.domain+"/", "")
				}
				if probe.Category == cat {
					continue // a pattern already says so
				}
			}
			out = append(out, Suggestion{Category: cat, DomainPattern: g.domain, AppPattern: g.app, Answers: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Category != out[j].Category {
			return out[i].Category < out[j].Category
		}
		return out[i].DomainPattern+out[i].AppPattern < out[j].DomainPattern+out[j].AppPattern
	})
	return out
}

// withoutTrailingNumber drops a last word made of digits: "zzz paint 3" ->
// "zzz paint", the key that groups an app's numbered releases.
func withoutTrailingNumber(app string) string {
	i := strings.LastIndexByte(app, ' ')
	if i < 0 || strings.Trim(app[i+1:], "0123456789") != "" {
		return app
	}
	return app[:i]
}

// commonWords returns the longest run of leading words a and b share.
func commonWords(a, b string) string {
	wa, wb := strings.Fields(a), strings.Fields(b)
	n := 0
	for n < len(wa) && n < len(wb) && wa[n] == wb[n] {
		n++
	}
	return strings.Join(wa[:n], " ")
}

package compare

import (
	"slices"
	"strings"

	"github.com/pomocore/pomocore"
)

// oldClassifier replays the deployed data server's pattern classifier
// (CONTRACT §7): the app name lower-cased and looked up exactly among the
// app patterns as stored (so "IntelliJ IDEA 2025.2" and the mixed-case
// patterns never match), else the first domain pattern found as a plain
// substring of the whole URL (an Aho-Corasick scan: the earliest end
// position wins, and there the longest pattern), so "x.com" matches
// "netflix.com" and "afk" matches "kafka". A pattern in two documents goes
// to the one loaded later. It does not know what the deployed LLM answered.
type oldClassifier struct {
	apps    map[string]string
	domains map[string]string
	lengths []int // distinct domain pattern lengths in runes, longest first
}

func newOldClassifier(patterns []pomocore.CategoryPattern) *oldClassifier {
	o := &oldClassifier{apps: map[string]string{}, domains: map[string]string{}}
	seen := map[int]bool{}
	for _, p := range patterns {
		for _, a := range p.AppPatterns {
			if a != "" {
				o.apps[a] = p.Category
			}
		}
		for _, d := range p.DomainPatterns {
			if d == "" {
				continue
			}
			o.domains[d] = p.Category
			if n := len([]rune(d)); !seen[n] {
				seen[n] = true
				o.lengths = append(o.lengths, n)
			}
		}
	}
	slices.Sort(o.lengths)
	slices.Reverse(o.lengths)
	return o
}

// classify returns the deployed classifier's category and how it found
// it: "app", "url", or "" with no category when it would have asked its
// LLM.
func (o *oldClassifier) classify(app, url string) (category, how, pattern string) {
	if c, ok := o.apps[strings.ToLower(app)]; ok {
		return c, "app", strings.ToLower(app)
	}
	rs := []rune(url)
	for end := 1; end <= len(rs); end++ {
		for _, n := range o.lengths {
			if n > end {
				continue
			}
			if c, ok := o.domains[string(rs[end-n:end])]; ok {
				return c, "url", string(rs[end-n : end])
			}
		}
	}
	return "", "", ""
}

// Package classify gives an activity its category by pattern matching. It is
// pure: no I/O.
//
// Two structures, built once from the category_pattern documents and then
// read-only (safe for concurrent use, no allocation per lookup):
//   - a trie over normalised app names (NormalizeApp). A pattern matches an
//     app equal to it or starting with it followed by a space: "visual
//     studio code" matches "visual studio code - insiders", "code" does not
//     match "codebase". The longest matching pattern wins.
//   - an Aho-Corasick automaton over URL hosts (Host). A domain pattern
//     matches the host and its subdomains on label boundaries: "x.com"
//     matches "x.com" and "mobile.x.com", never "linux.com". A pattern may
//     carry a path prefix ("docs.google.com/document"), matched on path
//     segment boundaries.
//
// Precedence, in order: a higher CategoryPattern.Priority wins; then the
// more specific match (a path pattern over a host pattern, a longer host —
// a subdomain — over a shorter one, any domain match over an app match);
// then the app. A title rule (a keyword in the window title, within a
// domain or an app) outranks its scope's own patterns at equal priority:
// youtube.com is Entertainment, a lecture on youtube.com Education. An app of
// the browser category (Browsing) never decides
// when a URL is present: a browser with an unmatched URL is the default
// category, not Browsing.
package classify

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/net/idna"

	"github.com/pomocore/pomocore"
)

// BrowserCategory is the category whose apps are browsers: their name says
// nothing about what the user does when a URL is known.
const BrowserCategory = "Browsing"

// rule is one category assignment with its precedence.
type rule struct {
	category string
	priority int
	set      bool
}

// titleRule is a compiled TitleRule: the set of its keywords (ids in the
// matcher's keyword automaton) and the rule they give.
type titleRule struct {
	mask []uint64 // bit id set for each of its keywords' ids
	rule rule
}

// titleScan finds, once per Classify and only when some scope has title
// rules, which keywords occur in the title. It lives on the stack.
type titleScan struct {
	title   string
	scanned bool
	found   [32]int32
	n       int
	over    bool // more than len(found) keywords: every id counts as found
}

// titleMatch returns the rule of the first of rules with a keyword in the
// title.
func (m *Matcher) titleMatch(rules []titleRule, ts *titleScan) rule {
	if len(rules) == 0 || ts.title == "" {
		return rule{}
	}
	if !ts.scanned {
		ts.scanned = true
		m.keywords.scan(ts)
	}
	for _, tr := range rules {
		if ts.over {
			return tr.rule
		}
		for _, id := range ts.found[:ts.n] {
			if w := int(id >> 6); w < len(tr.mask) && tr.mask[w]&(1<<(id&63)) != 0 {
				return tr.rule
			}
		}
	}
	return rule{}
}

// Matcher classifies activities by app name and URL. Build it with Build;
// it is immutable and safe for concurrent use.
type Matcher struct {
	def     string
	apps    trie
	domains automaton
	nApps   int
	nDoms   int
	// maxAppPriority is the highest priority of any app pattern.
	maxAppPriority int
	keywords       keywordAutomaton
}

// Build compiles the patterns. defaultCategory is given when nothing
// matches. An empty pattern, or one pattern claimed by two categories at the
// same priority, is an error naming both.
func Build(patterns []pomocore.CategoryPattern, defaultCategory string) (*Matcher, error) {
	m := &Matcher{def: defaultCategory}
	appRules := map[string]rule{}
	type hostRules struct {
		plain rule
		paths map[string]rule
	}
	hosts := map[string]*hostRules{}
	hostTitles := map[string][]titleRule{}
	appTitles := map[string][]titleRule{}
	keywordIDs := map[string]int32{}
	var keywordList []string
	claim := func(existing rule, p pomocore.CategoryPattern, what string) (rule, error) {
		r := rule{category: p.Category, priority: p.Priority, set: true}
		switch {
		case !existing.set || p.Priority > existing.priority:
			return r, nil
		case p.Priority < existing.priority || existing.category == p.Category:
			return existing, nil
		}
		return existing, fmt.Errorf("pattern %q is in both %q and %q at priority %d", what, existing.category, p.Category, p.Priority)
	}
	for _, p := range patterns {
		if strings.TrimSpace(p.Category) == "" {
			return nil, fmt.Errorf("category_pattern %s: empty category", p.ID)
		}
		for _, a := range p.AppPatterns {
			n := NormalizeApp(a)
			if n == "" {
				return nil, fmt.Errorf("category %q: app pattern %q is empty once normalised", p.Category, a)
			}
			r, err := claim(appRules[n], p, a)
			if err != nil {
				return nil, err
			}
			appRules[n] = r
		}
		for _, tr := range p.TitleRules {
			var ids []int32
			for _, k := range tr.Keywords {
				if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
					id, ok := keywordIDs[k]
					if !ok {
						id = int32(len(keywordList))
						keywordIDs[k] = id
						keywordList = append(keywordList, k)
					}
					ids = append(ids, id)
				}
			}
			if len(ids) == 0 {
				return nil, fmt.Errorf("category %q: title rule for %q has no keyword", p.Category, tr.Scope)
			}
			compiled := titleRule{rule: rule{category: p.Category, priority: p.Priority, set: true}}
			for _, id := range ids {
				for int(id>>6) >= len(compiled.mask) {
					compiled.mask = append(compiled.mask, 0)
				}
				compiled.mask[id>>6] |= 1 << (id & 63)
			}
			if app, ok := strings.CutPrefix(tr.Scope, "app:"); ok {
				n := NormalizeApp(app)
				if n == "" {
					return nil, fmt.Errorf("category %q: title rule scope %q names no app", p.Category, tr.Scope)
				}
				appTitles[n] = append(appTitles[n], compiled)
				if _, ok := appRules[n]; !ok {
					appRules[n] = rule{} // a trie node to hang the rules on
				}
				continue
			}
			host, _ := Host(tr.Scope)
			if host == "" {
				return nil, fmt.Errorf("category %q: title rule scope %q has no host", p.Category, tr.Scope)
			}
			for _, host := range idnForms(host) {
				hostTitles[host] = append(hostTitles[host], compiled)
				if hosts[host] == nil {
					hosts[host] = &hostRules{paths: map[string]rule{}}
				}
			}
		}
		for _, d := range p.DomainPatterns {
			host, path := Host(d)
			if host == "" || strings.ContainsAny(host, " \t") {
				return nil, fmt.Errorf("category %q: domain pattern %q has no host", p.Category, d)
			}
			path = strings.TrimRight(path, "/")
			// An internationalised host matches in both its Unicode and its
			// punycode (xn--) form, so URLs need no conversion.
			for _, host := range idnForms(host) {
				h := hosts[host]
				if h == nil {
					h = &hostRules{paths: map[string]rule{}}
					hosts[host] = h
				}
				var err error
				if path == "" {
					h.plain, err = claim(h.plain, p, d)
				} else {
					h.paths[path], err = claim(h.paths[path], p, d)
				}
				if err != nil {
					return nil, err
				}
			}
		}
	}
	names := make([]string, 0, len(appRules))
	for n := range appRules {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		r := appRules[n]
		if i == 0 || r.priority > m.maxAppPriority {
			m.maxAppPriority = r.priority
		}
		for _, tr := range appTitles[n] {
			m.maxAppPriority = max(m.maxAppPriority, tr.rule.priority)
		}
		m.apps.insert(n, r, appTitles[n])
	}
	m.apps.freeze()
	m.nApps = len(names)

	hostNames := make([]string, 0, len(hosts))
	for h := range hosts {
		hostNames = append(hostNames, h)
	}
	sort.Strings(hostNames)
	entries := make([]hostEntry, len(hostNames))
	for i, h := range hostNames {
		e := hostEntry{host: h, plain: hosts[h].plain, titles: hostTitles[h]}
		for path, r := range hosts[h].paths {
			e.paths = append(e.paths, pathRule{prefix: path, rule: r})
			m.nDoms++
		}
		// Longest path prefix first.
		sort.Slice(e.paths, func(a, b int) bool { return len(e.paths[a].prefix) > len(e.paths[b].prefix) })
		if e.plain.set {
			m.nDoms++
		}
		entries[i] = e
	}
	m.domains = buildAutomaton(entries)
	m.keywords = buildKeywords(keywordList)
	return m, nil
}

// idnForms returns host and, for an internationalised domain name, its
// other form (punycode for Unicode, Unicode for xn-- labels).
func idnForms(host string) []string {
	var alt string
	var err error
	switch {
	case !isASCII(host):
		alt, err = idna.Lookup.ToASCII(host)
	case strings.Contains(host, "xn--"):
		alt, err = idna.Lookup.ToUnicode(host)
	}
	if err != nil || alt == "" || alt == host {
		return []string{host}
	}
	return []string{host, strings.ToLower(alt)}
}

// Stats returns how many app and domain patterns the matcher holds.
func (m *Matcher) Stats() (apps, domains int) { return m.nApps, m.nDoms }

// Classify returns the category of an activity. Source is SourceTitle,
// SourceDomain, SourceApp or SourceDefault.
func (m *Matcher) Classify(app, url, title string) pomocore.Classification {
	var dom rule
	domByTitle := false
	ts := titleScan{title: title}
	if url != "" {
		host, path := splitURL(url)
		dom, domByTitle = m.domains.match(m, host, path, &ts)
		if dom.set && dom.priority >= m.maxAppPriority {
			// No app pattern can outrank it: skip the app lookup.
			return classification(dom, domByTitle, pomocore.SourceDomain)
		}
	}
	var ab [maxName / 2]byte
	appRule, titles := m.apps.match(normalizeApp(ab[:0], app))
	appByTitle := false
	if tr := m.titleMatch(titles, &ts); tr.set {
		appRule, appByTitle = tr, true
	}
	if appRule.set && appRule.category == BrowserCategory && url != "" && !appByTitle {
		appRule = rule{} // a browser's name never decides when a URL is known
	}
	switch {
	case dom.set && (!appRule.set || dom.priority >= appRule.priority):
		return classification(dom, domByTitle, pomocore.SourceDomain)
	case appRule.set:
		return classification(appRule, appByTitle, pomocore.SourceApp)
	}
	return pomocore.Classification{Category: m.def, Source: pomocore.SourceDefault}
}

func classification(r rule, byTitle bool, src pomocore.Source) pomocore.Classification {
	if byTitle {
		src = pomocore.SourceTitle
	}
	return pomocore.Classification{Category: r.category, Source: src}
}

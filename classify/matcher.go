// Package classify gives an activity its category by pattern matching. It is
// pure: no I/O.
//
// Two structures, built once from the category_pattern documents and then
// read-only (safe for concurrent use, no allocation per lookup):
//   - a trie over app names in the form NormalizeApp gives them (case and
//     white space folded, nothing else removed). A pattern matches an app
//     equal to it or starting with it followed by a space: "visual studio
//     code" matches "visual studio code - insiders", "intellij idea" matches
//     "intellij idea 2025.2", "code" does not match "codebase". The longest
//     matching pattern wins. When the whole name matches nothing, it is
//     tried again without a leading vendor word, so "Adobe Photoshop 2025"
//     matches "photoshop"; patterns are never shortened ("affinity photo"
//     does not become "photo").
//   - an Aho-Corasick automaton over URL hosts (Host). A domain pattern
//     matches the host and its subdomains on label boundaries: "x.com"
//     matches "x.com" and "mobile.x.com", never "netflix.com". A pattern may
//     carry a path prefix ("google.com/search"), matched on path segment
//     boundaries. A domain pattern that is one bare word ("afk",
//     "loginwindow", "swagger-ui": no dot, not localhost) also matches a
//     whole path segment (or one up to its extension, "swagger-ui.html"),
//     below any host match; never part of a word ("kafka"), never the query.
//     The macOS client reports an idle or locked screen as app and URL "afk"
//     or "loginwindow", which such a pattern matches as a host.
//
// Layer puts a second matcher (the built-in set) under the first (the
// store's category_pattern): it answers, as SourceBuiltin, only where the
// first is silent; Disagreements lists the patterns the two sets give
// different categories.
//
// Precedence, in order: a higher CategoryPattern.Priority wins; then the
// more specific match (a longer host — a subdomain — over a shorter one,
// its own plain pattern over a path pattern of its parent, so that
// "sheets.google.com" decides sheets.google.com/search over
// "google.com/search"; within one host a path pattern over the plain one,
// the longer path first; any host over a bare word in the path; any domain
// match over an app match); then the app. A title rule (a
// keyword in the window title, within a domain or an app) outranks its
// scope's own patterns at equal priority: youtube.com is Entertainment, a
// lecture on youtube.com Education. An app of the browser category
// (Browsing) never decides when a URL is present: a browser with an
// unmatched URL is the default category, not Browsing.
//
// A pattern that two documents give different categories at the same
// priority (production has twenty, e.g. "finder" in Productivity and in File
// Management) goes to the document loaded later, as the deployed classifier
// did; Matcher.Conflicts lists them.
package classify

import (
	"fmt"
	"slices"
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
	// words are the bare-word domain patterns, matched on path segments;
	// maxWordPriority is their highest priority.
	words           []wordRule
	maxWordPriority int
	conflicts       []Conflict
	// under answers where this matcher is silent, within allowed (Layer).
	under   *Matcher
	allowed map[string]bool
}

// wordRule is a bare-word domain pattern ("afk", "swagger-ui") and its rule.
type wordRule struct {
	word string // lower-case
	rule rule
}

// Conflict is a pattern that documents of different categories claim at the
// same priority. Build resolves it as the deployed classifier did: the
// document loaded later wins.
type Conflict struct {
	// Kind is "app" or "domain".
	Kind string
	// Pattern is the pattern as matched (normalised).
	Pattern string
	// Categories lists the claiming categories in load order, each once;
	// the last one wins.
	Categories []string
	// Priority is the priority they share.
	Priority int
}

// Winner returns the category the pattern classifies to: the last claimant.
func (c Conflict) Winner() string { return c.Categories[len(c.Categories)-1] }

// String describes the conflict and its resolution: `app "finder" in
// Productivity, File Management: File Management wins`.
func (c Conflict) String() string {
	return fmt.Sprintf("%s %q in %s: %s wins", c.Kind, c.Pattern, strings.Join(c.Categories, ", "), c.Winner())
}

// Build compiles the patterns, in the order given (that of the
// category_pattern documents as loaded). defaultCategory is given when
// nothing matches. A pattern claimed by several documents goes to the one of
// highest priority; at equal priority to the one loaded later (as deployed),
// which Conflicts then reports. Only a malformed document is an error: no
// category, an empty app pattern, a domain pattern without a host, a title
// rule without a keyword or scope.
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
	conflicts := map[string]int{} // kind+"\x00"+pattern -> index in m.conflicts
	claim := func(existing rule, p pomocore.CategoryPattern, kind, pattern string) rule {
		r := rule{category: p.Category, priority: p.Priority, set: true}
		key := kind + "\x00" + pattern
		switch {
		case !existing.set:
			return r
		case p.Priority > existing.priority:
			if i, ok := conflicts[key]; ok {
				m.conflicts[i].Categories = nil // an explicit priority settled it
			}
			return r
		case p.Priority < existing.priority || existing.category == p.Category:
			return existing
		}
		i, ok := conflicts[key]
		if !ok || m.conflicts[i].Categories == nil {
			conflicts[key] = len(m.conflicts)
			m.conflicts = append(m.conflicts, Conflict{Kind: kind, Pattern: pattern, Priority: p.Priority,
				Categories: []string{existing.category}})
			i = len(m.conflicts) - 1
		}
		c := &m.conflicts[i]
		c.Categories = slices.DeleteFunc(c.Categories, func(s string) bool { return s == p.Category })
		c.Categories = append(c.Categories, p.Category)
		return r
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
			appRules[n] = claim(appRules[n], p, "app", n)
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
			// punycode (xn--) form, so URLs need no conversion. Conflicts
			// are named by the first form.
			forms := idnForms(host)
			name := forms[0] + path
			for _, host := range forms {
				h := hosts[host]
				if h == nil {
					h = &hostRules{paths: map[string]rule{}}
					hosts[host] = h
				}
				if path == "" {
					h.plain = claim(h.plain, p, "domain", name)
				} else {
					h.paths[path] = claim(h.paths[path], p, "domain", name)
				}
			}
		}
	}
	m.conflicts = slices.DeleteFunc(m.conflicts, func(c Conflict) bool { return c.Categories == nil })
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
			if isBareWord(h) {
				if len(m.words) == 0 || e.plain.priority > m.maxWordPriority {
					m.maxWordPriority = e.plain.priority
				}
				m.words = append(m.words, wordRule{word: h, rule: e.plain})
			}
		}
		entries[i] = e
	}
	m.domains = buildAutomaton(entries)
	m.keywords = buildKeywords(keywordList)
	return m, nil
}

// isBareWord reports whether a domain pattern's host is one word rather
// than a host name: no dot, no port or IPv6 literal, not localhost.
func isBareWord(host string) bool {
	return host != "localhost" && !strings.ContainsAny(host, ".:[")
}

// matchWords returns the best rule among the bare-word patterns equal to a
// segment of path, or to a segment up to its first dot ("swagger-ui.html"),
// ignoring case.
func (m *Matcher) matchWords(path string) rule {
	var best rule
	for len(path) > 0 {
		if path[0] == '/' {
			path = path[1:]
			continue
		}
		end := strings.IndexByte(path, '/')
		if end < 0 {
			end = len(path)
		}
		seg := path[:end]
		path = path[end:]
		if i := strings.IndexByte(seg, '.'); i >= 0 {
			seg = seg[:i]
		}
		for i := range m.words {
			w := &m.words[i]
			if len(seg) == len(w.word) && strings.EqualFold(seg, w.word) && (!best.set || w.rule.priority > best.priority) {
				best = w.rule
			}
		}
	}
	return best
}

// Conflicts returns the patterns that documents of different categories
// claim at the same priority, in the order they were met, each resolved to
// the document loaded later. The caller owns the slice.
func (m *Matcher) Conflicts() []Conflict {
	out := make([]Conflict, len(m.conflicts))
	for i, c := range m.conflicts {
		c.Categories = slices.Clone(c.Categories)
		out[i] = c
	}
	return out
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
// SourceDomain, SourceApp or SourceDefault; on a matcher from Layer also
// SourceBuiltin, where the layer under it decided.
func (m *Matcher) Classify(app, url, title string) pomocore.Classification {
	var dom rule
	domByTitle := false
	ts := titleScan{title: title}
	if url != "" {
		host, path := splitURL(url)
		dom, domByTitle = m.domains.match(m, host, path, &ts)
		if len(m.words) > 0 && path != "" && (!dom.set || m.maxWordPriority > dom.priority) {
			// A bare word in the path ranks below any host at equal priority.
			if w := m.matchWords(path); w.set && (!dom.set || w.priority > dom.priority) {
				dom, domByTitle = w, false
			}
		}
		if dom.set && dom.priority >= m.maxAppPriority {
			// No app pattern can outrank it: skip the app lookup.
			return classification(dom, domByTitle, pomocore.SourceDomain)
		}
	}
	var ab [maxName / 2]byte
	name := normalizeApp(ab[:0], app)
	appRule, titles := m.apps.match(name)
	if !appRule.set && titles == nil {
		if rest := withoutVendor(name); rest != nil {
			appRule, titles = m.apps.match(rest)
		}
	}
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
	return m.silent(app, url, title)
}

func classification(r rule, byTitle bool, src pomocore.Source) pomocore.Classification {
	if byTitle {
		src = pomocore.SourceTitle
	}
	return pomocore.Classification{Category: r.category, Source: src}
}

package classify

import "sort"

// trie is a byte trie of normalised app names. It is built with insert,
// then frozen into flat arrays (edges of a node sorted by byte) so that a
// lookup walks cache-friendly slices and allocates nothing.
type trie struct {
	build []map[byte]int32 // children while building; nil once frozen

	first  []int32       // per node: index of its first edge; a node's edges end where the next node's begin
	label  []byte        // per edge: byte
	to     []int32       // per edge: child node
	term   []rule        // per node: the rule of a pattern ending here
	titles [][]titleRule // per node: title rules scoped to that app
}

func (t *trie) insert(name string, r rule, titles []titleRule) {
	if t.build == nil {
		t.build = []map[byte]int32{{}}
		t.term = []rule{{}}
		t.titles = [][]titleRule{nil}
	}
	n := int32(0)
	for i := 0; i < len(name); i++ {
		next, ok := t.build[n][name[i]]
		if !ok {
			next = int32(len(t.build))
			t.build = append(t.build, map[byte]int32{})
			t.term = append(t.term, rule{})
			t.titles = append(t.titles, nil)
			t.build[n][name[i]] = next
		}
		n = next
	}
	t.term[n] = r
	t.titles[n] = titles
}

func (t *trie) freeze() {
	if t.build == nil {
		t.build = []map[byte]int32{{}}
		t.term = []rule{{}}
		t.titles = [][]titleRule{nil}
	}
	t.first = make([]int32, len(t.build))
	for n, kids := range t.build {
		t.first[n] = int32(len(t.label))
		keys := make([]int, 0, len(kids))
		for b := range kids {
			keys = append(keys, int(b))
		}
		sort.Ints(keys)
		for _, b := range keys {
			t.label = append(t.label, byte(b))
			t.to = append(t.to, kids[byte(b)])
		}
	}
	t.build = nil
}

func (t *trie) edges(n int32) (lo, hi int32) {
	lo = t.first[n]
	if int(n+1) < len(t.first) {
		return lo, t.first[n+1]
	}
	return lo, int32(len(t.label))
}

// match returns the rule and the title rules of the longest pattern that
// equals name or is a prefix of it ending at a space.
func (t *trie) match(name []byte) (rule, []titleRule) {
	var best rule
	var titles []titleRule
	n := int32(0)
	for i := 0; i < len(name); i++ {
		lo, hi := t.edges(n)
		c := name[i]
		next := int32(-1)
		for e := lo; e < hi; e++ {
			if t.label[e] == c {
				next = t.to[e]
				break
			}
			if t.label[e] > c {
				break
			}
		}
		if next < 0 {
			return best, titles
		}
		n = next
		if (t.term[n].set || t.titles[n] != nil) && (i+1 == len(name) || name[i+1] == ' ') {
			best, titles = t.term[n], t.titles[n]
		}
	}
	return best, titles
}

// hostEntry is one host pattern: its plain rule and its path rules.
type hostEntry struct {
	host   string
	plain  rule
	paths  []pathRule  // longest prefix first
	titles []titleRule // title keyword rules within this host
}

type pathRule struct {
	prefix string // "/document", lower-case, no trailing slash
	rule   rule
}

// automaton is an Aho-Corasick automaton over the host patterns, compiled
// to a dense transition table over the byte classes that occur in patterns
// (every other byte is class 0, which leads back to the root).
type automaton struct {
	class    [256]uint8
	nClass   int
	delta    []int32 // state*nClass + class -> state
	out      []int32 // per state: entry whose host ends here, or -1
	dictLink []int32 // per state: next state on the failure chain with out >= 0, or -1
	entries  []hostEntry
}

func buildAutomaton(entries []hostEntry) automaton {
	a := automaton{entries: entries}
	// Byte classes; an upper-case ASCII letter shares its lower case's
	// class, so hosts are matched without being copied and lower-cased.
	a.nClass = 1
	for _, e := range entries {
		for i := 0; i < len(e.host); i++ {
			if a.class[e.host[i]] == 0 {
				a.class[e.host[i]] = uint8(a.nClass)
				a.nClass++
			}
		}
	}
	for c := 'a'; c <= 'z'; c++ {
		a.class[c-'a'+'A'] = a.class[c]
	}
	total := 1
	for _, e := range entries {
		total += len(e.host)
	}
	a.delta = make([]int32, 0, total*a.nClass)
	a.out = make([]int32, 0, total)
	// The goto trie, in the dense table directly; -1 is "no edge" until the
	// failure links fill it in.
	newState := func() int32 {
		for i := 0; i < a.nClass; i++ {
			a.delta = append(a.delta, -1)
		}
		a.out = append(a.out, -1)
		return int32(len(a.out) - 1)
	}
	newState()
	for i, e := range entries {
		s := int32(0)
		for j := 0; j < len(e.host); j++ {
			c := int32(a.class[e.host[j]])
			next := a.delta[s*int32(a.nClass)+c]
			if next < 0 {
				next = newState()
				a.delta[s*int32(a.nClass)+c] = next
			}
			s = next
		}
		a.out[s] = int32(i)
	}
	n := int32(a.nClass)
	a.dictLink = completeGoto(a.delta, a.out, n)
	// Premultiply: an entry holds next*nClass, the row offset of the next
	// state, which takes a multiplication off the matching loop.
	for i := range a.delta {
		a.delta[i] *= n
	}
	return a
}

// match returns the best rule among the host patterns that are the host or
// a parent domain of it (matched on a label boundary), considering their
// title and path rules, and whether a title rule gave it.
func (a *automaton) match(m *Matcher, host, path string, ts *titleScan) (rule, bool) {
	if len(a.entries) == 0 || len(host) == 0 {
		return rule{}, false
	}
	pos := int32(0) // state * nClass
	delta, class := a.delta, &a.class
	for i := 0; i < len(host); i++ {
		pos = delta[pos+int32(class[host[i]])]
	}
	s := pos / int32(a.nClass)
	var best rule
	bestSpec := -1
	byTitle := false
	for o := s; o >= 0; o = a.dictLink[o] {
		if a.out[o] < 0 {
			continue
		}
		e := &a.entries[a.out[o]]
		start := len(host) - len(e.host)
		if start > 0 && host[start-1] != '.' {
			continue // "linux.com" ends with "x.com" but not on a label boundary
		}
		// The longer host (a subdomain) ranks first, its own plain pattern
		// above a path pattern of its parent; within one host a path ranks
		// above the plain pattern, the longer path first. A title rule of any
		// host ranks above them all.
		spec := min(len(e.host), 1<<12-1) << 12 // DNS names are at most 253 bytes
		if tr := m.titleMatch(e.titles, ts); tr.set {
			if better(&best, &bestSpec, tr, 1<<24+spec) {
				byTitle = true
			}
		}
		for _, p := range e.paths {
			if hasPathPrefix(path, p.prefix) {
				if better(&best, &bestSpec, p.rule, spec+1<<11+min(len(p.prefix), 1<<11-1)) {
					byTitle = false
				}
				break
			}
		}
		if e.plain.set {
			if better(&best, &bestSpec, e.plain, spec) {
				byTitle = false
			}
		}
	}
	return best, byTitle
}

// better replaces best with r when r ranks higher and reports whether it did.
func better(best *rule, bestSpec *int, r rule, spec int) bool {
	if !best.set || r.priority > best.priority || (r.priority == best.priority && spec > *bestSpec) {
		*best, *bestSpec = r, spec
		return true
	}
	return false
}

// hasPathPrefix reports whether path starts with prefix (lower-case) on a
// segment boundary, ignoring ASCII case: "/Document/d/1" has "/document",
// "/documents" does not.
func hasPathPrefix(path string, prefix string) bool {
	if len(path) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := path[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/' || prefix[len(prefix)-1] == '/'
}

// keywordAutomaton is an Aho-Corasick automaton over the title keywords
// (lower-case), scanned over a title once, folding ASCII case through its
// byte classes.
type keywordAutomaton struct {
	class    [256]uint8
	nClass   int32
	delta    []int32
	out      []int32 // per state: keyword ending here, or -1
	dictLink []int32
	emit     []int32 // per state: the first state of its failure chain with a keyword (itself included), or -1
	// step is delta for the scan loop: entry state*nClass+class holds
	// next*nClass<<1, with bit 0 set when next emits a keyword.
	step []int32
}

func buildKeywords(keywords []string) keywordAutomaton {
	k := keywordAutomaton{nClass: 1}
	for _, w := range keywords {
		for i := 0; i < len(w); i++ {
			if k.class[w[i]] == 0 {
				k.class[w[i]] = uint8(k.nClass)
				k.nClass++
			}
		}
	}
	for c := 'a'; c <= 'z'; c++ {
		k.class[c-'a'+'A'] = k.class[c]
	}
	n := k.nClass
	newState := func() int32 {
		for i := int32(0); i < n; i++ {
			k.delta = append(k.delta, -1)
		}
		k.out = append(k.out, -1)
		return int32(len(k.out) - 1)
	}
	newState()
	for id, w := range keywords {
		s := int32(0)
		for i := 0; i < len(w); i++ {
			c := int32(k.class[w[i]])
			next := k.delta[s*n+c]
			if next < 0 {
				next = newState()
				k.delta[s*n+c] = next
			}
			s = next
		}
		k.out[s] = int32(id)
	}
	k.dictLink = completeGoto(k.delta, k.out, n)
	k.emit = make([]int32, len(k.out))
	for st := range k.out {
		if k.out[st] >= 0 {
			k.emit[st] = int32(st)
		} else {
			k.emit[st] = k.dictLink[st]
		}
	}
	k.step = make([]int32, len(k.delta))
	for i, next := range k.delta {
		v := next * n << 1
		if k.emit[next] >= 0 {
			v |= 1
		}
		k.step[i] = v
	}
	return k
}

// scan records in ts the keywords that occur in its title. ASCII letters
// are matched without case; other bytes as they are (keywords in scripts
// with case should be given lower-case, and titles are matched as sent).
func (k *keywordAutomaton) scan(ts *titleScan) {
	if len(k.out) <= 1 {
		return
	}
	title := ts.title
	pos := int32(0) // state * nClass
	step, n, class := k.step, k.nClass, &k.class
	for i := 0; i < len(title); i++ {
		if pos == 0 {
			// At the root most bytes start no keyword: skip them with
			// independent loads, off the state's dependency chain.
			for i < len(title) && step[class[title[i]]] == 0 {
				i++
			}
			if i == len(title) {
				return
			}
		}
		v := step[pos+int32(class[title[i]])]
		pos = v >> 1
		if v&1 == 0 {
			continue
		}
		for o := k.emit[pos/n]; o >= 0; o = k.dictLink[o] {
			if k.out[o] < 0 {
				continue
			}
			if ts.n == len(ts.found) {
				ts.over = true
				return
			}
			ts.found[ts.n] = k.out[o]
			ts.n++
		}
	}
}

// completeGoto turns a goto trie (delta: state*n+class -> state, -1 for no
// edge; out: per state the pattern ending there or -1) into the full
// Aho-Corasick transition table, breadth-first along the failure links, and
// returns the dictionary links: per state, the nearest state on its failure
// chain where a pattern ends, or -1.
func completeGoto(delta, out []int32, n int32) []int32 {
	fail := make([]int32, len(out))
	dict := make([]int32, len(out))
	dict[0] = -1
	queue := make([]int32, 0, len(out))
	for c := int32(0); c < n; c++ {
		if s := delta[c]; s > 0 {
			dict[s] = -1
			queue = append(queue, s)
		} else {
			delta[c] = 0
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for c := int32(0); c < n; c++ {
			next := delta[s*n+c]
			if next < 0 {
				delta[s*n+c] = delta[fail[s]*n+c]
				continue
			}
			f := delta[fail[s]*n+c]
			fail[next] = f
			if out[f] >= 0 {
				dict[next] = f
			} else {
				dict[next] = dict[f]
			}
			queue = append(queue, next)
		}
	}
	return dict
}

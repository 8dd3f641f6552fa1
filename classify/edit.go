package classify

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"github.com/pomocore/pomocore"
)

// ErrNewConflict is returned by CheckChange when a change puts a pattern in
// a second category at the same priority.
var ErrNewConflict = errors.New("the change puts a pattern in a second category at the same priority")

// ErrBadEdit is the kind of every edit PatternEdit.Validate (and so Apply,
// and CheckChange for a pattern set that does not build) refuses: a caller
// answers it as the client's mistake (HTTP 400), never as a failure.
var ErrBadEdit = errors.New("pattern edit refused")

// PatternEdit adds patterns to, or removes them from, one category's
// category_pattern document: the one rule behind `pomocore patterns
// add|remove` and the live page's "accept a suggestion".
type PatternEdit struct {
	// Category names the document to edit.
	Category string
	// Apps and Domains are the patterns to add or remove (compared case
	// insensitively; adding one already there is a no-op).
	Apps, Domains []string
	// Remove removes the patterns instead of adding them.
	Remove bool
}

// Validate reports, wrapping ErrBadEdit, an edit that names no category or
// no pattern, or that adds a pattern CheckApp or CheckDomain refuses: the
// one rule of `pomocore patterns add`, the unknowns panel's accept and the
// learning loop's promotion. Removing such a pattern stays possible.
func (e PatternEdit) Validate() error {
	if strings.TrimSpace(e.Category) == "" {
		return fmt.Errorf("%w: no category", ErrBadEdit)
	}
	if len(e.Apps)+len(e.Domains) == 0 {
		return fmt.Errorf("%w: no app or domain pattern", ErrBadEdit)
	}
	for _, p := range slices.Concat(e.Apps, e.Domains) {
		if strings.TrimSpace(p) == "" {
			return fmt.Errorf("%w: an empty pattern", ErrBadEdit)
		}
	}
	if e.Remove {
		return nil
	}
	for _, p := range e.Apps {
		if err := CheckApp(p); err != nil {
			return err
		}
	}
	for _, p := range e.Domains {
		if err := CheckDomain(p); err != nil {
			return err
		}
	}
	return nil
}

// Limits of a pattern added by an edit: those of DNS for a host (RFC 1035:
// 253 bytes of name, 63 of a label, in its ASCII form), and a generous one
// for an app name.
const (
	maxHostBytes  = 253
	maxLabelBytes = 63
	maxAppBytes   = 255
)

// CheckApp reports, wrapping ErrBadEdit, an app pattern that must not be
// added: a wildcard (patterns match exactly; "*" would be an app named
// "*"), control characters, or more than 255 bytes.
func CheckApp(p string) error {
	switch {
	case strings.ContainsAny(p, "*?"):
		return fmt.Errorf("%w: app pattern %q: no wildcards (an app pattern is an app's name)", ErrBadEdit, clip(p))
	case len(p) > maxAppBytes:
		return fmt.Errorf("%w: app pattern %q: %d bytes, at most %d", ErrBadEdit, clip(p), len(p), maxAppBytes)
	case strings.IndexFunc(p, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		return fmt.Errorf("%w: app pattern %q: control characters", ErrBadEdit, clip(p))
	}
	return nil
}

// CheckDomain reports, wrapping ErrBadEdit, a domain pattern (host, or
// host/path) that must not be added: a wildcard; a host with an empty
// label (".", "a..com"), a character a host name cannot have, a label
// over 63 bytes or a name over 253 (DNS limits); or a bare public suffix of
// the public suffix list's ICANN section ("com", "org", "co.uk"), which
// would move every site under it. The list's private section names
// platforms ("github.io", "notion.site", which the main server's own
// patterns have), and a one-label name the list does not hold
// ("localhost", "afk") is taken, as are IP addresses.
func CheckDomain(p string) error {
	if strings.ContainsAny(p, "*?") {
		return fmt.Errorf("%w: domain pattern %q: no wildcards (a pattern matches its host and every subdomain)", ErrBadEdit, clip(p))
	}
	host, _ := Host(p)
	host = strings.TrimSuffix(host, ".")
	ascii := host
	if a, err := idna.Lookup.ToASCII(host); err == nil {
		ascii = a
	}
	if len(ascii) > maxHostBytes {
		return fmt.Errorf("%w: domain pattern %q: host of %d bytes, DNS allows %d", ErrBadEdit, clip(p), len(ascii), maxHostBytes)
	}
	for _, l := range strings.Split(ascii, ".") {
		if l == "" {
			return fmt.Errorf("%w: domain pattern %q: the host has an empty label", ErrBadEdit, clip(p))
		}
		if len(l) > maxLabelBytes {
			return fmt.Errorf("%w: domain pattern %q: a label of %d bytes, DNS allows %d", ErrBadEdit, clip(p), len(l), maxLabelBytes)
		}
		if strings.IndexFunc(l, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) >= 0 {
			return fmt.Errorf("%w: domain pattern %q: %q is not a host name", ErrBadEdit, clip(p), clip(host))
		}
	}
	if _, err := netip.ParseAddr(ascii); err == nil {
		return nil // an IPv4 address ("127.0.0.1"), no suffix to it
	}
	if suffix, icann := publicsuffix.PublicSuffix(ascii); suffix == ascii && icann {
		return fmt.Errorf("%w: domain pattern %q: %q is a public suffix: it would take every site under it; name a site", ErrBadEdit, clip(p), host)
	}
	return nil
}

// clip shortens a refused pattern for its error message.
func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	return s[:77] + "..."
}

// Apply returns a copy of current with the edit applied and the id of the
// edited document. Adding to a category without a document creates one
// with the id newID returns; removing from one is an error. current is not
// modified.
func (e PatternEdit) Apply(current []pomocore.CategoryPattern, newID func() pomocore.ObjectID) ([]pomocore.CategoryPattern, pomocore.ObjectID, error) {
	if err := e.Validate(); err != nil {
		return nil, pomocore.ObjectID{}, err
	}
	ps := slices.Clone(current)
	i := slices.IndexFunc(ps, func(p pomocore.CategoryPattern) bool { return p.Category == e.Category })
	if i < 0 {
		if e.Remove {
			return nil, pomocore.ObjectID{}, fmt.Errorf("no category %q", e.Category)
		}
		ps = append(ps, pomocore.CategoryPattern{ID: newID(), Category: e.Category})
		i = len(ps) - 1
	}
	p := &ps[i]
	p.AppPatterns = e.edit(slices.Clone(p.AppPatterns), e.Apps)
	p.DomainPatterns = e.edit(slices.Clone(p.DomainPatterns), e.Domains)
	return ps, p.ID, nil
}

// edit adds values to list (those not there yet) or removes them.
func (e PatternEdit) edit(list, values []string) []string {
	for _, v := range values {
		same := func(x string) bool { return strings.EqualFold(x, v) }
		switch {
		case e.Remove:
			list = slices.DeleteFunc(list, same)
		case !slices.ContainsFunc(list, same):
			list = append(list, v)
		}
	}
	return list
}

// CheckChange builds the pattern set after a change and returns its
// matcher. A pattern the change puts in a second category at the same
// priority (a conflict before did not have) is refused with ErrNewConflict,
// unless allowConflicts (an imported file's own data, loaded as deployed).
func CheckChange(before, after []pomocore.CategoryPattern, allowConflicts bool) (*Matcher, error) {
	m, err := Build(after, pomocore.Uncategorized)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEdit, err)
	}
	if allowConflicts {
		return m, nil
	}
	known := map[string]bool{}
	if old, err := Build(before, pomocore.Uncategorized); err == nil {
		for _, c := range old.Conflicts() {
			known[c.Kind+"\x00"+c.Pattern] = true
		}
	}
	var added []string
	for _, c := range m.Conflicts() {
		if !known[c.Kind+"\x00"+c.Pattern] {
			added = append(added, c.String())
		}
	}
	if len(added) > 0 {
		return nil, fmt.Errorf("%w (%s); remove it from the other category or give one document a higher priority",
			ErrNewConflict, strings.Join(added, "; "))
	}
	return m, nil
}

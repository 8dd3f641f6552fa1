package classify

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxName is the longest app name or host, in bytes, that is matched; a
// longer one is cut (names that long are not in any pattern).
const maxName = 256

// NormalizeApp returns the form app names and app patterns are compared in:
// trimmed, case-folded (Unicode), in NFC, runs of white space and
// underscores collapsed to one space, a ".app" or ".exe" suffix dropped.
// Nothing else is removed: "Affinity Photo" stays "affinity photo" and
// "Dota 2" stays "dota 2", as their authors wrote them. Versions, editions
// and vendors in an activity's name are handled at match time (see Build).
func NormalizeApp(app string) string {
	var buf [maxName]byte
	return string(normalizeApp(buf[:0], app))
}

// normalizeApp appends the normalised app to dst (a stack buffer on the hot
// path) and returns it. It allocates only for non-ASCII names that change
// when case-folded or composed (NFC); Hangul in NFC does not.
func normalizeApp(dst []byte, app string) []byte {
	app = strings.TrimSpace(app)
	if !isASCII(app) {
		app = strings.ToLower(app) // no allocation when nothing changes
		if norm.NFC.QuickSpanString(app) < len(app) {
			app = norm.NFC.String(app) // e.g. decomposed Hangul from a file name
		}
	}
	space := false
	for i := 0; i < len(app) && len(dst) < cap(dst); i++ {
		c := app[i]
		switch {
		case c == ' ' || c == '\t' || c == '_' || c == '\n' || c == '\r':
			space = true
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if space && len(dst) > 0 {
			dst = append(dst, ' ')
		}
		space = false
		dst = append(dst, c)
	}
	dst = trimSuffix(dst, ".app")
	return trimSuffix(dst, ".exe")
}

// withoutVendor returns the normalised name without its leading vendor word
// ("adobe photoshop 2025" -> "photoshop 2025"), or nil when it has none.
// Only an activity's name is matched this way, and only when the whole name
// matched nothing: a pattern keeps the words its author wrote.
func withoutVendor(name []byte) []byte {
	i := bytes.IndexByte(name, ' ')
	if i <= 0 || i == len(name)-1 {
		return nil
	}
	switch string(name[:i]) {
	case "adobe", "microsoft", "jetbrains", "apple", "autodesk", "corel", "affinity":
		return name[i+1:]
	}
	return nil
}

// isEditionWord reports whether w is a trailing word that names an edition
// or build of an app rather than the app.
func isEditionWord(w []byte) bool {
	switch string(w) {
	case "community", "ultimate", "professional", "enterprise", "edition", "ce", "beta", "preview", "insiders",
		"nightly", "canary", "x64", "x86", "64-bit", "32-bit", "(x64)", "(x86)", "portable", "-", "|":
		return true
	}
	return false
}

// baseAppName returns the normalised app without trailing versions that
// cannot be part of a name (dotted versions "2024.2.1", "v1.2", years
// 1990-2039) and edition words: "intellij idea 2024.2.1 ultimate" ->
// "intellij idea". A lone small number stays ("dota 2", "xcode 15"): it may
// be the name. It is what Suggest proposes as an app pattern.
func baseAppName(app string) string {
	b := []byte(NormalizeApp(app))
	for {
		i := bytes.LastIndexByte(b, ' ')
		if i < 0 {
			break
		}
		w := b[i+1:]
		if !isDottedVersion(w) && !isYear(w) && !isEditionWord(w) {
			break
		}
		b = b[:i]
	}
	return string(b)
}

func trimSuffix(b []byte, suffix string) []byte {
	if len(b) > len(suffix) && string(b[len(b)-len(suffix):]) == suffix {
		return b[:len(b)-len(suffix)]
	}
	return b
}

// isDottedVersion reports whether w is a version with a dot or a "v":
// "2024.2.1", "v1.2.3", "12.0b3", "v2".
func isDottedVersion(w []byte) bool {
	v := len(w) > 0 && (w[0] == 'v' || w[0] == 'V')
	if v {
		w = w[1:]
	}
	if len(w) == 0 || w[0] < '0' || w[0] > '9' {
		return false
	}
	dot := false
	for _, c := range w {
		switch {
		case c == '.':
			dot = true
		case '0' <= c && c <= '9', c == 'b', c == 'r', c == 'c':
		default:
			return false
		}
	}
	return dot || v
}

// isYear reports whether w is a year an app edition is named after
// (1990-2039): "Photoshop 2025", "Office 2019", not "Cyberpunk 2077".
func isYear(w []byte) bool {
	if len(w) != 4 {
		return false
	}
	for _, c := range w {
		if c < '0' || c > '9' {
			return false
		}
	}
	y := int(w[0]-'0')*1000 + int(w[1]-'0')*100 + int(w[2]-'0')*10 + int(w[3]-'0')
	return y >= 1990 && y <= 2039
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Host returns the host and path of a URL, as matched: the host lower-cased
// with "www.", a port, user info and a trailing dot removed; the path
// lower-cased, without query or fragment. A URL without a scheme
// ("github.com/x") is accepted.
func Host(url string) (host, path string) {
	h, p := splitURL(url)
	return strings.ToLower(h), strings.ToLower(p)
}

// splitURL returns the host and path of url as substrings of it, without
// copying: the host keeps its case (matching folds ASCII case) unless it is
// non-ASCII, which is lower-cased (allocating).
func splitURL(url string) (host, path string) {
	s := url
	if len(s) > 0 && (s[0] <= ' ' || s[len(s)-1] <= ' ') {
		s = strings.TrimSpace(s)
	}
	if i := strings.Index(s, "://"); i >= 0 && i < 16 {
		s = s[i+3:]
	} else if len(s) > 2 && s[0] == '/' && s[1] == '/' {
		s = s[2:]
	}
	// One pass over the authority: where it ends, the last '@' and ':'.
	end, at, colon, ascii := len(s), -1, -1, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '/' || c == '?' || c == '#' {
			end = i
			break
		}
		switch {
		case c == '@':
			at, colon = i, -1
		case c == ':':
			colon = i
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	host, path = s[at+1:end], s[end:]
	if strings.HasPrefix(host, "[") { // IPv6 literal
		if i := strings.IndexByte(host, ']'); i >= 0 {
			host = host[:i+1]
		}
	} else if colon > at {
		host = s[at+1 : colon]
	}
	for len(host) > 0 && host[len(host)-1] == '.' {
		host = host[:len(host)-1]
	}
	if len(host) > 4 && (host[0]|0x20) == 'w' && (host[1]|0x20) == 'w' && (host[2]|0x20) == 'w' && host[3] == '.' {
		host = host[4:]
	}
	if !ascii {
		host = strings.ToLower(host)
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c == '?' || c == '#' {
			path = path[:i]
			break
		}
	}
	return host, path
}

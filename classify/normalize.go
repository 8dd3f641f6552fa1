package classify

import (
	"strings"
	"unicode/utf8"
)

// maxName is the longest app name or host, in bytes, that is matched; a
// longer one is cut (names that long are not in any pattern).
const maxName = 256

// vendors are leading words dropped from app names, so that "Adobe
// Photoshop 2025" and "Photoshop" normalise alike.
var vendors = []string{"adobe ", "microsoft ", "jetbrains ", "apple ", "autodesk ", "corel ", "affinity "}

// editionWords are trailing words dropped from app names.
var editionWords = map[string]bool{
	"community": true, "ultimate": true, "professional": true, "enterprise": true, "edition": true,
	"ce": true, "beta": true, "preview": true, "insiders": true, "nightly": true, "canary": true,
	"x64": true, "x86": true, "64-bit": true, "32-bit": true, "(x64)": true, "(x86)": true, "portable": true,
}

// NormalizeApp returns the form app names are matched in: case-folded,
// trimmed, ".app"/".exe" dropped, a leading vendor word (Adobe, Microsoft,
// JetBrains, ...) dropped, trailing version numbers, years and edition words
// dropped, runs of white space collapsed. "Xcode 15" -> "xcode",
// "Adobe Photoshop 2025" -> "photoshop", "IntelliJ IDEA 2024.2.1" ->
// "intellij idea".
func NormalizeApp(app string) string {
	var buf [maxName]byte
	return string(normalizeApp(buf[:0], app))
}

// normalizeApp appends the normalised app to dst (a stack buffer on the hot
// path) and returns it. It allocates only for non-ASCII upper-case letters.
func normalizeApp(dst []byte, app string) []byte {
	app = strings.TrimSpace(app)
	if !isASCII(app) {
		app = strings.ToLower(app) // no allocation when nothing changes (e.g. Hangul)
	}
	space := false
	for i := 0; i < len(app) && len(dst) < cap(dst); i++ {
		c := app[i]
		switch {
		case c == ' ' || c == '\t' || c == '_':
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
	dst = trimSuffix(dst, ".exe")
	for _, v := range vendors {
		if len(dst) > len(v) && string(dst[:len(v)]) == v {
			dst = append(dst[:0], dst[len(v):]...)
			break
		}
	}
	// Drop trailing versions, years and edition words, keeping at least one
	// word.
	for {
		i := lastSpace(dst)
		if i < 0 {
			break
		}
		w := dst[i+1:]
		if !isVersion(w) && !editionWords[string(w)] && !(len(w) == 1 && (w[0] == '-' || w[0] == '|')) {
			break
		}
		dst = dst[:i]
	}
	return dst
}

func trimSuffix(b []byte, suffix string) []byte {
	if len(b) > len(suffix) && string(b[len(b)-len(suffix):]) == suffix {
		return b[:len(b)-len(suffix)]
	}
	return b
}

func lastSpace(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ' ' {
			return i
		}
	}
	return -1
}

// isVersion reports whether w looks like a version or a year: "15",
// "2025", "v1.2.3", "2024.2.1", "12.0b3".
func isVersion(w []byte) bool {
	if len(w) > 0 && (w[0] == 'v' || w[0] == 'V') {
		w = w[1:]
	}
	if len(w) == 0 || w[0] < '0' || w[0] > '9' {
		return false
	}
	for _, c := range w {
		if !('0' <= c && c <= '9') && c != '.' && c != 'b' && c != 'r' && c != 'c' {
			return false
		}
	}
	return true
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

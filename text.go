package pomocore

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// SanitizeText prepares user-controlled text (a window title, an app name)
// for use outside the pipeline, e.g. in an LLM prompt: invalid UTF-8 and
// control and format characters (including newlines, bidi overrides and
// zero-width characters) become spaces, runs of white space collapse, and
// the result is cut to at most maxRunes runes.
func SanitizeText(s string, maxRunes int) string {
	var b strings.Builder
	b.Grow(min(len(s), 4*maxRunes))
	n := 0
	space := false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) {
			space = n > 0
			continue
		}
		if n >= maxRunes {
			break
		}
		if space {
			if n+1 >= maxRunes {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

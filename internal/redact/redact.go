// Package redact keeps secrets (passwords, keys, URIs with credentials) out
// of text bound for logs and errors. The rule: a URI is shown as
// url.URL.Redacted shows it (its password as "xxxxx"); passwords and tokens
// are never formatted in the first place; and the catch-all mask, for text
// a dependency wrote, replaces only secrets of at least MinLen bytes, since
// masking a short secret shows it: "pipeline" as a password turned
// "pipeline running" into "[REDACTED] running", and "y" turned "retrying"
// into "retr[REDACTED]ing". A short secret draws a start-up warning instead
// (Short tells which).
package redact

import (
	"net/url"
	"slices"
	"strings"
)

// Mark is what a secret is replaced by.
const Mark = "[REDACTED]"

// MinLen is the length, in bytes, from which the catch-all mask replaces a
// secret in log text. 16 because a secret that long is unguessable even
// from where its marks land (16 random hexadecimal characters are 64 bits;
// `openssl rand -base64 12` gives 16 characters of 96 bits), and because
// the words, names and ids of ordinary log text ("pipeline", "retrying",
// "localhost:6379") are shorter, so the mask only lands where the secret
// itself was written. A shorter secret is guessable or a word: masking it
// would show it.
const MinLen = 16

// URI returns uri as url.URL.Redacted shows it: the password replaced by
// "xxxxx", the rest as given. A URI without a password is returned as it
// is; one that does not parse as a URL is replaced whole by Mark.
func URI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return Mark
	}
	if _, ok := u.User.Password(); !ok {
		return uri
	}
	return u.Redacted()
}

// isURI reports whether s is written as a URI with a scheme.
func isURI(s string) bool { return strings.Contains(s, "://") }

// password returns the password of a URI as written (percent-encoded) and
// decoded, or "" when it has none.
func password(uri string) (raw, decoded string) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", ""
	}
	decoded, ok := u.User.Password()
	if !ok {
		return "", ""
	}
	_, rest, _ := strings.Cut(uri, "://")
	userinfo, _, _ := strings.Cut(rest, "@")
	_, raw, _ = strings.Cut(userinfo, ":")
	return raw, decoded
}

// Short reports whether the catch-all mask leaves secret (for a URI, its
// password) alone because it is shorter than MinLen; such a secret
// deserves a warning at start-up. An empty secret is not short.
func Short(secret string) bool {
	if isURI(secret) {
		_, pw := password(secret)
		return pw != "" && len(pw) < MinLen
	}
	return secret != "" && len(secret) < MinLen
}

// New returns the catch-all mask of log text (nil when there is nothing
// to replace): a URI among secrets becomes its URI form, and every secret
// (or URI password) of at least MinLen bytes becomes Mark. Shorter ones
// are left alone (see MinLen). Longer strings are matched first, so that a
// secret inside another is not left half-replaced, and replacements are
// not scanned again.
func New(secrets ...string) *strings.Replacer {
	var pairs [][2]string
	long := func(s string) {
		if len(s) >= MinLen {
			pairs = append(pairs, [2]string{s, Mark})
		}
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if !isURI(s) {
			long(s)
			continue
		}
		if r := URI(s); r != s {
			pairs = append(pairs, [2]string{s, r})
		}
		raw, pw := password(s)
		long(raw)
		if pw != raw {
			long(pw)
		}
	}
	return replacer(pairs)
}

// String returns s with every secret, however short, replaced by Mark. It
// is for the error text of a dependency that may echo a connection
// string (the mongo adapter's errors); log text goes through New.
func String(s string, secrets ...string) string {
	var pairs [][2]string
	for _, sec := range secrets {
		if sec != "" {
			pairs = append(pairs, [2]string{sec, Mark})
		}
	}
	if r := replacer(pairs); r != nil {
		return r.Replace(s)
	}
	return s
}

func replacer(pairs [][2]string) *strings.Replacer {
	if len(pairs) == 0 {
		return nil
	}
	slices.SortStableFunc(pairs, func(a, b [2]string) int { return len(b[0]) - len(a[0]) })
	flat := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		flat = append(flat, p[0], p[1])
	}
	return strings.NewReplacer(flat...)
}

// Package redact replaces secrets (passwords, keys, URIs with credentials)
// in text bound for logs and errors: one rule, however short the secret.
package redact

import (
	"slices"
	"strings"
)

// Mark is what a secret is replaced by.
const Mark = "[REDACTED]"

// New returns a replacer of every non-empty secret, however short, by Mark
// (nil when there is none). Longer secrets are matched first, so that a
// secret inside another is not left half-replaced, and replacements are not
// scanned again.
func New(secrets ...string) *strings.Replacer {
	var ss []string
	for _, s := range secrets {
		if s != "" {
			ss = append(ss, s)
		}
	}
	if len(ss) == 0 {
		return nil
	}
	slices.SortFunc(ss, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(ss))
	for _, s := range ss {
		pairs = append(pairs, s, Mark)
	}
	return strings.NewReplacer(pairs...)
}

// String returns s with every secret replaced by Mark.
func String(s string, secrets ...string) string {
	r := New(secrets...)
	if r == nil {
		return s
	}
	return r.Replace(s)
}

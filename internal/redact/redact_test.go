package redact_test

import (
	"testing"

	"github.com/pomocore/pomocore/internal/redact"
)

func TestStringReplacesEverySecretHoweverShort(t *testing.T) {
	for _, c := range []struct {
		in      string
		secrets []string
		want    string
	}{
		{"auth q failed", []string{"q"}, "auth [REDACTED] failed"},
		{"pw zv, uri mongodb://u:zv@db", []string{"mongodb://u:zv@db", "zv"}, "pw [REDACTED], uri [REDACTED]"},
		{"nothing here", []string{"", "secret"}, "nothing here"},
		{"no secrets", nil, "no secrets"},
	} {
		if got := redact.String(c.in, c.secrets...); got != c.want {
			t.Errorf("String(%q, %q) = %q, want %q", c.in, c.secrets, got, c.want)
		}
	}
}

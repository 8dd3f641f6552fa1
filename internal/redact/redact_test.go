package redact_test

import (
	"testing"

	"github.com/pomocore/pomocore/internal/redact"
)

// String (the mongo adapter's errors) replaces every secret, however short.
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

// The catch-all mask of log text leaves a short secret alone (masking it
// shows it: "[REDACTED] running", "retr[REDACTED]ing"), masks a long one,
// and shows a URI as url.URL.Redacted does (issue 27 item 4).
func TestNewMasksOnlyLongSecretsAndRedactsURIs(t *testing.T) {
	long := "0123456789abcdef" // MinLen
	for _, c := range []struct {
		in      string
		secrets []string
		want    string
	}{
		{"pipeline running", []string{"pipeline"}, "pipeline running"},
		{"retrying", []string{"y"}, "retrying"},
		{"auth " + long + " failed", []string{long}, "auth [REDACTED] failed"},
		{"auth " + long[:15] + " failed", []string{long[:15]}, "auth " + long[:15] + " failed"},
		{"dial mongodb://u:zv@db:27017/x failed", []string{"mongodb://u:zv@db:27017/x"}, "dial mongodb://u:xxxxx@db:27017/x failed"},
		{"uri mongodb://u:" + long + "@db/ pw " + long, []string{"mongodb://u:" + long + "@db/"}, "uri mongodb://u:xxxxx@db/ pw [REDACTED]"},
		{"uri mongodb://db:27017/", []string{"mongodb://db:27017/"}, "uri mongodb://db:27017/"},
	} {
		got := c.in
		if r := redact.New(c.secrets...); r != nil {
			got = r.Replace(c.in)
		}
		if got != c.want {
			t.Errorf("New(%q).Replace(%q) = %q, want %q", c.secrets, c.in, got, c.want)
		}
	}
	for s, want := range map[string]bool{"": false, "y": true, "pipeline": true, long: false, long[:15]: true,
		"mongodb://u:zv@db/": true, "mongodb://db/": false, "mongodb://u:" + long + "@db/": false} {
		if got := redact.Short(s); got != want {
			t.Errorf("Short(%q) = %v, want %v", s, got, want)
		}
	}
	if got := redact.URI("mongodb://u:p%40x@h1:1,h2:2/db?replicaSet=r"); got != "mongodb://u:xxxxx@h1:1,h2:2/db?replicaSet=r" {
		t.Errorf("URI = %q", got)
	}
}

package mongo

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A short password is still a password: one of 1 or 2 characters never
// reaches an error message (they were kept only from 3 characters on).
func TestRedactErrTakesOutShortPasswords(t *testing.T) {
	cause := errors.New("cause")
	for _, pw := range []string{"q", "zv", "p%40"} {
		uri := "mongodb://user:" + pw + "@db.example:27017/"
		err := redactErr(fmt.Errorf("connect %s: auth with %s failed: %w", uri, password(uri), cause), uri)
		msg := err.Error()
		if strings.Contains(msg, uri) || strings.Contains(msg, "user:"+pw) || strings.Contains(msg, " "+password(uri)+" ") {
			t.Errorf("password %q: the message keeps it: %s", pw, msg)
		}
		if !strings.Contains(msg, "[REDACTED]") || !strings.Contains(msg, "failed") {
			t.Errorf("password %q: %q, want the rest of the message with [REDACTED]", pw, msg)
		}
		if !errors.Is(err, cause) {
			t.Errorf("password %q: the redacted error does not unwrap to its cause", pw)
		}
	}
	if err := redactErr(cause, "mongodb://db:27017/"); err != cause {
		t.Errorf("an error without secrets is rewrapped: %v", err)
	}
}

package tool

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Skip and Fatal and stops the
// function under test as they do (the embedded TB is nil: anything else
// called on it panics).
type recorder struct {
	testing.TB
	skipped, failed string
}

type stopped struct{}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	panic(stopped{})
}
func (r *recorder) Fatal(args ...any) {
	r.failed = fmt.Sprint(args...)
	panic(stopped{})
}

// require calls Require(r, name) and returns what it returned, or "" when
// it stopped r.
func require(r *recorder, name string) (path string) {
	defer func() {
		if v := recover(); v != nil && v != (stopped{}) {
			panic(v)
		}
	}()
	return Require(r, name)
}

func TestRequireFindsATool(t *testing.T) {
	r := &recorder{}
	if p := require(r, "go"); p == "" || r.skipped != "" || r.failed != "" {
		t.Errorf("go: path %q, skipped %q, failed %q", p, r.skipped, r.failed)
	}
}

func TestRequireSkipsLocally(t *testing.T) {
	t.Setenv("CI", "")
	r := &recorder{}
	require(r, "redis-server-no-such-tool")
	if r.failed != "" || !strings.Contains(r.skipped, "redis-server-no-such-tool not found on PATH") {
		t.Errorf("skipped %q, failed %q; want a skip naming the tool", r.skipped, r.failed)
	}
	r = &recorder{}
	t.Setenv("PATH", "")
	require(r, "chromium")
	if !strings.Contains(r.skipped, "apt-get install -y chromium") || !strings.Contains(r.skipped, "./scripts/test") {
		t.Errorf("skipped %q; want how to install chromium", r.skipped)
	}
}

func TestRequireFailsUnderCI(t *testing.T) {
	t.Setenv("CI", "true")
	t.Setenv("PATH", "")
	r := &recorder{}
	require(r, "redis-server")
	if r.skipped != "" || !strings.Contains(r.failed, "redis-server not found on PATH") || !strings.Contains(r.failed, "CI=true") {
		t.Errorf("skipped %q, failed %q; want a failure naming the tool and CI", r.skipped, r.failed)
	}
}

// Package tool is the tests' one policy for the external programs some of
// them need (redis-server, redis-cli, chromium, docker-compose, kubectl):
// Require finds one on PATH. When it is missing, a test run by hand is
// skipped with a message naming the program and how to install it
// (./scripts/test installs what the tests need); under CI=true a missing
// program is a broken set-up, and the test fails instead of passing
// silently.
package tool

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// hints says how to install each program the tests use.
var hints = map[string]string{
	"redis-server":   "install it (apt-get install -y redis-server) or run ./scripts/test, which does",
	"redis-cli":      "install it (apt-get install -y redis-tools) or run ./scripts/test, which does",
	"chromium":       "install it (apt-get install -y chromium) or run ./scripts/test, which does",
	"docker-compose": "install it (apt-get install -y docker-compose) or run ./scripts/test, which does",
	"kubectl":        "install it (apt-get install -y kubernetes-client) or run ./scripts/test, which does",
	"promtool":       "install it (apt-get install -y prometheus) or run ./scripts/test, which does",
}

// Require returns the path of the program name found on PATH. When there is
// none, it skips t with a message naming the program and how to install
// it, or, when the environment says CI=true, fails t with that message.
func Require(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := missing(name)
	if underCI() {
		t.Fatal(msg + "; CI=true, so a missing tool fails the test")
	}
	t.Skip(msg + "; skipped (under CI=true this fails)")
	return ""
}

// missing is the message that says name is not on PATH and how to install
// it.
func missing(name string) string {
	hint, ok := hints[name]
	if !ok {
		hint = "install it"
	}
	return name + " not found on PATH: " + hint
}

// underCI reports whether the tests run under CI (the environment variable
// CI is true), where a missing tool fails a test rather than skipping it.
func underCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

package bench

import (
	"errors"
	"os/exec"
	"testing"

	"github.com/pomocore/pomocore/internal/redisproc"
	"github.com/pomocore/pomocore/internal/tool"
)

// A bench's private redis-server whose port was taken between the pick and
// the bind (here by another redis-server, which answers PING as well) is
// not mistaken for the new server: the start says the port was taken, and
// startRedisServer goes on with another.
func TestPrivateRedisServerIsNotAnotherOnItsPort(t *testing.T) {
	tool.Require(t, "redis-server")
	path, _ := exec.LookPath("redis-server")
	port, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	_, stopOther, err := launchRedisServer(path, port)
	if err != nil {
		t.Fatal(err)
	}
	defer stopOther()
	if addr, stop, err := launchRedisServer(path, port); !errors.Is(err, redisproc.ErrPortTaken) {
		if stop != nil {
			stop()
		}
		t.Fatalf("second server on the same port: %s, %v; want redisproc.ErrPortTaken", addr, err)
	}
	addr, stop, err := startRedisServer()
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if addr == "" {
		t.Fatal("no address")
	}
}

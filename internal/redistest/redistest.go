// Package redistest starts real redis-server processes for tests, each on a
// free loopback port with its own directory, stopped when the test ends.
package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redisproc"
	"github.com/pomocore/pomocore/internal/tool"
)

// Server is a redis-server process started for a test.
type Server struct {
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts redis-server (Debian's package) on a free port with
// persistence off, plus args, and stops it when t ends. Without
// redis-server, t is skipped, or fails under CI=true (see tool.Require).
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	tool.Require(t, "redis-server")
	s := &Server{dir: t.TempDir(), args: args}
	s.startOnFreePort(t, func() int { return freePort(t) })
	t.Cleanup(s.Stop)
	return s
}

// StartWithPort is Start with a second port of the server's own: flag
// ("--tls-port") is given a free port, picked again with the main one when
// either was taken before redis-server bound it. It returns that port.
func StartWithPort(t testing.TB, flag string, args ...string) (*Server, int) {
	t.Helper()
	tool.Require(t, "redis-server")
	return startWithPort(t, flag, args, func() int { return freePort(t) })
}

// startWithPort is StartWithPort with the ports picked by next (the main
// port first, then flag's, for each attempt).
func startWithPort(t testing.TB, flag string, args []string, next func() int) (*Server, int) {
	t.Helper()
	s := &Server{dir: t.TempDir()}
	extra := 0
	s.startOnFreePort(t, func() int {
		p := next()
		extra = next()
		if extra == p {
			extra = next()
		}
		s.args = append([]string{flag, strconv.Itoa(extra)}, args...)
		return p
	})
	t.Cleanup(s.Stop)
	return s, extra
}

// startOnFreePort starts s on a port of next, and on another one of next
// while the port it got was taken between next's check and
// redis-server's bind (another test's server or an outgoing connection).
func (s *Server) startOnFreePort(t testing.TB, next func() int) {
	t.Helper()
	const attempts = 5
	for i := 1; ; i++ {
		s.port = next()
		err := s.launch()
		if err == nil {
			return
		}
		if !errors.Is(err, redisproc.ErrPortTaken) || i == attempts {
			t.Fatal(err)
		}
		t.Logf("redis-server: port %d was taken after it was picked; trying another", s.port)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	if err := s.launch(); err != nil {
		t.Fatal(err)
	}
}

// launch starts redis-server on s.port and waits until it answers PING as
// itself (its process id): a server of another test that holds the port
// answers too, while ours exits. An exit because the port (or the cluster
// bus port) was taken is redisproc.ErrPortTaken.
func (s *Server) launch() error {
	argv := append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--logfile", "redis.log", "--protected-mode", "no",
	}, s.args...)
	s.cmd = exec.Command("redis-server", argv...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)

	return redisproc.AwaitReady(s.Addr(), s.cmd.Process.Pid, s.done, s.dir+"/redis.log")
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Client returns a client of the server, closed when t ends.
func (s *Server) Client(t testing.TB) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Kill stops the server with SIGKILL and waits for it to exit.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Pause stops the server process (SIGSTOP): it keeps its port and
// accepts connections (the kernel does) but answers nothing, as a hung or
// overloaded Redis does, until Resume.
func (s *Server) Pause() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 5s), paused or not.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.Kill()
	}
}

// Restart kills the server and starts it again on the same port with the
// same arguments and directory (data survives only with persistence on).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	s.start(t)
}

// String describes the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("redis-server %s", s.Addr()) }

// StartSentinel starts a Redis Sentinel on a free port that monitors the
// master at master under the name "mymaster" (quorum 1), and stops it when
// t ends. It returns the Sentinel's address once the Sentinel names that
// master. Without redis-server, t is skipped, or fails under CI=true (see
// tool.Require).
func StartSentinel(t testing.TB, master string) string {
	t.Helper()
	tool.Require(t, "redis-server")
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		t.Fatal(err)
	}
	return startSentinelOnFreePort(t, host, port, master, func() int { return freePort(t) })
}

// startSentinelOnFreePort starts a Sentinel on a port of next, and on
// another one of next while the port it got was taken between next's check
// and the Sentinel's bind.
func startSentinelOnFreePort(t testing.TB, host, port, master string, next func() int) string {
	t.Helper()
	const attempts = 5
	for i := 1; ; i++ {
		addr, err := startSentinel(t, host, port, master, next())
		if err == nil {
			return addr
		}
		if !errors.Is(err, redisproc.ErrPortTaken) || i == attempts {
			t.Fatal(err)
		}
		t.Logf("redis-sentinel: %v; trying another port", err)
	}
}

// startSentinel starts a Sentinel on port p watching master and waits
// until it names master; a Sentinel that exits because p was taken (after
// freePort's check) returns redisproc.ErrPortTaken.
func startSentinel(t testing.TB, host, port, master string, p int) (string, error) {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\nlogfile sentinel.log\n"+
		"sentinel monitor mymaster %s %s 1\nsentinel down-after-milliseconds mymaster 1000\n", p, dir, host, port)
	path := dir + "/sentinel.conf"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return "", err
	}
	cmd := exec.Command("redis-server", path, "--sentinel")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start redis-sentinel: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	s := goredis.NewSentinelClient(&goredis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	defer s.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		got, err := s.GetMasterAddrByName(ctx, "mymaster").Result()
		cancel()
		select {
		case <-done:
			log, _ := os.ReadFile(dir + "/sentinel.log")
			if bytes.Contains(log, []byte("Address already in use")) {
				return "", fmt.Errorf("port %d: %w", p, redisproc.ErrPortTaken)
			}
			return "", fmt.Errorf("redis-sentinel exited at start: %s", log)
		default:
		}
		if err == nil && len(got) == 2 && net.JoinHostPort(got[0], got[1]) == master {
			return addr, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("sentinel on %s does not name master %s after 10s: %v %v", addr, master, got, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

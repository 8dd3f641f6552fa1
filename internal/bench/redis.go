package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/app"
	"github.com/pomocore/pomocore/internal/redisproc"
	"github.com/pomocore/pomocore/redis"
)

// openRedis connects to the configured Redis or starts a private
// redis-server (miniredis when none is installed); it returns the client,
// its settings (for the applications to open their own), what kind of
// server it is, and how to close both.
func openRedis(cfg app.Config, stderr io.Writer) (goredis.UniversalClient, redis.Config, string, func(), error) {
	rcfg := cfg.Redis
	kind := "configured " + strings.Join(cfg.Redis.Addrs, ",")
	stop := func() {}
	if len(cfg.Redis.Addrs) == 0 {
		addr, stopServer, err := startRedisServer()
		if err != nil {
			fmt.Fprintf(stderr, "bench: no redis-server (%v): using miniredis, whose figures say nothing about Redis\n", err)
			mini := miniredis.NewMiniRedis()
			if err := mini.Start(); err != nil {
				return nil, rcfg, "", nil, fmt.Errorf("embedded redis: %w", err)
			}
			addr, stopServer, kind = mini.Addr(), mini.Close, "miniredis (embedded)"
		} else {
			kind = "private redis-server"
		}
		rcfg.Addrs, rcfg.Username, rcfg.Password, stop = []string{addr}, "", "", stopServer
	}
	rcfg.PoolSize = 64
	rdb, err := redis.NewClient(rcfg)
	if err != nil {
		stop()
		return nil, rcfg, "", nil, fmt.Errorf("REDIS_ADDR: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for rdb.Ping(ctx).Err() != nil {
		if ctx.Err() != nil {
			_ = rdb.Close()
			stop()
			return nil, rcfg, "", nil, fmt.Errorf("redis %s: not reachable", kind)
		}
		time.Sleep(20 * time.Millisecond) // waiting for a process to listen, not synchronising goroutines
	}
	return rdb, rcfg, kind, func() { _ = rdb.Close(); stop() }, nil
}

// startRedisServer starts redis-server on a free loopback port, without
// persistence, in a temporary directory. A port taken between its pick and
// redis-server's bind (another process's) is not mistaken for the new
// server: the server is ready when the one answering there has its process
// id, and one that could not bind is started again on another port.
func startRedisServer() (string, func(), error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, err
	}
	const attempts = 5
	for i := 1; ; i++ {
		port, err := freeTCPPort()
		if err != nil {
			return "", nil, err
		}
		addr, stop, err := launchRedisServer(path, port)
		if err == nil || !errors.Is(err, redisproc.ErrPortTaken) || i == attempts {
			return addr, stop, err
		}
	}
}

// launchRedisServer starts redis-server on port and waits until it
// answers as itself.
func launchRedisServer(path string, port int) (string, func(), error) {
	dir, err := os.MkdirTemp("", "pomocore-bench-redis-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", "redis.log")
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = os.RemoveAll(dir)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := redisproc.AwaitReady(addr, cmd.Process.Pid, exited, filepath.Join(dir, "redis.log")); err != nil {
		stop()
		return "", nil, err
	}
	return addr, stop, nil
}

// freeTCPPort returns a loopback port nobody listens on right now.
func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cleanup deletes the run's keys.
func cleanup(rdb goredis.UniversalClient, run string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Applied records and intents are named "{<key>}:applied", "{<stream>}:intent".
	_ = ScanKeys(ctx, rdb, "*bench:"+run+":*", func(ctx context.Context, node goredis.UniversalClient, key string) {
		_ = node.Unlink(ctx, key).Err()
	})
}

// ScanKeys calls f with every key matching pattern and the client of the
// node that holds it: on each master of a cluster, else on rdb.
func ScanKeys(ctx context.Context, rdb goredis.UniversalClient, pattern string, f func(context.Context, goredis.UniversalClient, string)) error {
	scan := func(ctx context.Context, node goredis.UniversalClient) error {
		iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			f(ctx, node, iter.Val())
		}
		return iter.Err()
	}
	if cc, ok := rdb.(*goredis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error { return scan(ctx, node) })
	}
	return scan(ctx, rdb)
}

// redisCPU returns the CPU time (INFO cpu: used_cpu_user + used_cpu_sys)
// each master has used so far, by address; nil when a server does not
// tell (the embedded Redis).
func redisCPU(ctx context.Context, rdb goredis.UniversalClient) map[string]time.Duration {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out := map[string]time.Duration{}
	var mu sync.Mutex
	read := func(ctx context.Context, c *goredis.Client) error {
		info, err := c.Info(ctx, "cpu").Result()
		if err != nil {
			return err
		}
		var total float64
		for _, l := range strings.Split(info, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
			if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return err
				}
				total += f
			}
		}
		if total == 0 {
			return errors.New("no CPU figures")
		}
		mu.Lock()
		out[c.Options().Addr] = time.Duration(total * float64(time.Second))
		mu.Unlock()
		return nil
	}
	var err error
	switch c := rdb.(type) {
	case *goredis.ClusterClient:
		err = c.ForEachMaster(ctx, read)
	case *goredis.Client:
		err = read(ctx, c)
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	return out
}

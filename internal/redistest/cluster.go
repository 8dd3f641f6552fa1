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
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/pomocore/pomocore/internal/tool"
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// clusterBusOffset is what Redis adds to a node's port for its cluster bus.
const clusterBusOffset = 10000

// Cluster is a Redis Cluster of redis-server processes on loopback started
// for a test, stopped when the test ends.
type Cluster struct {
	replicas int
	nodes    []*Server
	clients  map[string]*goredis.Client // per node, by address

	mu   sync.Mutex
	dead map[string]bool // nodes killed by KillMasterOf, by address
}

// StartCluster starts masters master nodes with replicas replicas each,
// joins them into a Redis Cluster with redis-cli --cluster create, and
// returns once every node reports cluster_state:ok, all nodes agree on who
// serves each of the 16384 slots and every replica is in sync with its
// master. Nodes use a 1s cluster-node-timeout so a replica takes over a
// killed master within a few seconds. Redis Cluster needs at least 3
// masters. The nodes are stopped when t ends. Without redis-server or
// redis-cli, t is skipped, or fails under CI=true (see tool.Require).
func StartCluster(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	if masters < 3 || replicas < 0 {
		t.Fatalf("StartCluster(%d, %d): Redis Cluster needs at least 3 masters and no negative replicas", masters, replicas)
	}
	tool.Require(t, "redis-server")
	tool.Require(t, "redis-cli")
	n := masters * (1 + replicas)
	c := &Cluster{replicas: replicas, clients: make(map[string]*goredis.Client, n), dead: map[string]bool{}}
	ports := clusterPorts(t, n)
	used := map[int]bool{}
	for _, p := range ports {
		used[p] = true
	}
	for _, port := range ports {
		s := &Server{dir: t.TempDir(), args: []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "1000",
			// A replica may take over however long it lost its master.
			"--cluster-replica-validity-factor", "0",
			// Replicas sync at once instead of after the default 5s.
			"--repl-diskless-sync-delay", "0",
			// Replicas show in CLUSTER SLOTS only once their replication
			// offset is not 0: have masters ping them (moving it) every
			// second rather than every 10s.
			"--repl-ping-replica-period", "1",
		}}
		// The chosen port first; should it (or its bus port) be taken
		// before redis-server binds it, another pair none of the others use.
		first := true
		s.startOnFreePort(t, func() int {
			if first {
				first = false
				return port
			}
			for {
				if p := clusterPorts(t, 1)[0]; !used[p] && !used[p+clusterBusOffset] && !used[p-clusterBusOffset] {
					used[p] = true
					return p
				}
			}
		})
		t.Cleanup(s.Stop)
		c.nodes = append(c.nodes, s)
		nc := goredis.NewClient(&goredis.Options{
			Addr: s.Addr(), DialTimeout: time.Second, ReadTimeout: 2 * time.Second,
			WriteTimeout: 2 * time.Second, MaxRetries: -1, PoolSize: 2,
		})
		t.Cleanup(func() { _ = nc.Close() })
		c.clients[s.Addr()] = nc
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	cmd := exec.CommandContext(ctx, "redis-cli", args...)
	cmd.WaitDelay = time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		c.logTails(t)
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}

	if err := c.poll(30*time.Second, c.ready); err != nil {
		c.logTails(t)
		t.Fatalf("redis cluster %v not ready after 30s: %v", c.Addrs(), err)
	}
	return c
}

// clusterPorts returns n distinct free loopback ports P <= 55535 whose
// cluster bus port P+10000 is free too and is none of the other ports. All
// listeners stay open until every port is chosen, so no port comes twice.
func clusterPorts(t testing.TB, n int) []int {
	t.Helper()
	var (
		ports     []int
		listeners []net.Listener
		taken     = map[int]bool{}
	)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries == 1000 {
			t.Fatalf("found only %d of %d free port pairs (P, P+%d) for a redis cluster", len(ports), n, clusterBusOffset)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		p := l.Addr().(*net.TCPAddr).Port
		if p > 65535-clusterBusOffset || taken[p] || taken[p+clusterBusOffset] {
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+clusterBusOffset)))
		if err != nil {
			continue
		}
		listeners = append(listeners, bus)
		taken[p], taken[p+clusterBusOffset] = true, true
		ports = append(ports, p)
	}
	return ports
}

// Addrs returns the host:port of every node, killed ones included, in the
// order they were started.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, s := range c.nodes {
		addrs[i] = s.Addr()
	}
	return addrs
}

// Client returns a cluster client seeded with the live nodes, with short
// dial, read and write timeouts, closed when t ends.
func (c *Cluster) Client(t testing.TB) *goredis.ClusterClient {
	t.Helper()
	cc := goredis.NewClusterClient(&goredis.ClusterOptions{
		Addrs:        c.liveAddrs(),
		MaxRedirects: 8,
		DialTimeout:  time.Second,
		// A killed node refuses at once: no use dialling it again.
		DialerRetries: 1,
		// Back off briefly, and reload the slot map every second while in
		// use: a command to a killed master only fails to dial, which
		// makes go-redis retry the same node, not reload.
		MaxRetryBackoff:            200 * time.Millisecond,
		ClusterStateReloadInterval: time.Second,
		ReadTimeout:                3 * time.Second,
		WriteTimeout:               3 * time.Second,
		// Redis 7.0 knows no CLIENT MAINT_NOTIFICATIONS; do not ask.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// KillMasterOf kills with SIGKILL the master that serves key's hash slot and
// returns its address. It waits for the process to exit but not for a
// replica to take over: call WaitHealthy for that.
func (c *Cluster) KillMasterOf(t testing.TB, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	live := c.liveAddrs()
	if len(live) == 0 {
		t.Fatal("KillMasterOf: no live redis cluster node")
	}
	nc := c.clients[live[0]]
	slot, err := nc.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT %q on %s: %v", key, live[0], err)
	}
	//lint:ignore SA1019 CLUSTER SLOTS is the Redis 7.0 view redis-cli uses; SHARDS adds nothing here
	slots, err := nc.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER SLOTS on %s: %v", live[0], err)
	}
	master := ""
	for _, r := range slots {
		if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
			master = r.Nodes[0].Addr
		}
	}
	s := c.node(master)
	if s == nil {
		t.Fatalf("KillMasterOf: %s says slot %d of %q is served by %q, which is no node of this cluster", live[0], slot, key, master)
	}
	c.mu.Lock()
	wasDead := c.dead[master]
	c.dead[master] = true
	c.mu.Unlock()
	if wasDead {
		t.Fatalf("KillMasterOf: %s says slot %d of %q is served by %s, which is already dead; call WaitHealthy first", live[0], slot, key, master)
	}
	s.Kill()
	return master
}

// WaitHealthy waits until every live node reports cluster_state:ok and
// maps every slot to a live node that is a master (so a replica has taken
// over each killed master), all nodes agreeing. It fails the test if that
// takes longer than timeout.
func (c *Cluster) WaitHealthy(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := c.poll(timeout, c.healthy); err != nil {
		t.Fatalf("redis cluster not healthy after %v: %v", timeout, err)
	}
}

// poll calls check every 10ms until it returns nil, and returns its last
// error if that does not happen within timeout.
func (c *Cluster) poll(timeout time.Duration, check func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := check(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ready reports why the freshly created cluster is not ready yet: healthy,
// and besides every node knows every other and every master has its
// replicas in sync.
func (c *Cluster) ready(ctx context.Context) error {
	owners, err := c.slotOwners(ctx, len(c.nodes), 1+c.replicas)
	if err != nil {
		return err
	}
	if c.replicas == 0 {
		return nil
	}
	for _, m := range distinct(owners) {
		info, err := c.clients[m].Info(ctx, "replication").Result()
		if err != nil {
			return fmt.Errorf("INFO replication on %s: %w", m, err)
		}
		if online := strings.Count(info, ",state=online,"); online < c.replicas {
			return fmt.Errorf("master %s has %d of %d replicas online", m, online, c.replicas)
		}
	}
	return nil
}

// healthy reports why the cluster is not healthy, if it is not.
func (c *Cluster) healthy(ctx context.Context) error {
	_, err := c.slotOwners(ctx, 0, 1)
	return err
}

// slotOwners checks that every live node reports cluster_state:ok, knows
// at least knownNodes nodes and maps every slot to a live master with at
// least copies nodes (master and replicas) in CLUSTER SLOTS, all nodes
// agreeing; and returns the master of each slot.
func (c *Cluster) slotOwners(ctx context.Context, knownNodes, copies int) ([]string, error) {
	live := c.liveAddrs()
	if len(live) == 0 {
		return nil, errors.New("no live node")
	}
	var first []string
	for _, a := range live {
		nc := c.clients[a]
		info, err := nc.ClusterInfo(ctx).Result()
		if err != nil {
			return nil, fmt.Errorf("CLUSTER INFO on %s: %w", a, err)
		}
		if v := infoField(info, "cluster_state"); v != "ok" {
			return nil, fmt.Errorf("%s says cluster_state:%s", a, v)
		}
		if v := infoField(info, "cluster_slots_assigned"); v != strconv.Itoa(clusterSlots) {
			return nil, fmt.Errorf("%s says cluster_slots_assigned:%s", a, v)
		}
		if v, _ := strconv.Atoi(infoField(info, "cluster_known_nodes")); v < knownNodes {
			return nil, fmt.Errorf("%s knows %d of %d nodes", a, v, knownNodes)
		}
		//lint:ignore SA1019 CLUSTER SLOTS is the Redis 7.0 view redis-cli uses; SHARDS adds nothing here
		slots, err := nc.ClusterSlots(ctx).Result()
		if err != nil {
			return nil, fmt.Errorf("CLUSTER SLOTS on %s: %w", a, err)
		}
		owners := make([]string, clusterSlots)
		for _, r := range slots {
			if len(r.Nodes) < copies {
				return nil, fmt.Errorf("%s lists %d of %d nodes for slots %d-%d", a, len(r.Nodes), copies, r.Start, r.End)
			}
			for s := max(r.Start, 0); s <= min(r.End, clusterSlots-1); s++ {
				owners[s] = r.Nodes[0].Addr
			}
		}
		for s, o := range owners {
			switch {
			case o == "":
				return nil, fmt.Errorf("%s says no node serves slot %d", a, s)
			case first != nil && o != first[s]:
				return nil, fmt.Errorf("%s says %s serves slot %d, %s says %s", a, o, s, live[0], first[s])
			case c.node(o) == nil:
				return nil, fmt.Errorf("%s says slot %d is served by %s, which is no node of this cluster", a, s, o)
			case !c.isLive(o):
				return nil, fmt.Errorf("%s says slot %d is served by %s, which is dead", a, s, o)
			}
		}
		if first == nil {
			first = owners
		}
	}
	for _, m := range distinct(first) {
		info, err := c.clients[m].Info(ctx, "replication").Result()
		if err != nil {
			return nil, fmt.Errorf("INFO replication on %s: %w", m, err)
		}
		if v := infoField(info, "role"); v != "master" {
			return nil, fmt.Errorf("%s serves slots but has role:%s", m, v)
		}
	}
	return first, nil
}

// node returns the node at addr, or nil.
func (c *Cluster) node(addr string) *Server {
	for _, s := range c.nodes {
		if s.Addr() == addr {
			return s
		}
	}
	return nil
}

// isLive reports whether the node at addr was not killed and still runs.
func (c *Cluster) isLive(addr string) bool {
	c.mu.Lock()
	dead := c.dead[addr]
	c.mu.Unlock()
	s := c.node(addr)
	if dead || s == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// liveAddrs returns the addresses of the nodes that are live.
func (c *Cluster) liveAddrs() []string {
	var addrs []string
	for _, a := range c.Addrs() {
		if c.isLive(a) {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// logTails logs the end of every node's log, to tell why a cluster failed.
func (c *Cluster) logTails(t testing.TB) {
	t.Helper()
	for _, s := range c.nodes {
		log, _ := os.ReadFile(s.dir + "/redis.log")
		lines := bytes.Split(bytes.TrimSpace(log), []byte("\n"))
		lines = lines[max(len(lines)-15, 0):]
		t.Logf("%s log tail:\n%s", s, bytes.Join(lines, []byte("\n")))
	}
}

// infoField returns the value of field in INFO-style "field:value" lines.
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// distinct returns the distinct non-empty strings of ss, in first-seen order.
func distinct(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

//go:build chaos

package main

import (
	"context"
	"flag"
	"io"
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/ferrettest"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/pipeline"
)

// The chaos runs on the MongoDB store (FerretDB in its own process): the
// SQLite store's scenarios that make sense for it, and a full disk.
var (
	// TestChaosMongo's outage kills the FerretDB process and starts it
	// again; with -chaos.mongo-cut it cuts the connections instead.
	chaosMongoCut = flag.Bool("chaos.mongo-cut", false, "TestChaosMongo: cut every connection to FerretDB for the outage instead of restarting it")
	// TestChaosMongo fixes FerretDB's _id index, as the deployment did;
	// -chaos.mongo-as-shipped leaves it as shipped (every _id lookup a scan).
	// TestChaosMongo with the LLM fallback of TestChaos: off by default, as
	// it comes near its drain deadline. Its first run (one, at load 9)
	// stalled; runs since (issue 27 item 10, at load 15-18) passed with 0
	// mismatches but drained 2 m 12 s and 2 m 50 s after the last kill (3
	// min allowed), no store call failing: FerretDB 1.24 pushes a filter
	// down to SQLite only when it is {_id: X}, so each lookup of new
	// (app, url, title) keys (one $or per Save or KeepAnswers call, three
	// processes) scans categorized_data and evaluates every branch per
	// document. Its ~2,500 documents here (a thousand titles per unknown
	// app) made one such lookup cost 0.4 s for 1 key, 1.1 s for 16, 6.8 s
	// for 100 (measured here, load 15): store calls of 14-45 records took
	// 3-8 s, the batch size fell to 7-21, and the keeper's lookups timed
	// out at the store timeout. No cheap fix: only an _id lookup is
	// indexed, and the documents' ids are the main server's.
	chaosMongoLLM       = flag.Bool("chaos.mongo-llm", false, "TestChaosMongo: with the LLM fallback slow, failing and hanging, as TestChaos")
	chaosMongoAsShipped = flag.Bool("chaos.mongo-as-shipped", false, "TestChaosMongo: leave FerretDB's _id index as shipped (lookups by _id scan)")
	// The MongoDB runs' events name no activity and are never retried
	// unless -chaos.mongo-ids: with the main server's ids (usage logs
	// updated by id, one statement each on FerretDB) TestChaosMongo made
	// no progress, three times of three with 2 or 3 processes (2026-12-07,
	// seed 1): 1,800 entries delivered, none committed, FerretDB idle and
	// answering no ping for minutes after its restart (the outage), with
	// the usage logs pre-created as the main server does and without.
	// With -chaos.procs 1 it passed (0 mismatches, 34.6 s). Cause:
	// FerretDB 1.24 held an SQLite connection (of 100) per updateOne
	// statement until its command ended; concurrent commands of 90 took
	// them all, each waiting for one more, and a createIndexes waiting
	// for one held the registry lock every ping waits on. The store now
	// sends multi statements (mongo.updatePerDocument): passed with 3
	// processes, 0 mismatches, 38.7 s.
	chaosMongoIDs = flag.Bool("chaos.mongo-ids", false, "MongoDB chaos runs: events name their activity (pomodoroUsageLogId, usage logs pre-created) and the producer retries, as on SQLite")
)

// mongoChaos is the MongoDB store of a chaos run: FerretDB in its own
// process, category_pattern seeded, and its _id index fixed as the
// deployment's (unless -chaos.mongo-as-shipped).
type mongoChaos struct {
	fdb      *ferrettest.Server
	database string
	// server says which FerretDB, for the scenario's name.
	server string
}

// startMongoChaos prepares fdb's database for a chaos run. The main server
// seeded category_pattern long ago; processes starting at once on an
// empty collection would each seed it.
func startMongoChaos(t *testing.T, fdb *ferrettest.Server) *mongoChaos {
	m := &mongoChaos{fdb: fdb, database: "chaos", server: "FerretDB, _id index fixed"}
	ctx := context.Background()
	st, err := mongo.Open(ctx, mongo.Config{URI: fdb.URI, Database: m.database})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SeedPatterns(ctx, classify.DefaultPatterns()); err != nil {
		t.Fatal(err)
	}
	_ = st.Close(ctx)
	// As the deployment issue 19 measured: FerretDB with its _id index
	// fixed. As shipped, every lookup by _id scans the collection (a
	// retried batch's duplicate check, 3 s at 100,000 usage logs), and the
	// long form may stall once the collection is large.
	if *chaosMongoAsShipped {
		m.server = "FerretDB as shipped"
	} else {
		fdb.FixIDIndex(m.database)
	}
	return m
}

// opts are the options of a chaos run on m's store: every process on it,
// the store read back from it, several categorized_data documents of a key
// allowed (no unique index on the key: instances creating a new key at
// once may each insert it; documented), and the outage FerretDB killed and
// started again on the same data.
func (m *mongoChaos) opts() chaosOpts {
	o := chaosOpts{name: "MongoDB store (" + m.server + ")",
		cdDuplicatesOK: true,
		noActivityIDs:  !*chaosMongoIDs,
		env:            []string{"MONGO_URI=" + m.fdb.URI, "MONGO_DATABASE=" + m.database},
		storeDown: func(_ *testing.T, _ string, d time.Duration) {
			m.fdb.Stop()
			time.Sleep(d) // the outage itself
			m.fdb.Start()
		},
		outageWhat: "FerretDB stopped, then started again",
		// With -chaos.mongo-ids, as the main server does: the usage logs
		// exist before their events are sent (without a category), so
		// the pipeline updates them by id; without them each would be an
		// update that misses, then an upsert.
		precreate: func(t *testing.T, records []pipeline.Record) {
			ctx := context.Background()
			st, err := mongo.Open(ctx, mongo.Config{URI: m.fdb.URI, Database: m.database, Timeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close(ctx)
			for chunk := range slices.Chunk(records, 1000) {
				if err := st.Save(ctx, chunk); err != nil {
					t.Fatalf("pre-creating usage logs: %v", err)
				}
			}
		},
		readStore: func(t *testing.T, _ string) ([]pomocore.CategoryPattern, []pomocore.CategorizedData, []pomocore.UsageLog) {
			return readMongo(t, m.fdb.URI, m.database)
		}}
	if o.noActivityIDs {
		o.precreate = nil
	}
	return o
}

// runMongoChaos is a chaos run of o (the options of a mongoChaos) on a
// Redis of its own.
func runMongoChaos(t *testing.T, o chaosOpts) {
	srv := redistest.Start(t)
	runChaos(t, srv.Client(t), []string{"REDIS_ADDR=" + srv.Addr()}, o)
}

// TestChaosMongo is the chaos run on the MongoDB store: the outage kills
// FerretDB and starts it again on the same data (issue 19). With
// -chaos.mongo-llm, the LLM fallback is slow, fails and hangs in turns as
// in TestChaos (issue 27 item 10; not in CI: it drains for minutes, see
// the flag). It stalled until a retried batch stopped updating its duplicate
// usage logs one by id (a collection scan each there, and FerretDB may run
// an abandoned command well past its maxTimeMS).
func TestChaosMongo(t *testing.T) {
	fdb := ferrettest.StartServer(t)
	m := startMongoChaos(t, fdb)
	o := scenario(m.opts(), "server stopped and restarted mid-run")
	if *chaosMongoCut {
		// The pipeline's side of a restart without FerretDB's: every
		// connection cut and new ones refused for the outage.
		u, err := url.Parse(fdb.URI)
		if err != nil {
			t.Fatal(err)
		}
		px := startCutProxy(t, u.Host)
		o = scenario(m.opts(), "unreachable mid-run")
		o.env = []string{"MONGO_URI=mongodb://" + px.addr + "/", "MONGO_DATABASE=" + m.database}
		o.outageWhat = "every connection to FerretDB cut, new ones refused"
		o.storeDown = func(_ *testing.T, _ string, d time.Duration) {
			px.down()
			time.Sleep(d) // the outage itself
			px.up()
		}
	}
	if *chaosMongoLLM {
		o = scenario(o, "LLM fallback slow, failing and hanging")
		o.llm = true
	}
	runMongoChaos(t, o)
}

// TestChaosMongoGroupDestroyed is TestChaosGroupDestroyed on the MongoDB
// store (issue 27 item 10): the group's low-water mark comes back from
// the store's newest usage logs.
func TestChaosMongoGroupDestroyed(t *testing.T) {
	m := startMongoChaos(t, ferrettest.StartServer(t))
	runMongoChaos(t, scaled(groupDestroyed(m.opts())))
}

// TestChaosMongoCrashLoopDuringStoreOutage is
// TestChaosCrashLoopDuringStoreOutage on the MongoDB store (issue 27 item
// 10): FerretDB is down for the outage, every process restarted every 4 s
// meanwhile, each start-up waiting for the store.
func TestChaosMongoCrashLoopDuringStoreOutage(t *testing.T) {
	m := startMongoChaos(t, ferrettest.StartServer(t))
	runMongoChaos(t, crashLoopDuringOutage(scaled(m.opts())))
}

// TestChaosMongoJanitorAtMinimumIdle is TestChaosJanitorAtMinimumIdle on
// the MongoDB store (issue 27 item 10): its batches take longer than
// SQLite's, so consumers hold entries longer while the janitor runs.
func TestChaosMongoJanitorAtMinimumIdle(t *testing.T) {
	m := startMongoChaos(t, ferrettest.StartServer(t))
	runMongoChaos(t, scaled(janitorAtMinimumIdle(m.opts())))
}

// TestChaosMongoDiskFull fills the disk under FerretDB for the outage
// (issue 27 item 10): its files are on a tmpfs the test mounts (root
// only: skipped otherwise), filled with a ballast file, then freed.
// FerretDB keeps answering pings while its writes fail with ENOSPC (SQLite
// "database or disk is full"), so the pipeline sees a store that answers
// and refuses writes: it must leave the entries pending, not dead-letter
// them as entries the store refuses on their own.
func TestChaosMongoDiskFull(t *testing.T) {
	fdb := ferrettest.StartServerOnTmpfs(t, 256<<20)
	m := startMongoChaos(t, fdb)
	o := scenario(m.opts(), "disk full under FerretDB mid-run")
	o.outageWhat = "FerretDB's filesystem filled (ENOSPC), then freed"
	o.mustLog = "database or disk is full"
	o.storeDown = func(t *testing.T, _ string, d time.Duration) {
		free, err := fdb.FillDisk()
		if err != nil {
			t.Error(err)
			return
		}
		time.Sleep(d) // the outage itself
		if err := free(); err != nil {
			t.Error(err)
		}
	}
	// Long enough, with POMOCORE_MAX_DELIVERIES=2, for entries to be
	// delivered past the limit while the disk is full: the failures are
	// the disk's, not the entries', so none may be dead-lettered.
	o = scaled(o)
	o.outage = max(o.outage, 20*time.Second)
	o.env = append(o.env, "POMOCORE_MAX_DELIVERIES=2")
	runMongoChaos(t, o)
}

// TestChaosMongoDatabaseDropped drops the database halfway through (issue
// 27 item 10: the MongoDB store's data deleted, TestChaosStoreFileDeleted's
// counterpart) while every process is down, killed at once, then starts
// them again on the empty database: they seed category_pattern again
// (with the same ids), create categorized_data anew and go on. Redis
// effects must be exact; the usage logs of every entry delivered after the
// drop must be in the new database, each naming a categorized_data
// document of its activity (those before were in the dropped one).
//
// Not under running processes: a running store cannot tell its database
// was dropped (SQLite's store checks its file at each call; a MongoDB
// check would cost a command per batch), so until restarted it goes on
// writing usage logs that name categorized_data documents of the dropped
// database (its key cache), and nothing seeds category_pattern again. A
// run with the drop 2 s before the restart found 1,604 such usage logs.
func TestChaosMongoDatabaseDropped(t *testing.T) {
	m := startMongoChaos(t, ferrettest.StartServer(t))
	o := scenario(m.opts(), "database dropped mid-run, every process killed meanwhile")
	o.midRun = func(c *chaosCtl) {
		c.restartAll(func() {
			if err := ferrettest.Client(t, m.fdb.URI).Database(m.database).Drop(context.Background()); err != nil {
				c.t.Errorf("drop database: %v", err)
				return
			}
			// Whatever the old database took was delivered by now.
			at := lastDelivered(c.rdb, chaosStream, chaosGroup)
			c.usageFrom.Store(&at)
			c.t.Logf("database dropped; the group had delivered up to %s", at)
		})
		if !c.logged("category_pattern was empty: seeded the built-in pattern set", 30*time.Second) {
			c.t.Error("no process seeded category_pattern again")
		}
	}
	runMongoChaos(t, scaled(o))
}

// cutProxy is a TCP proxy that can cut every connection and refuse new
// ones (down), then accept again on the same address (up).
type cutProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	l      net.Listener
	conns  map[net.Conn]bool
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{t: t, addr: l.Addr().String(), target: target, conns: map[net.Conn]bool{}}
	p.serve(l)
	t.Cleanup(p.down)
	return p
}

func (p *cutProxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[s] = true, true
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
}

func (p *cutProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) up() {
	var l net.Listener
	var err error
	if !eventually.Within(10*time.Second, func() bool {
		l, err = net.Listen("tcp", p.addr)
		return err == nil
	}) {
		p.t.Errorf("proxy up again on %s: %v", p.addr, err)
		return
	}
	p.serve(l)
}

func readMongo(t *testing.T, uri, database string) ([]pomocore.CategoryPattern, []pomocore.CategorizedData, []pomocore.UsageLog) {
	ctx := context.Background()
	st, err := mongo.Open(ctx, mongo.Config{URI: uri, Database: database, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	patterns, err := st.LoadPatterns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var logs []pomocore.UsageLog
	if err := st.UsageLogsBetween(ctx, 0, 1<<40, func(ls []pomocore.UsageLog) error {
		logs = append(logs, ls...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cur, err := ferrettest.Client(t, uri).Database(database).Collection(mongo.CategorizedDataCollection).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		ID         bson.ObjectID `bson:"_id"`
		App        string        `bson:"app"`
		URL        string        `bson:"url"`
		Title      string        `bson:"title"`
		CategoryID bson.ObjectID `bson:"categoryId"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	cds := make([]pomocore.CategorizedData, len(docs))
	for i, d := range docs {
		cds[i] = pomocore.CategorizedData{ID: pomocore.ObjectID(d.ID), App: d.App, URL: d.URL, Title: d.Title, CategoryID: pomocore.ObjectID(d.CategoryID)}
	}
	return patterns, cds, logs
}

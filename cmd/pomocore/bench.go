package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
	"github.com/pomocore/pomocore/sqlite"
)

// benchOptions are the flags of `pomocore bench`.
type benchOptions struct {
	Mode   string
	Events int
	Rate   int
	// Tick is how often steady mode writes the events due (one pipelined
	// round trip each): short, so that arrivals are as smooth as those of
	// many independent clients.
	Tick      time.Duration
	Duration  time.Duration
	IDs       string
	Users     int
	Keys      int
	Zipf      float64
	Days      int
	DaysSet   bool `json:"-"` // -days given explicitly
	Batch     int
	Consumers int
	Store     string
	Ceilings  bool
	JSON      bool
	Quiet     bool
	Seed      uint64
	// CPUProfile is a file for a CPU profile of the whole run.
	CPUProfile string
	// Batches is a file for one line per committed batch.
	Batches string
}

func (o benchOptions) validate() error {
	var errs []error
	if o.Mode != "drain" && o.Mode != "steady" {
		errs = append(errs, fmt.Errorf("-mode %q: want drain or steady", o.Mode))
	}
	if o.Events < 1 {
		errs = append(errs, fmt.Errorf("-events %d: want >= 1", o.Events))
	}
	if o.Mode == "steady" && (o.Rate < 1 || o.Duration <= 0) {
		errs = append(errs, fmt.Errorf("-rate %d, -duration %v: want both > 0 in steady mode", o.Rate, o.Duration))
	}
	if o.Tick <= 0 || o.Tick > time.Second {
		errs = append(errs, fmt.Errorf("-tick %v: want > 0 and <= 1s", o.Tick))
	}
	if o.IDs != "create" && o.IDs != "given" && o.IDs != "both" {
		errs = append(errs, fmt.Errorf("-ids %q: want create, given or both", o.IDs))
	}
	if o.Mode == "steady" && o.IDs != "create" {
		errs = append(errs, fmt.Errorf("-ids %q: steady mode creates its documents; use -ids create", o.IDs))
	}
	if o.Users < 1 || o.Keys < 2 || o.Days < 1 {
		errs = append(errs, fmt.Errorf("-users %d, -keys %d, -days %d: want >= 1, >= 2, >= 1", o.Users, o.Keys, o.Days))
	}
	if o.Zipf <= 1 {
		errs = append(errs, fmt.Errorf("-zipf %v: want > 1", o.Zipf))
	}
	if o.Consumers < 1 || o.Consumers > 64 {
		errs = append(errs, fmt.Errorf("-consumers %d: want 1..64", o.Consumers))
	}
	if o.Store != "auto" && o.Store != "sqlite" && o.Store != "mongo" && o.Store != "discard" {
		errs = append(errs, fmt.Errorf("-store %q: want auto, sqlite, mongo or discard", o.Store))
	}
	return errors.Join(errs...)
}

// benchResult is one run's figures (the --json output is a list of them).
type benchResult struct {
	Mode      string `json:"mode"`
	IDs       string `json:"ids"`
	Store     string `json:"store"`
	Redis     string `json:"redis"`
	Consumers int    `json:"consumers"`
	Batch     int    `json:"batch"`
	Events    int    `json:"events"`
	Users     int    `json:"users"`
	Keys      int    `json:"keys"`

	Seconds       float64 `json:"seconds"`
	EventsPerSec  float64 `json:"events_per_sec"`
	StoreCeiling  float64 `json:"store_ceiling_events_per_sec,omitempty"`
	CommitCeiling float64 `json:"commit_ceiling_events_per_sec,omitempty"`
	OfSlowestPart float64 `json:"fraction_of_slowest_part,omitempty"`
	Batches       int64   `json:"batches"`
	MeanBatch     float64 `json:"mean_batch"`
	// Mean milliseconds per batch: the whole batch, its store call and its
	// commit call.
	BatchMillis    float64 `json:"batch_ms"`
	StoreMillis    float64 `json:"store_ms"`
	CommitMillis   float64 `json:"commit_ms"`
	StoreCommands  float64 `json:"store_commands_per_1000,omitempty"`
	StoreUpdates   float64 `json:"store_update_statements_per_1000,omitempty"`
	StoreInserted  float64 `json:"store_inserted_docs_per_1000,omitempty"`
	AgeP50Millis   float64 `json:"age_p50_ms,omitempty"`
	AgeP95Millis   float64 `json:"age_p95_ms,omitempty"`
	AgeP99Millis   float64 `json:"age_p99_ms,omitempty"`
	AgeMaxMillis   float64 `json:"age_max_ms,omitempty"`
	RateAchieved   float64 `json:"produced_per_sec,omitempty"`
	RSSStartMiB    float64 `json:"rss_start_mib,omitempty"`
	RSSEndMiB      float64 `json:"rss_end_mib,omitempty"`
	RSSMaxMiB      float64 `json:"rss_max_mib,omitempty"`
	HeapStartMiB   float64 `json:"heap_start_mib,omitempty"`
	HeapEndMiB     float64 `json:"heap_end_mib,omitempty"`
	Verified       bool    `json:"verified"`
	Verification   string  `json:"verification"`
	CPUs           int     `json:"cpus"`
	GoVersion      string  `json:"go"`
	LeaderboardKey int     `json:"leaderboard_keys"`
}

func benchCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o := benchOptions{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Mode, "mode", "drain", "drain: pre-fill -events, then time the pipeline until nothing is pending; steady: produce at -rate for -duration and measure event age")
	fs.IntVar(&o.Events, "events", 200000, "events to pre-fill (drain mode)")
	fs.IntVar(&o.Rate, "rate", 10000, "events per second to produce (steady mode)")
	fs.DurationVar(&o.Tick, "tick", time.Millisecond, "steady mode writes the events due every `interval`, pipelined (before 2026-11-29: 5ms, which arrives in bursts of rate/200)")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to produce (steady mode)")
	fs.StringVar(&o.IDs, "ids", "both", "create: the pipeline creates the documents; given: events name pre-created documents; both")
	fs.IntVar(&o.Users, "users", 10000, "distinct users")
	fs.IntVar(&o.Keys, "keys", 20000, "distinct (app, url, title) keys, Zipf-distributed")
	fs.Float64Var(&o.Zipf, "zipf", 1.1, "Zipf skew s of key popularity (> 1)")
	fs.IntVar(&o.Days, "days", 3, "timestamps spread over this many days before now (steady mode, unless set: the time each event is produced, minus up to a minute, as from live clients)")
	fs.IntVar(&o.Batch, "batch", 0, "largest batch (0: POMOCORE_BATCH_SIZE or its default)")
	fs.IntVar(&o.Consumers, "consumers", 1, "pipelines (consumers of the group) run in this process")
	fs.StringVar(&o.Store, "store", "auto", "auto (MONGO_URI if set, else SQLite in a temporary directory), sqlite, mongo or discard (no store: Redis alone)")
	fs.BoolVar(&o.Ceilings, "ceilings", true, "also measure the store and the Redis commit alone (drain mode)")
	fs.BoolVar(&o.JSON, "json", false, "print the results as JSON")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress bar")
	fs.Uint64Var(&o.Seed, "seed", 1, "workload seed")
	fs.StringVar(&o.Batches, "batches", "", "write one line per committed batch to FILE.<ids>: commit end (unix microseconds), then microseconds from read to commit end, in the store and in the commit, then entries")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the timed pipeline run (drain: the drain, then the ceilings to FILE.<ids>.ceilings; steady: the whole run) to FILE.<ids>")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: pomocore bench [flags]

Generates a workload, runs the pipeline over it and prints verified figures.
Redis: REDIS_ADDR (and the other REDIS_* settings) when set, else a private
redis-server started on a free port (miniredis when none is installed).
Store: MONGO_URI when set (database <MONGO_DATABASE>_bench), else SQLite in a
temporary directory. Keys and streams are prefixed bench:<run>: and deleted
afterwards.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) { o.DaysSet = o.DaysSet || f.Name == "days" })
	if err := o.validate(); err != nil {
		return fmt.Errorf("bad flags:\n%w", err)
	}
	cfg, err := loadConfig("bench", nil, getenv, stderr)
	if err != nil {
		return fmt.Errorf("bad settings (see `pomocore settings`):\n%w", err)
	}
	if o.Batch > 0 {
		cfg.BatchSize = o.Batch
	}
	if o.Store == "auto" {
		o.Store = "sqlite"
		if cfg.MongoURI != "" {
			o.Store = "mongo"
		}
	}
	if o.Store == "mongo" && cfg.MongoURI == "" {
		return errors.New("-store mongo: set MONGO_URI")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rdb, redisKind, closeRedis, err := benchRedis(cfg, stderr)
	if err != nil {
		return err
	}
	defer closeRedis()
	modes := []string{o.IDs}
	if o.IDs == "both" {
		modes = []string{"create", "given"}
	}
	var results []benchResult
	for _, ids := range modes {
		r, err := benchOnce(ctx, o, ids, cfg, rdb, log, newProgress(stderr, o.Quiet))
		if err != nil {
			return fmt.Errorf("%s ids: %w", ids, err)
		}
		r.Redis = redisKind
		results = append(results, r)
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		printBench(stdout, results)
	}
	for _, r := range results {
		if !r.Verified {
			return fmt.Errorf("verification failed (%s ids): %s", r.IDs, r.Verification)
		}
	}
	return nil
}

// benchRedis connects to the configured Redis or starts a private
// redis-server (miniredis when none is installed).
func benchRedis(cfg config, stderr io.Writer) (goredis.UniversalClient, string, func(), error) {
	rcfg := cfg.redisConfig()
	kind := "configured " + strings.Join(cfg.RedisAddrs, ",")
	stop := func() {}
	if len(cfg.RedisAddrs) == 0 {
		addr, stopServer, err := startRedisServer()
		if err != nil {
			fmt.Fprintf(stderr, "bench: no redis-server (%v): using miniredis, whose figures say nothing about Redis\n", err)
			mini := miniredis.NewMiniRedis()
			if err := mini.Start(); err != nil {
				return nil, "", nil, fmt.Errorf("embedded redis: %w", err)
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
		return nil, "", nil, fmt.Errorf("REDIS_ADDR: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for rdb.Ping(ctx).Err() != nil {
		if ctx.Err() != nil {
			_ = rdb.Close()
			stop()
			return nil, "", nil, fmt.Errorf("redis %s: not reachable", kind)
		}
		time.Sleep(20 * time.Millisecond) // waiting for a process to listen, not synchronising goroutines
	}
	return rdb, kind, func() { _ = rdb.Close(); stop() }, nil
}

// startRedisServer starts redis-server on a free loopback port, without
// persistence, in a temporary directory.
func startRedisServer() (string, func(), error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "pomocore-bench-redis-")
	if err != nil {
		return "", nil, err
	}
	port, err := freeTCPPort()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", "redis.log")
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	return "127.0.0.1:" + strconv.Itoa(port), func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}, nil
}

// benchStore is what the benchmark needs of a store.
type benchStore interface {
	store
	Counts(ctx context.Context) (pomocore.DocumentCounts, error)
}

// openBenchStore opens a fresh store of kind (sqlite, mongo, discard); name
// tells a second store apart (the ceiling's).
func openBenchStore(ctx context.Context, kind, name string, cfg config) (benchStore, func(), error) {
	switch kind {
	case "mongo":
		mcfg := cfg.mongoConfig()
		mcfg.Database += "_bench" + name
		if err := mongo.DropDatabase(ctx, mcfg); err != nil {
			return nil, nil, err
		}
		st, err := mongo.Open(ctx, mcfg)
		if err != nil {
			return nil, nil, err
		}
		return st, func() {
			c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = mongo.DropDatabase(c, mcfg)
			_ = st.Close(c)
		}, nil
	case "discard":
		return discardStore{}, func() {}, nil
	default:
		dir, err := os.MkdirTemp("", "pomocore-bench-sqlite-")
		if err != nil {
			return nil, nil, err
		}
		st, err := sqlite.Open(ctx, sqlite.Config{Dir: dir})
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, nil, err
		}
		return st, func() { _ = st.Close(); _ = os.RemoveAll(dir) }, nil
	}
}

// discardStore stores nothing: it measures the pipeline and Redis alone.
type discardStore struct{}

func (discardStore) Save(context.Context, []pipeline.Record) error { return nil }
func (discardStore) LoadPatterns(context.Context) ([]pomocore.CategoryPattern, error) {
	ps := classify.DefaultPatterns()
	for i := range ps {
		ps[i].ID = pomocore.NewObjectID(time.Unix(0, 0))
	}
	return ps, nil
}
func (discardStore) SeedPatterns(context.Context, []pomocore.CategoryPattern) (bool, error) {
	return false, nil
}
func (discardStore) Ping(context.Context) error { return nil }
func (discardStore) Counts(context.Context) (pomocore.DocumentCounts, error) {
	return pomocore.DocumentCounts{}, nil
}

// benchObserver collects what the pipelines commit.
type benchObserver struct {
	ages       *histogram
	committed  atomic.Int64
	lastCommit atomic.Int64 // unix nanoseconds
	batches    atomic.Int64
	took       atomic.Int64 // nanoseconds, summed over batches
	store      atomic.Int64
	commit     atomic.Int64

	mu       sync.Mutex
	batchLog io.Writer // one line per batch (-batches), or nil
}

func (b *benchObserver) BatchDone(r pipeline.BatchReport) {
	if b.ages != nil {
		b.ages.record(r.Ages)
	}
	b.batches.Add(1)
	b.took.Add(int64(r.Took))
	b.store.Add(int64(r.Store))
	b.commit.Add(int64(r.Commit))
	b.committed.Add(int64(r.Applied))
	now := time.Now()
	b.lastCommit.Store(now.UnixNano())
	if b.batchLog != nil {
		b.mu.Lock()
		fmt.Fprintf(b.batchLog, "%d %d %d %d %d\n", now.UnixMicro(), r.Took.Microseconds(), r.Store.Microseconds(), r.Commit.Microseconds(), len(r.Ages))
		b.mu.Unlock()
	}
}
func (b *benchObserver) CallFailed(string, error) {}

// benchNames are one run's stream and key names.
func benchNames(cfg config, run string) config {
	cfg.Stream = "bench:" + run + ":in"
	cfg.Group = "bench"
	cfg.DeadStream = "bench:" + run + ":dead"
	cfg.SessionStrm = "bench:" + run + ":sessions"
	cfg.KeyPrefix = "bench:" + run + ":leaderboard"
	cfg.Block = 100 * time.Millisecond
	return cfg
}

// benchOnce runs one id mode.
func benchOnce(ctx context.Context, o benchOptions, ids string, cfg config, rdb goredis.UniversalClient, log *slog.Logger, pr *progress) (benchResult, error) {
	res := benchResult{Mode: o.Mode, IDs: ids, Store: o.Store, Consumers: o.Consumers, Batch: cfg.BatchSize,
		Users: o.Users, Keys: o.Keys, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return res, fmt.Errorf("POMOCORE_TIMEZONE: %w", err)
	}
	tax := pomocore.DefaultTaxonomy()
	if cfg.TaxonomyFile != "" {
		if tax, err = pomocore.LoadTaxonomy(cfg.TaxonomyFile); err != nil {
			return res, fmt.Errorf("POMOCORE_TAXONOMY_FILE: %w", err)
		}
	}
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	run := hex.EncodeToString(rb[:])
	cfg = benchNames(cfg, run)
	cfg.OpenAIKey = "" // the benchmark never calls an LLM
	defer cleanupBench(rdb, run)

	st, closeStore, err := openBenchStore(ctx, o.Store, "", cfg)
	if err != nil {
		return res, fmt.Errorf("store: %w", err)
	}
	defer closeStore()
	if _, err := st.SeedPatterns(ctx, classify.DefaultPatterns()); err != nil {
		return res, err
	}
	patterns, err := st.LoadPatterns(ctx)
	if err != nil {
		return res, err
	}
	rs, err := buildRules(patterns, tax, log)
	if err != nil {
		return res, err
	}
	chain, _, err := newChain(ctx, cfg, st, tax, rs, log)
	if err != nil {
		return res, err
	}
	defer chain.Close()

	var ceil benchStore
	if o.Ceilings && o.Mode == "drain" {
		var closeCeil func()
		if ceil, closeCeil, err = openBenchStore(ctx, o.Store, "_ceiling", cfg); err != nil {
			return res, fmt.Errorf("ceiling store: %w", err)
		}
		defer closeCeil()
		if _, err := ceil.SeedPatterns(ctx, patterns); err != nil {
			return res, err
		}
	}

	now := time.Now()
	days := o.Days
	if o.Mode == "steady" && !o.DaysSet {
		days = 0 // live: events stamped as they are produced
	}
	w := newBenchWorkload(workloadConfig{Users: o.Users, Keys: o.Keys, Zipf: o.Zipf, Days: days, EndRate: 0.05, BadRate: 0.001,
		GivenID: ids == "given", Seed: o.Seed, Now: now, Clock: time.Now})
	exp := newExpectation(chain, tax, loc, cfg.KeyPrefix)
	prod := &producer{rdb: rdb, stream: cfg.Stream, w: w, exp: exp, loc: loc}
	if ids == "given" {
		prod.precreate = []benchStore{st}
		if ceil != nil {
			prod.precreate = append(prod.precreate, ceil)
		}
	}
	// The group exists before the first entry: the pipeline reads from 0.
	readers := make([]*redis.Reader, o.Consumers)
	for i := range readers {
		c := cfg
		c.Consumer = fmt.Sprintf("bench-%d", i)
		if readers[i], err = newReader(ctx, c, rdb, log); err != nil {
			return res, err
		}
	}
	obs := &benchObserver{}
	if o.Batches != "" {
		f, err := os.Create(o.Batches + "." + ids)
		if err != nil {
			return res, fmt.Errorf("-batches: %w", err)
		}
		w := bufio.NewWriter(f)
		defer func() { _ = w.Flush(); _ = f.Close() }()
		obs.batchLog = w
	}
	var mongoStats func() mongo.Stats
	if ms, ok := st.(interface{ Stats() mongo.Stats }); ok {
		mongoStats = ms.Stats
	}
	var before mongo.Stats

	switch o.Mode {
	case "drain":
		pr.begin("pre-fill", int64(o.Events), time.Now())
		if err := prod.produce(ctx, o.Events, func(n int) { pr.update(int64(n), "", time.Now()) }); err != nil {
			return res, fmt.Errorf("pre-fill: %w", err)
		}
		pr.end()
		if mongoStats != nil {
			before = mongoStats()
		}
		stopProfile, err := startProfile(o.CPUProfile, ids)
		if err != nil {
			return res, err
		}
		defer stopProfile()
		start := time.Now()
		stop, wait, err := startPipelines(ctx, o, cfg, loc, rdb, readers, st, tax, chain, rs.ids, log, obs)
		if err != nil {
			return res, err
		}
		pr.begin("pipeline drain", int64(o.Events), start)
		for obs.committed.Load() < int64(o.Events) && ctx.Err() == nil {
			pr.update(obs.committed.Load(), "", time.Now())
			time.Sleep(20 * time.Millisecond) // polling a counter for display, not synchronisation
		}
		stop()
		if err := wait(); err != nil {
			return res, err
		}
		stopProfile()
		pr.end()
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		res.Seconds = time.Unix(0, obs.lastCommit.Load()).Sub(start).Seconds()
		res.Events = o.Events
		res.EventsPerSec = float64(o.Events) / res.Seconds
		if ceil != nil {
			stopProfile, err := startProfile(o.CPUProfile, ids+".ceilings")
			if err != nil {
				return res, err
			}
			defer stopProfile()
			if err := measureCeilings(ctx, o, cfg, loc, rdb, ceil, tax, chain, rs.ids, log, pr, &res); err != nil {
				return res, fmt.Errorf("ceilings: %w", err)
			}
		}
	case "steady":
		obs.ages = &histogram{}
		cfg.TrimInput = true
		cfg.ClaimInterval = 5 * time.Second
		if mongoStats != nil {
			before = mongoStats()
		}
		stopProfile, err := startProfile(o.CPUProfile, ids)
		if err != nil {
			return res, err
		}
		defer stopProfile()
		stop, wait, err := startPipelines(ctx, o, cfg, loc, rdb, readers, st, tax, chain, rs.ids, log, obs)
		if err != nil {
			return res, err
		}
		if err := runSteady(ctx, o, prod, obs, pr, &res); err != nil {
			stop()
			_ = wait()
			return res, err
		}
		stop()
		if err := wait(); err != nil {
			return res, err
		}
		res.Events = exp.events
		res.AgeP50Millis = millis(obs.ages.quantile(0.50))
		res.AgeP95Millis = millis(obs.ages.quantile(0.95))
		res.AgeP99Millis = millis(obs.ages.quantile(0.99))
		res.AgeMaxMillis = millis(obs.ages.quantile(1))
	}
	res.Batches = obs.batches.Load()
	if res.Batches > 0 {
		res.MeanBatch = float64(res.Events) / float64(res.Batches)
		perBatch := func(ns int64) float64 { return float64(ns) / 1e6 / float64(res.Batches) }
		res.BatchMillis, res.StoreMillis, res.CommitMillis = perBatch(obs.took.Load()), perBatch(obs.store.Load()), perBatch(obs.commit.Load())
	}
	if mongoStats != nil {
		d := mongoStats()
		per := 1000 / float64(res.Events)
		res.StoreCommands = float64(d.Commands-before.Commands) * per
		res.StoreUpdates = float64(d.UpdateStatements-before.UpdateStatements) * per
		res.StoreInserted = float64(d.InsertedDocuments-before.InsertedDocuments) * per
	}
	res.LeaderboardKey = len(exp.sums)
	res.Verification, res.Verified = verifyBench(ctx, rdb, cfg, readers[0], st, exp, rs.ids, o.Store != "discard")
	return res, nil
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// startPipelines runs one pipeline per reader until stop is called; wait
// returns the first error of any.
func startPipelines(ctx context.Context, o benchOptions, cfg config, loc *time.Location, rdb goredis.UniversalClient, readers []*redis.Reader,
	st pipeline.Store, tax *pomocore.Taxonomy, c pipeline.Classifier, ids map[string]pomocore.ObjectID, log *slog.Logger, obs pipeline.Observer) (stop func(), wait func() error, err error) {
	runCtx, cancel := context.WithCancel(ctx)
	errs := make(chan error, len(readers))
	var wg sync.WaitGroup
	for _, r := range readers {
		p, err := newPipeline(cfg, loc, rdb, r, st, tax, c, ids, log, obs)
		if err != nil {
			cancel()
			wg.Wait()
			return nil, nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Run(runCtx); err != nil {
				errs <- err
			}
		}()
	}
	return cancel, func() error {
		wg.Wait()
		close(errs)
		return <-errs
	}, nil
}

// producer writes workload events to the input stream, pipelined, and
// pre-creates the documents given-id events name.
type producer struct {
	rdb       goredis.UniversalClient
	stream    string
	w         *benchWorkload
	exp       *expectation
	loc       *time.Location
	precreate []benchStore
	buf       []any
}

// produce writes n events in pipelined chunks, calling done with the count
// written so far.
func (p *producer) produce(ctx context.Context, n int, done func(int)) error {
	const chunk = 1000
	var recs []pipeline.Record
	for sent := 0; sent < n; {
		m := min(chunk, n-sent)
		pipe := p.rdb.Pipeline()
		recs = recs[:0]
		for range m {
			e := p.w.next()
			p.exp.add(p.w, e)
			p.buf = p.w.fields(e, p.loc, p.buf)
			pipe.XAdd(ctx, &goredis.XAddArgs{Stream: p.stream, Values: append([]any(nil), p.buf...)})
			if len(p.precreate) > 0 && !e.bad {
				recs = append(recs, p.w.precreated(e, p.loc))
			}
		}
		for _, st := range p.precreate {
			if err := st.Save(ctx, recs); err != nil {
				return fmt.Errorf("pre-creating documents: %w", err)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		sent += m
		if done != nil {
			done(sent)
		}
	}
	return nil
}

// runSteady produces at o.Rate for o.Duration, then waits until every
// event is committed, sampling the process's memory.
func runSteady(ctx context.Context, o benchOptions, prod *producer, obs *benchObserver, pr *progress, res *benchResult) error {
	start := time.Now()
	total := int64(float64(o.Rate) * o.Duration.Seconds())
	pr.begin("steady produce", total, start)
	tick := time.NewTicker(o.Tick)
	defer tick.Stop()
	var sent int64
	var ms runtime.MemStats
	startSampled := false
	sample := func() {
		runtime.ReadMemStats(&ms)
		rss := float64(rssBytes()) / (1 << 20)
		res.RSSMaxMiB = max(res.RSSMaxMiB, rss)
		if !startSampled {
			res.RSSStartMiB, res.HeapStartMiB, startSampled = rss, float64(ms.HeapInuse)/(1<<20), true
		}
		res.RSSEndMiB, res.HeapEndMiB = rss, float64(ms.HeapInuse)/(1<<20)
	}
	nextSample := start.Add(5 * time.Second) // "start" is after a 5 s warm-up
	for sent < total {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-tick.C:
			due := min(total, int64(now.Sub(start).Seconds()*float64(o.Rate)))
			if due > sent {
				if err := prod.produce(ctx, int(due-sent), nil); err != nil {
					return err
				}
				sent = due
			}
			if !now.Before(nextSample) {
				sample()
				nextSample = now.Add(time.Second)
			}
			pr.update(sent, fmt.Sprintf("committed %s", humanCount(obs.committed.Load())), now)
		}
	}
	res.RateAchieved = float64(sent) / time.Since(start).Seconds()
	res.Seconds = time.Since(start).Seconds()
	pr.end()
	for obs.committed.Load() < sent && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond) // polling a counter for the end of the run, not synchronisation
	}
	sample()
	return ctx.Err()
}

// measureCeilings times the store writes and the Redis commit of the same
// workload alone, one after the other, batch by batch: a second consumer
// group reads the same entries, the pipeline's Prepare turns them into
// records and commit entries (untimed), then Save into a second store and
// Commit onto leaderboard keys of their own are timed.
func measureCeilings(ctx context.Context, o benchOptions, cfg config, loc *time.Location, rdb goredis.UniversalClient, st benchStore,
	tax *pomocore.Taxonomy, c pipeline.Classifier, ids map[string]pomocore.ObjectID, log *slog.Logger, pr *progress, res *benchResult) error {
	ccfg := cfg
	ccfg.Group = "ceiling"
	ccfg.Consumer = "ceiling"
	ccfg.KeyPrefix = strings.Replace(cfg.KeyPrefix, ":leaderboard", ":ceiling-leaderboard", 1)
	ccfg.DeadStream = cfg.DeadStream + "-ceiling"
	ccfg.SessionStrm = cfg.SessionStrm + "-ceiling"
	reader, err := newReader(ctx, ccfg, rdb, log)
	if err != nil {
		return err
	}
	p, err := newPipeline(ccfg, loc, rdb, reader, st, tax, c, ids, log, nil)
	if err != nil {
		return err
	}
	committer, err := redis.NewCommitter(rdb, ccfg.committerConfig())
	if err != nil {
		return err
	}
	var storeT, commitT time.Duration
	done := 0
	pr.begin("parts alone", int64(o.Events), time.Now())
	for done < o.Events {
		msgs, err := reader.Read(ctx, cfg.BatchSize, 100*time.Millisecond)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return fmt.Errorf("ceiling group read nothing after %d of %d entries", done, o.Events)
		}
		b := p.Prepare(msgs)
		t0 := time.Now()
		if err := st.Save(ctx, b.Records); err != nil {
			return err
		}
		t1 := time.Now()
		if _, err := committer.Commit(ctx, b.Entries); err != nil {
			return err
		}
		t2 := time.Now()
		storeT += t1.Sub(t0)
		commitT += t2.Sub(t1)
		done += len(msgs)
		pr.update(int64(done), "", t2)
	}
	pr.end()
	res.StoreCeiling = float64(done) / storeT.Seconds()
	res.CommitCeiling = float64(done) / commitT.Seconds()
	slowest := res.CommitCeiling
	if o.Store != "discard" {
		slowest = min(slowest, res.StoreCeiling)
	}
	res.OfSlowestPart = res.EventsPerSec / slowest
	return nil
}

// verifyBench checks what the run left behind against what was produced:
// every leaderboard key's total, no other key, the session and dead-letter
// streams, nothing pending, and the store's documents.
func verifyBench(ctx context.Context, rdb goredis.UniversalClient, cfg config, reader *redis.Reader, st benchStore,
	exp *expectation, ids map[string]pomocore.ObjectID, checkStore bool) (string, bool) {
	var problems []string
	keys := make([]string, 0, len(exp.sums))
	for k := range exp.sums {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var total, want float64
	for _, k := range keys {
		zs, err := rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		if err != nil {
			return "reading " + k + ": " + err.Error(), false
		}
		var sum float64
		for _, z := range zs {
			sum += z.Score
		}
		total += sum
		want += exp.sums[k]
		if math.Abs(sum-exp.sums[k]) > 1e-6*math.Max(1, exp.sums[k]) {
			problems = append(problems, fmt.Sprintf("%s: total %.0f, want %.0f", k, sum, exp.sums[k]))
		}
	}
	var found atomic.Int64
	if err := scanKeys(ctx, rdb, cfg.KeyPrefix+":*", func(context.Context, goredis.UniversalClient, string) { found.Add(1) }); err != nil {
		return "scanning keys: " + err.Error(), false
	}
	if int(found.Load()) != len(keys) {
		problems = append(problems, fmt.Sprintf("%d leaderboard keys, want %d", found.Load(), len(keys)))
	}
	for _, s := range []struct {
		name string
		key  string
		want int
	}{{"session-end events", cfg.SessionStrm, exp.ends}, {"dead letters", cfg.DeadStream, exp.bad}} {
		n, err := rdb.XLen(ctx, s.key).Result()
		if err != nil {
			return "XLEN " + s.key + ": " + err.Error(), false
		}
		if int(n) != s.want {
			problems = append(problems, fmt.Sprintf("%d %s, want %d", n, s.name, s.want))
		}
	}
	if _, pending, _, err := reader.GroupState(ctx); err != nil {
		return "group state: " + err.Error(), false
	} else if pending != 0 {
		problems = append(problems, fmt.Sprintf("%d entries still pending", pending))
	}
	docs := ""
	if checkStore {
		c, err := st.Counts(ctx)
		if err != nil {
			return "store counts: " + err.Error(), false
		}
		withCat := 0
		for cat, n := range exp.perCategory {
			if !ids[cat].IsZero() {
				withCat += n
			}
		}
		if c.UsageLogs != int64(exp.valid) || c.UsageLogsWithCategory != int64(withCat) {
			problems = append(problems, fmt.Sprintf("%d usage logs (%d with a category), want %d (%d)", c.UsageLogs, c.UsageLogsWithCategory, exp.valid, withCat))
		}
		if c.CategorizedData != int64(len(exp.keysUsed)) {
			problems = append(problems, fmt.Sprintf("%d categorized_data documents, want %d", c.CategorizedData, len(exp.keysUsed)))
		}
		docs = fmt.Sprintf(", %s usage logs, %s categorized_data", humanCount(c.UsageLogs), humanCount(c.CategorizedData))
	}
	if len(problems) > 0 {
		if len(problems) > 5 {
			problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
		}
		return strings.Join(problems, "; "), false
	}
	return fmt.Sprintf("ok: %d leaderboard keys total %.0f s (want %.0f), %d session ends, %d dead letters%s",
		len(keys), total, want, exp.ends, exp.bad, docs), true
}

// cleanupBench deletes the run's keys.
func cleanupBench(rdb goredis.UniversalClient, run string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Applied records and intents are named "{<key>}:applied", "{<stream>}:intent".
	_ = scanKeys(ctx, rdb, "*bench:"+run+":*", func(ctx context.Context, node goredis.UniversalClient, key string) {
		_ = node.Unlink(ctx, key).Err()
	})
}

// scanKeys calls f with every key matching pattern and the client of the
// node that holds it: on each master of a cluster, else on rdb.
func scanKeys(ctx context.Context, rdb goredis.UniversalClient, pattern string, f func(context.Context, goredis.UniversalClient, string)) error {
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

func printBench(w io.Writer, results []benchResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	f := func(v float64, unit string) string {
		if v == 0 {
			return "-"
		}
		return humanCount(int64(math.Round(v))) + unit
	}
	for _, r := range results {
		fmt.Fprintf(tw, "%s, %s ids, store %s, redis %s, %d consumer(s), batch <= %d, %d CPUs\n", r.Mode, r.IDs, r.Store, r.Redis, r.Consumers, r.Batch, r.CPUs)
		fmt.Fprintf(tw, "  events\t%s\t(%d users, %d keys, %d leaderboard keys)\n", humanCount(int64(r.Events)), r.Users, r.Keys, r.LeaderboardKey)
		fmt.Fprintf(tw, "  pipeline\t%s\tin %.2f s, %d batches of %.0f on average\n", f(r.EventsPerSec, " events/s"), r.Seconds, r.Batches, r.MeanBatch)
		fmt.Fprintf(tw, "  per batch\t%.1f ms\tstore %.1f ms, commit %.1f ms\n", r.BatchMillis, r.StoreMillis, r.CommitMillis)
		if r.StoreCeiling > 0 {
			fmt.Fprintf(tw, "  store alone\t%s\t\n", f(r.StoreCeiling, " events/s"))
			fmt.Fprintf(tw, "  commit alone\t%s\t\n", f(r.CommitCeiling, " events/s"))
			fmt.Fprintf(tw, "  of slowest part\t%.2f\t\n", r.OfSlowestPart)
		}
		if r.StoreCommands > 0 {
			fmt.Fprintf(tw, "  store per 1,000 events\t%.2f commands\t%.2f update statements, %.0f inserted documents\n", r.StoreCommands, r.StoreUpdates, r.StoreInserted)
		}
		if r.Mode == "steady" {
			fmt.Fprintf(tw, "  produced\t%s\t\n", f(r.RateAchieved, " events/s"))
			fmt.Fprintf(tw, "  event age\tp50 %.1f ms\tp95 %.1f ms, p99 %.1f ms, max %.1f ms\n", r.AgeP50Millis, r.AgeP95Millis, r.AgeP99Millis, r.AgeMaxMillis)
			fmt.Fprintf(tw, "  memory\tRSS %.0f -> %.0f MiB\t(max %.0f); Go heap %.0f -> %.0f MiB\n", r.RSSStartMiB, r.RSSEndMiB, r.RSSMaxMiB, r.HeapStartMiB, r.HeapEndMiB)
		}
		fmt.Fprintf(tw, "  verified\t%v\t%s\n", r.Verified, r.Verification)
	}
	_ = tw.Flush()
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

// startProfile starts a CPU profile into file.<ids> (nothing when file is
// empty); the returned stop may be called more than once.
func startProfile(file, ids string) (func(), error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.Create(file + "." + ids)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	var once sync.Once
	return func() { once.Do(func() { pprof.StopCPUProfile(); f.Close() }) }, nil
}

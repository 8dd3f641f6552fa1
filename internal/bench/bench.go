// Package bench is `pomocore bench`: it generates a workload of activity
// events (workload.go), runs the application's pipelines over it, times
// them (and the store and the commit alone), and verifies what they left
// behind against what the workload implies (verify.go).
package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/app"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// Options are the benchmark's flags (see cmd/pomocore bench -h).
type Options struct {
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
	// Partitions splits the input (POMOCORE_PARTITIONS): the producer
	// writes the source stream, a router in the process moves it to the
	// partition streams, and each has Consumers pipelines.
	Partitions int
	Store      string
	Ceilings   bool
	JSON       bool
	Quiet      bool
	Seed       uint64
	// CPUProfile is a file for a CPU profile of the whole run.
	CPUProfile string
	// Batches is a file for one line per committed batch.
	Batches string
	// KnownOnly leaves the unknown apps and sites out of the workload:
	// every activity is one the patterns decide.
	KnownOnly bool
	// LLM puts an LLM fallback behind the patterns (an in-process fake
	// endpoint answering the default category at once), so that the
	// pipeline runs as with OPENAI_API_KEY set: unknown activities wait
	// for their answer (POMOCORE_LLM_WAIT).
	LLM bool

	// PrepareMongo, when set, is called with the name of each fresh
	// database of -store mongo, after it is dropped and before the store
	// opens it: what a test or a side-by-side bench uses to prepare the
	// server (e.g. ferrettest.Server.FixIDIndex on collections it
	// creates). Not a flag.
	PrepareMongo func(ctx context.Context, database string) error `json:"-"`
	// StoreCPU, when set, returns the CPU time the store's server process
	// has used so far (e.g. FerretDB's): the drain reports it per event.
	// Not a flag.
	StoreCPU func() (time.Duration, error) `json:"-"`
}

// Validate reports options that cannot work, naming their flags.
func (o Options) Validate() error {
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
	if o.Partitions < 0 || o.Partitions > 64 {
		errs = append(errs, fmt.Errorf("-partitions %d: want 1..64 (0: 1)", o.Partitions))
	}
	if o.Store != "auto" && o.Store != "sqlite" && o.Store != "mongo" && o.Store != "discard" {
		errs = append(errs, fmt.Errorf("-store %q: want auto, sqlite, mongo or discard", o.Store))
	}
	return errors.Join(errs...)
}

// Result is one run's figures (the -json output is a list of them).
type Result struct {
	Mode      string `json:"mode"`
	IDs       string `json:"ids"`
	Store     string `json:"store"`
	Redis     string `json:"redis"`
	Consumers int    `json:"consumers"`
	// Partitions is the number of partition streams (1: not split).
	Partitions int `json:"partitions,omitempty"`
	// RedisCPUMicros is each master's CPU (INFO cpu, user + sys) per
	// event over the drain, by address (absent for the embedded Redis).
	RedisCPUMicros map[string]float64 `json:"redis_cpu_us_per_event,omitempty"`
	Batch          int                `json:"batch"`
	Events         int                `json:"events"`
	Users          int                `json:"users"`
	Keys           int                `json:"keys"`

	Seconds       float64 `json:"seconds"`
	EventsPerSec  float64 `json:"events_per_sec"`
	StoreCeiling  float64 `json:"store_ceiling_events_per_sec,omitempty"`
	CommitCeiling float64 `json:"commit_ceiling_events_per_sec,omitempty"`
	OfSlowestPart float64 `json:"fraction_of_slowest_part,omitempty"`
	Batches       int64   `json:"batches"`
	MeanBatch     float64 `json:"mean_batch"`
	// Mean milliseconds per batch: the whole batch, its store call and its
	// commit call.
	BatchMillis   float64 `json:"batch_ms"`
	StoreMillis   float64 `json:"store_ms"`
	CommitMillis  float64 `json:"commit_ms"`
	StoreCommands float64 `json:"store_commands_per_1000,omitempty"`
	StoreUpdates  float64 `json:"store_update_statements_per_1000,omitempty"`
	StoreInserted float64 `json:"store_inserted_docs_per_1000,omitempty"`
	// ProcessCPUMicros is this process's CPU (user and system) per event
	// during the timed run, microseconds: the pipeline, its clients, and
	// an embedded store (SQLite) with them.
	ProcessCPUMicros float64 `json:"process_cpu_us_per_event,omitempty"`
	// StoreCPUMicros is the store server's CPU per event during the timed
	// run, microseconds (Options.StoreCPU; 0: not measured).
	StoreCPUMicros float64 `json:"store_server_cpu_us_per_event,omitempty"`
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
	// KnownOnly and LLM are the workload and the fallback (Options);
	// LLMCalls the requests the fake LLM got.
	KnownOnly      bool   `json:"known_only,omitempty"`
	LLM            bool   `json:"llm,omitempty"`
	LLMCalls       int64  `json:"llm_calls,omitempty"`
	Verification   string `json:"verification"`
	CPUs           int    `json:"cpus"`
	GoVersion      string `json:"go"`
	LeaderboardKey int    `json:"leaderboard_keys"`
}

// Run runs the benchmark o over the settings cfg (Redis, store, batch
// size, time zone, ...), writing the results to stdout (as JSON with
// o.JSON) and progress and warnings to stderr. It fails when a run's
// verification does.
func Run(ctx context.Context, o Options, cfg app.Config, stdout, stderr io.Writer) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("bad flags:\n%w", err)
	}
	if o.Batch > 0 {
		cfg.Pipeline.BatchSize = o.Batch
	}
	if o.Store == "auto" {
		o.Store = "sqlite"
		if cfg.Mongo.URI != "" {
			o.Store = "mongo"
		}
	}
	if o.Store == "mongo" && cfg.Mongo.URI == "" {
		return errors.New("-store mongo: set MONGO_URI")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rdb, rcfg, redisKind, closeRedis, err := openRedis(cfg, stderr)
	if err != nil {
		return err
	}
	defer closeRedis()
	cfg.Redis = rcfg // the applications open their own clients to the same server
	modes := []string{o.IDs}
	if o.IDs == "both" {
		modes = []string{"create", "given"}
	}
	var results []Result
	for _, ids := range modes {
		r, err := runOnce(ctx, o, ids, cfg, rdb, log, newProgress(stderr, o.Quiet))
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
		printResults(stdout, results)
	}
	for _, r := range results {
		if !r.Verified {
			return fmt.Errorf("verification failed (%s ids): %s", r.IDs, r.Verification)
		}
	}
	return nil
}

// observer collects what the pipelines commit.
type observer struct {
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

// BatchDone implements pipeline.Observer.
func (b *observer) BatchDone(r pipeline.BatchReport) {
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

// CallFailed implements pipeline.Observer.
func (b *observer) CallFailed(string, error) {}

// names are one run's stream and key names.
func names(cfg app.Config, run string) app.Config {
	cfg.Reader.Stream = "bench:" + run + ":in"
	cfg.Reader.Group = "bench"
	cfg.Committer.DeadStream = "bench:" + run + ":dead"
	cfg.Committer.SessionStream = "bench:" + run + ":sessions"
	cfg.Pipeline.KeyPrefix = "bench:" + run + ":leaderboard"
	cfg.Pipeline.Block = 100 * time.Millisecond
	cfg.OpenAIKey = "" // the benchmark never calls an LLM
	return cfg
}

// runOnce runs one id mode.
func runOnce(ctx context.Context, o Options, ids string, cfg app.Config, rdb goredis.UniversalClient, log *slog.Logger, pr *progress) (Result, error) {
	res := Result{Mode: o.Mode, IDs: ids, Store: o.Store, Consumers: o.Consumers, Partitions: o.Partitions, Batch: cfg.Pipeline.BatchSize,
		Users: o.Users, Keys: o.Keys, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	run := hex.EncodeToString(rb[:])
	cfg = names(cfg, run)
	llmCalls := func() int64 { return 0 }
	if o.LLM {
		url, calls, stop := fakeLLM()
		defer stop()
		llmCalls = calls
		cfg.OpenAIKey, cfg.OpenAIBaseURL = fakeLLMKey, url
	}
	if o.Mode == "steady" {
		cfg.Pipeline.TrimInput = true
		cfg.Pipeline.ClaimInterval = 5 * time.Second
	}
	defer cleanup(rdb, run)

	st, err := openStore(ctx, o, "", cfg)
	if err != nil {
		return res, fmt.Errorf("store: %w", err)
	}
	defer st.close()
	if o.Partitions > 1 {
		cfg.Partitions = o.Partitions
	}
	// One application per partition stream (one in all when not split);
	// apps[0]'s also routes.
	apps := make([]*app.App, max(o.Partitions, 1))
	for p := range apps {
		pc := cfg
		pc.Pipeline.Partition = uint8(p)
		if apps[p], err = app.New(pc, app.Deps{Log: log, Store: st}); err != nil {
			return res, err
		}
		defer apps[p].Close()
	}
	a := apps[0]
	chain, err := a.Classifier(ctx)
	if err != nil {
		return res, err
	}
	for _, pa := range apps[1:] {
		if _, err := pa.Classifier(ctx); err != nil {
			return res, err
		}
	}
	router, _, err := a.NewRouter()
	if err != nil {
		return res, err
	}
	// routing runs the router (none when not split) until the returned
	// stop is called.
	routing := func() (stop func()) {
		if router == nil {
			return func() {}
		}
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { _ = router.Run(rctx) })
		return func() { cancel(); wg.Wait() }
	}
	var ceil *store
	if o.Ceilings && o.Mode == "drain" {
		if ceil, err = openStore(ctx, o, "_ceiling", cfg); err != nil {
			return res, fmt.Errorf("ceiling store: %w", err)
		}
		defer ceil.close()
		patterns, err := st.LoadPatterns(ctx)
		if err != nil {
			return res, err
		}
		if _, err := ceil.SeedPatterns(ctx, patterns); err != nil {
			return res, err
		}
	}

	now := time.Now()
	days := o.Days
	if o.Mode == "steady" && !o.DaysSet {
		days = 0 // live: events stamped as they are produced
	}
	w := newWorkload(workloadConfig{Users: o.Users, Keys: o.Keys, Zipf: o.Zipf, Days: days, EndRate: 0.05, BadRate: 0.001,
		GivenID: ids == "given", Seed: o.Seed, Now: now, Clock: time.Now, KnownOnly: o.KnownOnly})
	exp := newExpectation(chain, a.Taxonomy(), a.Location(), cfg.Pipeline.KeyPrefix)
	prod := &producer{rdb: rdb, stream: cfg.Reader.Stream, w: w, exp: exp, loc: a.Location()}
	if ids == "given" {
		prod.precreate = []*store{st}
		if ceil != nil {
			prod.precreate = append(prod.precreate, ceil)
		}
	}
	// The group exists before the first entry: the pipeline reads from 0.
	var readers []*redis.Reader
	var owners []*app.App // the application of each reader's stream
	for _, pa := range apps {
		for i := range o.Consumers {
			r, err := pa.NewReader(ctx, fmt.Sprintf("bench-%d", i))
			if err != nil {
				return res, err
			}
			readers, owners = append(readers, r), append(owners, pa)
		}
	}
	obs := &observer{}
	if o.Batches != "" {
		f, err := os.Create(o.Batches + "." + ids)
		if err != nil {
			return res, fmt.Errorf("-batches: %w", err)
		}
		w := bufio.NewWriter(f)
		defer func() { _ = w.Flush(); _ = f.Close() }()
		obs.batchLog = w
	}
	var before sent
	var cpuBefore cpuTimes
	var redisBefore map[string]time.Duration
	// timed starts what is measured: the store's counters, the CPU times
	// and the profile.
	timed := func() (func(), error) {
		var err error
		if st.sent != nil {
			if before, err = st.sent(); err != nil {
				return nil, err
			}
		}
		if cpuBefore, err = readCPU(o.StoreCPU); err != nil {
			return nil, err
		}
		redisBefore = redisCPU(ctx, rdb)
		return startProfile(o.CPUProfile, ids)
	}

	switch o.Mode {
	case "drain":
		pr.begin("pre-fill", int64(o.Events), time.Now())
		if err := prod.produce(ctx, o.Events, func(n int) { pr.update(int64(n), "", time.Now()) }); err != nil {
			return res, fmt.Errorf("pre-fill: %w", err)
		}
		pr.end()
		stopProfile, err := timed()
		if err != nil {
			return res, err
		}
		defer stopProfile()
		start := time.Now()
		stopRouting := routing()
		err = drain(ctx, owners, readers, obs, int64(o.Events), pr, "pipeline drain")
		stopRouting()
		if err != nil {
			return res, err
		}
		stopProfile()
		if after := redisCPU(ctx, rdb); redisBefore != nil && after != nil {
			res.RedisCPUMicros = map[string]float64{}
			for addr, d := range after {
				res.RedisCPUMicros[addr] = float64((d - redisBefore[addr]).Microseconds()) / float64(o.Events)
			}
		}
		res.Seconds = time.Unix(0, obs.lastCommit.Load()).Sub(start).Seconds()
		res.Events = o.Events
		res.EventsPerSec = float64(o.Events) / res.Seconds
		if err := cpuBefore.report(o.StoreCPU, res.Events, &res); err != nil {
			return res, err
		}
		if ceil != nil {
			stopProfile, err := startProfile(o.CPUProfile, ids+".ceilings")
			if err != nil {
				return res, err
			}
			defer stopProfile()
			if err := measureCeilings(ctx, o, cfg, rdb, ceil, log, pr, &res); err != nil {
				return res, fmt.Errorf("ceilings: %w", err)
			}
		}
	case "steady":
		obs.ages = &histogram{}
		stopProfile, err := timed()
		if err != nil {
			return res, err
		}
		defer stopProfile()
		stopRouting := routing()
		defer stopRouting()
		stop, wait, err := startPipelines(ctx, owners, readers, obs)
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
	if st.sent != nil {
		d, err := st.sent()
		if err != nil {
			return res, err
		}
		per := 1000 / float64(res.Events)
		res.StoreCommands = (d.Commands - before.Commands) * per
		res.StoreUpdates = (d.UpdateStatements - before.UpdateStatements) * per
		res.StoreInserted = (d.InsertedDocuments - before.InsertedDocuments) * per
	}
	res.LeaderboardKey = len(exp.sums)
	res.Verification, res.Verified = verify(ctx, rdb, cfg, readers[0], st, exp, o.Store != "discard")
	res.LLM, res.KnownOnly, res.LLMCalls = o.LLM, o.KnownOnly, llmCalls()
	return res, nil
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// startPipelines runs one pipeline per reader, of the application of its
// stream (apps[i] for readers[i]), until stop is called; wait returns the
// first error of any.
func startPipelines(ctx context.Context, apps []*app.App, readers []*redis.Reader, obs pipeline.Observer) (stop func(), wait func() error, err error) {
	runCtx, cancel := context.WithCancel(ctx)
	errs := make(chan error, len(readers))
	var wg sync.WaitGroup
	for i, r := range readers {
		p, err := apps[i].NewPipeline(r, obs)
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

// drain runs a pipeline per reader (of apps[i] for readers[i]) until obs
// has seen total entries committed, drawing the progress as label.
func drain(ctx context.Context, apps []*app.App, readers []*redis.Reader, obs *observer, total int64, pr *progress, label string) error {
	stop, wait, err := startPipelines(ctx, apps, readers, obs)
	if err != nil {
		return err
	}
	pr.begin(label, total, time.Now())
	for obs.committed.Load() < total && ctx.Err() == nil {
		pr.update(obs.committed.Load(), "", time.Now())
		time.Sleep(20 * time.Millisecond) // polling a counter for display, not synchronisation
	}
	stop()
	err = wait()
	pr.end()
	if err != nil {
		return err
	}
	return ctx.Err()
}

// producer writes workload events to the input stream, pipelined, and
// pre-creates the documents given-id events name.
type producer struct {
	rdb       goredis.UniversalClient
	stream    string
	w         *workload
	exp       *expectation
	loc       *time.Location
	precreate []*store
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
func runSteady(ctx context.Context, o Options, prod *producer, obs *observer, pr *progress, res *Result) error {
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
// workload alone: a second consumer group reads the same entries into a
// pipeline of its own, whose store (a second one) and committer (onto
// leaderboard keys of their own) are timed, one call at a time, never both
// at once.
func measureCeilings(ctx context.Context, o Options, cfg app.Config, rdb goredis.UniversalClient, st *store,
	log *slog.Logger, pr *progress, res *Result) error {
	ccfg := cfg
	ccfg.Reader.Group = "ceiling"
	ccfg.Pipeline.KeyPrefix = strings.Replace(cfg.Pipeline.KeyPrefix, ":leaderboard", ":ceiling-leaderboard", 1)
	ccfg.Committer.DeadStream = cfg.Committer.DeadStream + "-ceiling"
	ccfg.Committer.SessionStream = cfg.Committer.SessionStream + "-ceiling"
	// Its own committer state, seen shards included: in the timed run's, every
	// activity is remembered, and each entry would be a duplicate (issue 29.4).
	committerCfg := ccfg.CommitterConfig()
	committerCfg.Namespace = "ceiling"
	committer, err := redis.NewCommitter(rdb, committerCfg)
	if err != nil {
		return err
	}
	t := &parts{}
	a, err := app.New(ccfg, app.Deps{Log: log, Store: timedStore{st, t}, Committer: timedCommitter{committer, t}})
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.Classifier(ctx); err != nil {
		return err
	}
	reader, err := a.NewReader(ctx, "ceiling")
	if err != nil {
		return err
	}
	if err := drain(ctx, []*app.App{a}, []*redis.Reader{reader}, &observer{}, int64(o.Events), pr, "parts alone"); err != nil {
		return err
	}
	if t.duplicates > 0 {
		// The workload repeats no activity: a duplicate is the timed run's
		// activity remembered, and the ceiling would skip its increments.
		return fmt.Errorf("the commit ceiling took %d of %d entries for duplicates of the timed run's: it must remember activities apart", t.duplicates, o.Events)
	}
	res.StoreCeiling = float64(o.Events) / t.store.Seconds()
	res.CommitCeiling = float64(o.Events) / t.commit.Seconds()
	slowest := res.CommitCeiling
	if o.Store != "discard" {
		slowest = min(slowest, res.StoreCeiling)
	}
	res.OfSlowestPart = res.EventsPerSec / slowest
	return nil
}

// parts sums the time of the store and the commit calls, made one at a
// time so that each is measured alone.
type parts struct {
	mu            sync.Mutex
	store, commit time.Duration
	duplicates    int // entries the commits took for duplicates
}

// timedStore times Save.
type timedStore struct {
	app.Store
	t *parts
}

// Save implements pipeline.Store.
func (s timedStore) Save(ctx context.Context, records []pipeline.Record) error {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	start := time.Now()
	err := s.Store.Save(ctx, records)
	s.t.store += time.Since(start)
	return err
}

// timedCommitter times Commit.
type timedCommitter struct {
	pipeline.Committer
	t *parts
}

// Commit implements pipeline.Committer.
func (c timedCommitter) Commit(ctx context.Context, entries []pipeline.CommitEntry) (pipeline.CommitResult, error) {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	start := time.Now()
	r, err := c.Committer.Commit(ctx, entries)
	c.t.commit += time.Since(start)
	c.t.duplicates += r.Duplicates
	return r, err
}

func printResults(w io.Writer, results []Result) {
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
		if r.ProcessCPUMicros > 0 || r.StoreCPUMicros > 0 {
			fmt.Fprintf(tw, "  CPU per event\t%.0f us this process\t%s\n", r.ProcessCPUMicros,
				map[bool]string{true: fmt.Sprintf("%.0f us the store server", r.StoreCPUMicros), false: "store server not measured"}[r.StoreCPUMicros > 0])
		}
		if len(r.RedisCPUMicros) > 0 {
			var per []string
			var total float64
			for _, addr := range slices.Sorted(maps.Keys(r.RedisCPUMicros)) {
				per = append(per, fmt.Sprintf("%s %.1f us", addr, r.RedisCPUMicros[addr]))
				total += r.RedisCPUMicros[addr]
			}
			fmt.Fprintf(tw, "  Redis CPU per event\t%.1f us\t%s\n", total, strings.Join(per, ", "))
		}
		if r.Partitions > 1 {
			fmt.Fprintf(tw, "  partitions\t%d\trouted by the router in this process\n", r.Partitions)
		}
		if r.StoreCommands > 0 {
			fmt.Fprintf(tw, "  store per 1,000 events\t%.2f commands\t%.2f update statements, %.0f inserted documents\n", r.StoreCommands, r.StoreUpdates, r.StoreInserted)
		}
		if r.Mode == "steady" {
			fmt.Fprintf(tw, "  produced\t%s\t\n", f(r.RateAchieved, " events/s"))
			fmt.Fprintf(tw, "  event age\tp50 %.1f ms\tp95 %.1f ms, p99 %.1f ms, max %.1f ms\n", r.AgeP50Millis, r.AgeP95Millis, r.AgeP99Millis, r.AgeMaxMillis)
			fmt.Fprintf(tw, "  memory\tRSS %.0f -> %.0f MiB\t(max %.0f); Go heap %.0f -> %.0f MiB\n", r.RSSStartMiB, r.RSSEndMiB, r.RSSMaxMiB, r.HeapStartMiB, r.HeapEndMiB)
		}
		if r.LLM || r.KnownOnly {
			fmt.Fprintf(tw, "  workload, LLM\t%s\t%s\n", map[bool]string{true: "known only", false: "with unknowns"}[r.KnownOnly],
				map[bool]string{true: fmt.Sprintf("fake LLM fallback, %d calls", r.LLMCalls), false: "off"}[r.LLM])
		}
		fmt.Fprintf(tw, "  verified\t%v\t%s\n", r.Verified, r.Verification)
	}
	_ = tw.Flush()
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

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pomocore/pomocore/internal/bench"
)

const benchUsage = `usage: pomocore bench [flags]

Generates a workload, runs the pipeline over it and prints verified figures.
Redis: REDIS_ADDR (and the other REDIS_* settings) when set, else a private
redis-server started on a free port (miniredis when none is installed).
Store: MONGO_URI when set (database <MONGO_DATABASE>_bench), else SQLite in a
temporary directory. Keys and streams are prefixed bench:<run>: and deleted
afterwards.
`

// benchCmd implements `pomocore bench`: the flags, then internal/bench.
func benchCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o := bench.Options{}
	fs := newFlags("bench", benchUsage, stderr)
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
	fs.IntVar(&o.Partitions, "partitions", 1, "split the input into this many partition streams (POMOCORE_PARTITIONS): the producer writes the source, a router in this process routes it, and each partition has -consumers pipelines")
	fs.StringVar(&o.Store, "store", "auto", "auto (MONGO_URI if set, else SQLite in a temporary directory), sqlite, mongo or discard (no store: Redis alone)")
	fs.BoolVar(&o.Ceilings, "ceilings", true, "also measure the store and the Redis commit alone (drain mode)")
	fs.BoolVar(&o.JSON, "json", false, "print the results as JSON")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress bar")
	fs.Uint64Var(&o.Seed, "seed", 1, "workload seed")
	fs.BoolVar(&o.KnownOnly, "known-only", false, "no unknown apps or sites in the workload: the patterns decide every activity")
	fs.BoolVar(&o.LLM, "llm", false, "an LLM fallback behind the patterns (a fake endpoint in the process, answering the default at once), as with OPENAI_API_KEY set")
	fs.StringVar(&o.Batches, "batches", "", "write one line per committed batch to FILE.<ids>: commit end (unix microseconds), then microseconds from read to commit end, in the store and in the commit, then entries")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the timed pipeline run (drain: the drain, then the ceilings to FILE.<ids>.ceilings; steady: the whole run) to FILE.<ids>")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) { o.DaysSet = o.DaysSet || f.Name == "days" })
	cfg, err := loadConfig("bench", nil, getenv, stderr)
	if err != nil {
		return fmt.Errorf("bad settings (see `pomocore settings`):\n%w", err)
	}
	return bench.Run(ctx, o, cfg, stdout, stderr)
}

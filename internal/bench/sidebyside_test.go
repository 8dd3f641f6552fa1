package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/pomocore/pomocore/internal/app"
	"github.com/pomocore/pomocore/internal/ferrettest"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/mongo"
)

var (
	sideEvents = flag.Int("sidebyside.events", 20000, "events of each BenchmarkStoresSideBySide run (each names a pre-created activity)")
	sideIndex  = flag.Bool("sidebyside.fixed", true, "BenchmarkStoresSideBySide: FerretDB with its _id index usable (false: as shipped)")
)

// BenchmarkStoresSideBySide runs the same workload (issue 29's: events
// naming pre-created activities by id, as production's main server does,
// 1,000 users, 2,000 keys, a real redis-server) through the pipeline with
// no store, with SQLite and with FerretDB 1.24 (its own process, with its
// _id index usable unless -sidebyside.fixed=false), and reports for each
// events/s, CPU per event of this process and of the store server, and
// store commands per 1,000 events. SQLite's store CPU is this process's
// CPU minus the no-store run's. Run several counts for alternating runs:
//
//	go test -run '^$' -bench StoresSideBySide -benchtime 1x -count 3 ./internal/bench
func BenchmarkStoresSideBySide(b *testing.B) {
	ferrettest.SkipUnderRace(b)
	r := redistest.Start(b)
	srv := ferrettest.StartServer(b)
	var discardCPU float64
	for _, kind := range []string{"discard", "sqlite", "ferretdb"} {
		b.Run(kind, func(b *testing.B) {
			cfg := app.Defaults()
			cfg.Redis.Addrs = []string{r.Addr()}
			cfg.Mongo.Timeout = time.Minute
			o := Options{Mode: "drain", Events: *sideEvents, Tick: time.Millisecond, IDs: "given", Users: 1000, Keys: 2000,
				Zipf: 1.1, Days: 3, Consumers: 1, Store: kind, JSON: true, Quiet: true, Seed: 1}
			if kind == "ferretdb" {
				o.Store = "mongo"
				cfg.Mongo.URI, cfg.Mongo.Database = srv.URI, "sidebyside"
				o.StoreCPU = srv.CPU
				if *sideIndex {
					o.PrepareMongo = func(ctx context.Context, database string) error {
						return srv.PrepareFixedIDIndex(ctx, database, mongo.CategorizedDataCollection, mongo.UsageLogCollection, mongo.CategoryPatternCollection)
					}
				}
			}
			var res Result
			for range b.N {
				var out bytes.Buffer
				if err := Run(context.Background(), o, cfg, &out, io.Discard); err != nil {
					b.Fatal(err)
				}
				var rs []Result
				if err := json.Unmarshal(out.Bytes(), &rs); err != nil || len(rs) != 1 {
					b.Fatalf("results %q: %v", out.String(), err)
				}
				res = rs[0]
				if !res.Verified {
					b.Fatalf("%s: not verified: %s", kind, res.Verification)
				}
			}
			store := res.StoreCPUMicros
			switch kind {
			case "discard":
				discardCPU = res.ProcessCPUMicros
			case "sqlite":
				store = res.ProcessCPUMicros - discardCPU
			}
			b.ReportMetric(res.EventsPerSec, "events/s")
			b.ReportMetric(res.ProcessCPUMicros, "process-us/event")
			b.ReportMetric(store, "store-us/event")
			b.ReportMetric(res.StoreCommands, "commands/1000")
			b.ReportMetric(res.StoreUpdates, "updates/1000")
			b.ReportMetric(0, "ns/op")
			fmt.Printf("%-8s %8.0f events/s  process %5.0f us/event  store %5.0f us/event  %6.1f commands, %6.1f update statements per 1,000 events\n",
				kind, res.EventsPerSec, res.ProcessCPUMicros, store, res.StoreCommands, res.StoreUpdates)
		})
	}
}

package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	_ "modernc.org/sqlite" // the driver of the benchmark's own counting queries

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/app"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/sqlite"
)

// counts are a store's categorized_data and pomodoro_usage_log documents,
// in all and with a category set (a non-zero categoryId).
type counts struct {
	CategorizedData, CategorizedDataWithCategory int64
	UsageLogs, UsageLogsWithCategory             int64
}

// store is a fresh store of the benchmark's: the adapter, and its documents
// counted by the benchmark's own queries (not the adapter's).
type store struct {
	app.Store
	counts func(ctx context.Context) (counts, error)
	// sent reads the counters of what a MongoDB store sent (nil for
	// another store).
	sent  func() (sent, error)
	close func()
}

// sent is what a MongoDB store sent, as its metrics count it.
type sent struct {
	Commands, UpdateStatements, InsertedDocuments float64
}

// readSent reads the MongoDB store's counters (mongo.Store.Register) from
// reg.
func readSent(reg prometheus.Gatherer) (sent, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return sent{}, fmt.Errorf("mongo: the store's metrics: %w", err)
	}
	var s sent
	found := 0
	for _, mf := range mfs {
		var out *float64
		switch mf.GetName() {
		case "pomocore_mongo_commands_total":
			out = &s.Commands
		case "pomocore_mongo_update_statements_total":
			out = &s.UpdateStatements
		case "pomocore_mongo_inserted_documents_total":
			out = &s.InsertedDocuments
		default:
			continue
		}
		for _, m := range mf.GetMetric() {
			*out += m.GetCounter().GetValue()
		}
		found++
	}
	if found != 3 {
		return s, fmt.Errorf("mongo: the store's metrics: %d of 3 counters registered", found)
	}
	return s, nil
}

// openStore opens a fresh store of kind o.Store (sqlite, mongo, discard);
// name tells a second store apart (the ceiling's).
func openStore(ctx context.Context, o Options, name string, cfg app.Config) (*store, error) {
	switch o.Store {
	case "mongo":
		return openMongo(ctx, name, cfg, o.PrepareMongo)
	case "discard":
		return &store{Store: discardStore{}, counts: func(context.Context) (counts, error) { return counts{}, nil }, close: func() {}}, nil
	default:
		dir, err := os.MkdirTemp("", "pomocore-bench-sqlite-")
		if err != nil {
			return nil, err
		}
		st, err := sqlite.Open(ctx, sqlite.Config{Dir: dir})
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "pomocore.db")+"?_pragma=busy_timeout(5000)")
		if err != nil {
			_ = st.Close()
			_ = os.RemoveAll(dir)
			return nil, err
		}
		zero := pomocore.ObjectID{}.Hex()
		return &store{Store: st,
			counts: func(ctx context.Context) (c counts, err error) {
				err = db.QueryRowContext(ctx, `SELECT
(SELECT count(*) FROM categorized_data), (SELECT count(*) FROM categorized_data WHERE category_id != ?),
(SELECT count(*) FROM pomodoro_usage_log), (SELECT count(*) FROM pomodoro_usage_log WHERE category_id != ?)`, zero, zero).
					Scan(&c.CategorizedData, &c.CategorizedDataWithCategory, &c.UsageLogs, &c.UsageLogsWithCategory)
				return c, err
			},
			close: func() { _ = db.Close(); _ = st.Close(); _ = os.RemoveAll(dir) },
		}, nil
	}
}

// openMongo opens the store on a fresh database <MONGO_DATABASE>_bench<name>,
// dropped before and after, and prepared by prepare (when set) before the
// store opens it.
func openMongo(ctx context.Context, name string, cfg app.Config, prepare func(context.Context, string) error) (*store, error) {
	mcfg := cfg.MongoConfig()
	mcfg.Database += "_bench" + name
	if err := mcfg.Validate(); err != nil {
		return nil, fmt.Errorf("mongo: %w", err)
	}
	client, err := driver.Connect(options.Client().ApplyURI(mcfg.URI).SetTimeout(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("mongo: connect: %w", err)
	}
	db := client.Database(mcfg.Database)
	drop := func(ctx context.Context) error {
		if err := db.Drop(ctx); err != nil {
			return fmt.Errorf("mongo: drop %s: %w", mcfg.Database, err)
		}
		return nil
	}
	if err := drop(ctx); err != nil {
		_ = client.Disconnect(ctx)
		return nil, err
	}
	if prepare != nil {
		if err := prepare(ctx, mcfg.Database); err != nil {
			_ = client.Disconnect(ctx)
			return nil, fmt.Errorf("mongo: prepare %s: %w", mcfg.Database, err)
		}
	}
	st, err := mongo.Open(ctx, mcfg)
	if err != nil {
		_ = client.Disconnect(ctx)
		return nil, err
	}
	reg := prometheus.NewRegistry()
	if err := st.Register(reg); err != nil {
		_ = st.Close(ctx)
		_ = client.Disconnect(ctx)
		return nil, err
	}
	set := bson.D{{Key: "categoryId", Value: bson.D{{Key: "$ne", Value: bson.ObjectID{}}}}}
	cd, logs := db.Collection(mongo.CategorizedDataCollection), db.Collection(mongo.UsageLogCollection)
	return &store{Store: st,
		sent: func() (sent, error) { return readSent(reg) },
		counts: func(ctx context.Context) (c counts, err error) {
			for _, q := range []struct {
				coll   *driver.Collection
				filter bson.D
				out    *int64
			}{{cd, bson.D{}, &c.CategorizedData}, {cd, set, &c.CategorizedDataWithCategory},
				{logs, bson.D{}, &c.UsageLogs}, {logs, set, &c.UsageLogsWithCategory}} {
				if *q.out, err = q.coll.CountDocuments(ctx, q.filter); err != nil {
					return c, fmt.Errorf("mongo: counts: %w", err)
				}
			}
			return c, nil
		},
		close: func() {
			c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = drop(c)
			_ = st.Close(c)
			_ = client.Disconnect(c)
		},
	}, nil
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

// cpuTimes are this process's CPU time and the store server's (zero when
// not measured) at one moment.
type cpuTimes struct{ process, store time.Duration }

// readCPU reads this process's CPU time (getrusage) and, when storeCPU is
// set, the store server's.
func readCPU(storeCPU func() (time.Duration, error)) (cpuTimes, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}, fmt.Errorf("process CPU: %w", err)
	}
	c := cpuTimes{process: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	if storeCPU != nil {
		d, err := storeCPU()
		if err != nil {
			return cpuTimes{}, fmt.Errorf("store server CPU: %w", err)
		}
		c.store = d
	}
	return c, nil
}

// report sets res's CPU per event for events handled since c.
func (c cpuTimes) report(storeCPU func() (time.Duration, error), events int, res *Result) error {
	now, err := readCPU(storeCPU)
	if err != nil {
		return err
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(events) }
	res.ProcessCPUMicros = per(now.process - c.process)
	if storeCPU != nil {
		res.StoreCPUMicros = per(now.store - c.store)
	}
	return nil
}

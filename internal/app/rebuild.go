package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/pomocore/pomocore/rebuild"
	"github.com/pomocore/pomocore/redis"
	"github.com/pomocore/pomocore/sqlite"
)

// RebuildOptions says how a rebuild goes about it: rebuild.Options, and
// what the settings say of the store.
type RebuildOptions struct {
	rebuild.Options
	// StoreSet is whether the operator named the store (MONGO_URI or
	// POMOCORE_DATA_DIR) rather than left it to the default.
	StoreSet bool
}

// Rebuild rebuilds the planned leaderboards of the configured Redis from
// the usage logs of the store of the settings (rebuild.Rebuilder). Before
// it opens anything it refuses (rebuild.ErrRefused, unless Force or
// DryRun) a store the operator did not name, and an SQLite store that does
// not exist yet (it would be created empty).
func (a *App) Rebuild(ctx context.Context, plan *rebuild.Plan, opts RebuildOptions) (rebuild.Report, error) {
	if !opts.StoreSet {
		if err := opts.Refuse(fmt.Sprintf("no store setting: set MONGO_URI, or POMOCORE_DATA_DIR to the data directory `pomocore run` uses (the default %s is relative to where this runs)", a.cfg.DataDir)); err != nil {
			return rebuild.Report{}, err
		}
	}
	if a.cfg.Mongo.URI == "" && !a.cfg.Shadow {
		if !sqlite.Exists(a.cfg.DataDir) {
			if err := opts.Refuse(fmt.Sprintf("no store at POMOCORE_DATA_DIR=%s: it would be created empty", a.cfg.DataDir)); err != nil {
				return rebuild.Report{}, err
			}
		}
	}
	rdb, err := a.Redis()
	if err != nil {
		return rebuild.Report{}, err
	}
	st, err := a.Store(ctx)
	if err != nil {
		return rebuild.Report{}, err
	}
	usage, ok := st.(rebuild.UsageLogReader)
	if !ok {
		return rebuild.Report{}, errors.New("this store cannot list usage logs")
	}
	r := &rebuild.Rebuilder{Logs: usage, Patterns: st, Boards: redis.NewLeaderboards(rdb), KeyPrefix: a.cfg.Pipeline.KeyPrefix, Taxonomy: a.tax}
	return r.Rebuild(ctx, plan, opts.Options)
}

package mongo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/ferrettest"
	"github.com/pomocore/pomocore/internal/logtest"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/pipeline/storetest"
)

// TestProgressOnFerretDBAsShipped (issue 29 item 2): on FerretDB as
// shipped, where every update by _id scans the collection, a Save of
// events naming existing logs completes with a timeout far below what its
// statements take in one command of MaxStatements (each command is sized
// to complete within the timeout), and Open says why the store is slow.
func TestProgressOnFerretDBAsShipped(t *testing.T) {
	ferrettest.SkipUnderRace(t)
	const existing, events = 20_000, 12
	srv := ferrettest.StartServer(t)
	ctx := context.Background()
	cfg := mongo.Config{URI: srv.URI, Database: "shipped", Timeout: 5 * time.Minute}
	st, err := mongo.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Pre-created as the main server does (inserted).
	all := idsBatch(existing, 200)
	load := append(all[:0:0], all...)
	for j := range load {
		load[j].Activity.UsageLogID = pomocore.ObjectID{}
	}
	for start := 0; start < existing; start += 5000 {
		if err := st.Save(ctx, load[start:start+5000]); err != nil {
			t.Fatal(err)
		}
	}
	_ = st.Close(ctx)

	log, logs := logtest.Logger()
	cfg.Timeout = 2 * time.Second
	cfg.Logger = log
	st, err = mongo.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	if want := "no usable _id index: each update scans 20000 documents"; !strings.Contains(logs.String(), want) {
		t.Errorf("log %q: want %q", logs.String(), want)
	}
	recent := all[existing-events:]
	for i := range recent {
		recent[i].CategoryID = storetest.Game
	}
	before := st.Stats()
	start := time.Now()
	if err := st.Save(ctx, recent); err != nil {
		t.Fatalf("save of %d events over %d logs: %v\nlog: %s", events, existing, err, logs.String())
	}
	after := st.Stats()
	t.Logf("%d update-by-id events over %d unindexed logs in %v: %d commands, %d update statements",
		events, existing, time.Since(start), after.Commands-before.Commands, after.UpdateStatements-before.UpdateStatements)
}

// Package ferrettest runs FerretDB (v1.24.2, SQLite handler) in the test
// process: a real MongoDB-wire server for the mongo adapter's tests. It is
// test-only so that the shipped binary does not embed FerretDB.
package ferrettest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Start starts an embedded FerretDB on a free loopback port, with its data
// in a temporary directory, waits until it answers a ping, and stops it
// when t ends. It returns the server's mongodb:// URI.
func Start(t testing.TB) string {
	t.Helper()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + t.TempDir() + "/",
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("ferretdb: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	uri := f.MongoDBURI()

	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(5 * time.Second))
	if err != nil {
		t.Fatalf("ferretdb client: %v", err)
	}
	defer client.Disconnect(context.Background())
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		err := client.Ping(pctx, nil)
		pcancel()
		if err == nil {
			return uri
		}
		if time.Now().After(deadline) {
			t.Fatalf("ferretdb at %s not ready: %v", uri, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SkipUnderRace skips a test that drives FerretDB hard (thousands of
// documents per statement) when the race detector is on: FerretDB runs in
// the test process, so it is instrumented too and such a test takes minutes
// instead of seconds. ./scripts/test runs these tests again without -race.
func SkipUnderRace(t testing.TB) {
	t.Helper()
	if RaceEnabled {
		t.Skip("drives the in-process FerretDB hard: run without -race (./scripts/test does)")
	}
}

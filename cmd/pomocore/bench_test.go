package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pomocore/pomocore/internal/bench"
	"github.com/pomocore/pomocore/internal/ferrettest"
	"github.com/pomocore/pomocore/internal/redistest"
)

// runBench runs `pomocore bench` with args and env and returns its results.
func runBench(t *testing.T, env map[string]string, args ...string) []bench.Result {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	err := benchCmd(context.Background(), append([]string{"-json", "-quiet"}, args...), getenv, &out, &errOut)
	if errOut.Len() > 0 {
		t.Logf("bench stderr:\n%s", errOut.String())
	}
	if err != nil {
		t.Fatalf("bench: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	var rs []bench.Result
	if err := json.Unmarshal(out.Bytes(), &rs); err != nil {
		t.Fatalf("bench output: %v\n%s", err, out.String())
	}
	return rs
}

func TestBenchDrainVerifiesBothIDModes(t *testing.T) {
	r := redistest.Start(t)
	rs := runBench(t, map[string]string{"REDIS_ADDR": r.Addr()}, "-events", "3000", "-users", "200", "-keys", "500")
	if len(rs) != 2 || rs[0].IDs != "create" || rs[1].IDs != "given" {
		t.Fatalf("results: %+v", rs)
	}
	for _, x := range rs {
		if !x.Verified || x.Events != 3000 || x.EventsPerSec <= 0 || x.StoreCeiling <= 0 || x.CommitCeiling <= 0 || x.OfSlowestPart <= 0 {
			t.Errorf("%s: %+v", x.IDs, x)
		}
		if !strings.HasPrefix(x.Verification, "ok:") {
			t.Errorf("%s: %s", x.IDs, x.Verification)
		}
	}
	// The run's keys are gone afterwards.
	if n := r.Client(t).DBSize(context.Background()).Val(); n != 0 {
		t.Errorf("%d keys left behind", n)
	}
}

func TestBenchSteadyReportsAgesAndMemory(t *testing.T) {
	r := redistest.Start(t)
	batches := filepath.Join(t.TempDir(), "batches")
	rs := runBench(t, map[string]string{"REDIS_ADDR": r.Addr()}, "-mode", "steady", "-ids", "create", "-rate", "2000", "-duration", "2s", "-users", "100", "-keys", "300",
		"-batches", batches)
	x := rs[0]
	if !x.Verified || x.Events < 3000 || x.AgeP50Millis <= 0 || x.AgeP99Millis < x.AgeP50Millis || x.AgeMaxMillis < x.AgeP99Millis || x.RSSEndMiB <= 0 {
		t.Errorf("%+v", x)
	}
	// -batches: a line per batch, whose entries add up to the events.
	log, err := os.ReadFile(batches + ".create")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	entries := 0
	for _, l := range lines {
		f := strings.Fields(l)
		n, err := strconv.Atoi(f[len(f)-1])
		if len(f) != 5 || err != nil {
			t.Fatalf("batch line %q", l)
		}
		entries += n
	}
	if int64(len(lines)) != x.Batches || entries != x.Events {
		t.Errorf("batch log: %d lines of %d entries; want %d batches of %d events", len(lines), entries, x.Batches, x.Events)
	}
}

// The MongoDB adapter's command and statement counts per 1,000 events are
// the store cost the issue bounds: at most 1/20 of the deployed pipeline's
// ~40 commands and ~1,500 update statements.
func TestBenchMongoCommandsPerThousandEvents(t *testing.T) {
	ferrettest.SkipUnderRace(t)
	r := redistest.Start(t)
	uri := ferrettest.Start(t)
	// FerretDB updates by id scan the collection: keep it small, and give
	// its slow statements time.
	rs := runBench(t, map[string]string{"REDIS_ADDR": r.Addr(), "MONGO_URI": uri, "MONGO_DATABASE": "benchtest", "POMOCORE_STORE_TIMEOUT": "2m",
		// The $in form; per-document updates (on for FerretDB under auto)
		// are counted by the mongo package's own test.
		"POMOCORE_MONGO_PER_DOCUMENT": "off",
		// The command shape at full batch size: FerretDB is slow enough that
		// the adaptive batch size would otherwise halve it.
		"POMOCORE_SLOW_STORE": "2m"},
		"-events", "4000", "-users", "100", "-keys", "200", "-ceilings=false", "-batch", "2000")
	for _, x := range rs {
		t.Logf("%s ids: %.2f commands, %.2f update statements, %.0f inserted per 1,000 events", x.IDs, x.StoreCommands, x.StoreUpdates, x.StoreInserted)
		if !x.Verified {
			t.Errorf("%s: %s", x.IDs, x.Verification)
		}
		if x.StoreCommands == 0 || x.StoreCommands > 2 || x.StoreUpdates > 75 {
			t.Errorf("%s ids: %.2f commands and %.2f update statements per 1,000 events; want <= 2 and <= 75", x.IDs, x.StoreCommands, x.StoreUpdates)
		}
	}
}

func TestBenchRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-tick", "0"}, {"-tick", "2s"}, {"-mode", "steady", "-rate", "0"}} {
		var out, errOut bytes.Buffer
		err := benchCmd(context.Background(), append([]string{"-quiet"}, args...), func(string) string { return "" }, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), args[len(args)-2]) {
			t.Errorf("%v: err %v, want one naming %s", args, err, args[len(args)-2])
		}
	}
}

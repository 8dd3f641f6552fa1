package pipeline_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
	"github.com/pomocore/pomocore/redis"
)

// reports collects the batch reports of a pipeline.
type reports struct {
	mu  sync.Mutex
	all []pipeline.BatchReport
}

func (r *reports) BatchDone(b pipeline.BatchReport) {
	r.mu.Lock()
	r.all = append(r.all, b)
	r.mu.Unlock()
}
func (r *reports) CallFailed(string, error) {}

func (r *reports) quarantined() (n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.all {
		n += b.Quarantined
	}
	return n
}

// deployment is a pipeline reading in and dead-lettering to dead.
type deployment struct {
	reader *redis.Reader
	p      *pipeline.Pipeline
	obs    *reports
	log    *bytes.Buffer
}

func newDeployment(t *testing.T, rdb *goredis.Client, in, dead string) *deployment {
	t.Helper()
	reader, err := redis.NewReader(rdb, redis.ReaderConfig{Stream: in, Group: group, Consumer: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := reader.EnsureGroup(context.Background()); err != nil {
		t.Fatal(err)
	}
	committer, err := redis.NewCommitter(rdb, redis.CommitterConfig{Stream: in, Group: group, DeadStream: dead, SessionStream: session})
	if err != nil {
		t.Fatal(err)
	}
	d := &deployment{reader: reader, obs: &reports{}, log: &bytes.Buffer{}}
	d.p, err = pipeline.New(pipeline.Config{Location: seoul}, pipeline.Deps{
		Reader: reader, Store: storetest.NewMemory(), Committer: committer,
		Classifier: fixedClassifier{"Xcode": "Development"}, Taxonomy: pomocore.DefaultTaxonomy(),
		CategoryIDs: map[string]pomocore.ObjectID{"Development": {1}, "Uncategorized": {2}},
		Now:         func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) },
		Observer:    d.obs, Logger: slog.New(slog.NewTextHandler(d.log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// step processes what the deployment has to read; it returns how many
// entries it read.
func (d *deployment) step(t *testing.T) int {
	t.Helper()
	msgs, err := d.reader.Read(context.Background(), 100, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) > 0 {
		if err := d.p.Process(context.Background(), msgs); err != nil {
			t.Fatal(err)
		}
	}
	return len(msgs)
}

// Two deployments whose dead-letter streams are each other's inputs: a
// malformed entry is dead-lettered once, and its dead letter, read by the
// other, is acknowledged into the quarantine (counted and logged), never
// dead-lettered again: no ping-pong (issue 27 item 2).
func TestDeadLettersDoNotPingPongBetweenDeployments(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	a := newDeployment(t, rdb, "a", "b")
	b := newDeployment(t, rdb, "b", "a")
	ctx := context.Background()
	bad := event("u1", "Xcode", 10, time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC), true)
	for i := 0; i < len(bad); i += 2 {
		if bad[i] == "duration" {
			bad[i+1] = "abc"
		}
	}
	rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "a", Values: bad})
	for round := 0; round < 5; round++ {
		if a.step(t)+b.step(t) == 0 {
			break
		}
	}
	if n := rdb.XLen(ctx, "a").Val(); n != 1 {
		t.Errorf("stream a holds %d entries, want 1 (the original): b dead-lettered a's dead letter back", n)
	}
	if n := rdb.XLen(ctx, "b").Val(); n != 1 {
		t.Errorf("stream b holds %d entries, want 1 (a's dead letter)", n)
	}
	for _, in := range []string{"a", "b"} {
		if n := rdb.XPending(ctx, in, group).Val().Count; n != 0 {
			t.Errorf("%s: %d entries pending: a quarantined entry is acknowledged", in, n)
		}
	}
	if got := b.obs.quarantined(); got != 1 {
		t.Errorf("b quarantined %d, want 1 (in its batch report, for the metric)", got)
	}
	if got := a.obs.quarantined(); got != 0 {
		t.Errorf("a quarantined %d, want 0: the original is an ordinary dead letter", got)
	}
	if !strings.Contains(b.log.String(), "quarantine:") {
		t.Errorf("no log line about the quarantined dead letter:\n%s", b.log.String())
	}
	if n := rdb.XLen(ctx, session).Val(); n != 1 {
		t.Errorf("session events = %d, want 1: a's, for the rejected session end; b's copy ends nothing again", n)
	}
}

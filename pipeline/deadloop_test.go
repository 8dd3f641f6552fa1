package pipeline_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
	"github.com/pomocore/pomocore/pipeline/streamtest"
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
	reader *streamtest.Reader
	p      *pipeline.Pipeline
	obs    *reports
	log    *bytes.Buffer
}

func newDeployment(t *testing.T, mem *streamtest.Memory, in, dead string) *deployment {
	t.Helper()
	reader := mem.Reader(in, group, "c1")
	committer := mem.Committer(streamtest.CommitterConfig{Stream: in, Group: group, DeadStream: dead, SessionStream: session})
	d := &deployment{reader: reader, obs: &reports{}, log: &bytes.Buffer{}}
	var err error
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
	mem := streamtest.NewMemory(nil)
	a := newDeployment(t, mem, "a", "b")
	b := newDeployment(t, mem, "b", "a")
	bad := event("u1", "Xcode", 10, time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC), true)
	for i := 0; i < len(bad); i += 2 {
		if bad[i] == "duration" {
			bad[i+1] = "abc"
		}
	}
	mem.Add("a", bad...)
	for round := 0; round < 5; round++ {
		if a.step(t)+b.step(t) == 0 {
			break
		}
	}
	if n := mem.Len("a"); n != 1 {
		t.Errorf("stream a holds %d entries, want 1 (the original): b dead-lettered a's dead letter back", n)
	}
	if n := mem.Len("b"); n != 1 {
		t.Errorf("stream b holds %d entries, want 1 (a's dead letter)", n)
	}
	for _, in := range []string{"a", "b"} {
		if n := len(mem.Pending(in, group)); n != 0 {
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
	if n := mem.Len(session); n != 1 {
		t.Errorf("session events = %d, want 1: a's, for the rejected session end; b's copy ends nothing again", n)
	}
}

package streamtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/streamtest"
)

// memoryHarness runs the suite on a Memory per stream.
type memoryHarness struct{}

func (memoryHarness) NewStream(t *testing.T) streamtest.Stream {
	return &memoryStream{m: streamtest.NewMemory(nil)}
}

type memoryStream struct{ m *streamtest.Memory }

const (
	in      = "in"
	group   = "g"
	session = "in:session"
	dead    = "in:dead"
)

func (s *memoryStream) Add(t *testing.T, id string, fields ...string) string {
	if id == "*" {
		return s.m.Add(in, fields...)
	}
	got, err := s.m.AddID(in, id, fields...)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (s *memoryStream) Reader(_ *testing.T, consumer string) pipeline.Reader {
	return s.m.Reader(in, group, consumer)
}

func (s *memoryStream) Committer(_ *testing.T, window time.Duration) pipeline.Committer {
	return s.m.Committer(streamtest.CommitterConfig{Stream: in, Group: group, SessionStream: session, DeadStream: dead, DedupWindow: window})
}

func (s *memoryStream) Crashes() []streamtest.Crash { return nil } // a commit is atomic

func (s *memoryStream) Age(_ *testing.T, d time.Duration) { s.m.Advance(d) }

func (s *memoryStream) Key(name string) string { return "lb:" + name }

func (s *memoryStream) Outputs() (string, string) { return session, dead }

func (s *memoryStream) Score(_ *testing.T, key, member string) float64 { return s.m.Score(key, member) }

func (s *memoryStream) Entries(_ *testing.T, stream string) []map[string]string {
	var out []map[string]string
	for _, e := range s.m.Entries(stream) {
		out = append(out, e.Values())
	}
	return out
}

func (s *memoryStream) Pending(*testing.T) []streamtest.PendingEntry {
	var out []streamtest.PendingEntry
	for _, p := range s.m.Pending(in, group) {
		out = append(out, streamtest.PendingEntry{ID: p.ID, Consumer: p.Consumer, Deliveries: p.Deliveries})
	}
	return out
}

func (s *memoryStream) Delete(_ *testing.T, id string) { s.m.Delete(in, id) }
func (s *memoryStream) DestroyGroup(*testing.T)        { s.m.DestroyGroup(in, group) }

func (s *memoryStream) Block(_ *testing.T, key string)   { s.m.Block(key) }
func (s *memoryStream) Unblock(_ *testing.T, key string) { s.m.Unblock(key) }

func TestMemoryPassesTheContract(t *testing.T) {
	streamtest.Run(t, memoryHarness{}, nil)
}

// The fake's own rules beyond the contract: trimming what every group
// consumed, Touch, expiry on its clock.
func TestMemoryTrimsTouchesAndExpires(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	m := streamtest.NewMemory(func() time.Time { return now })
	ctx := context.Background()
	a, b := m.Add(in, "k", "1"), m.Add(in, "k", "2")
	r := m.Reader(in, group, "c1")
	if _, err := r.Read(ctx, 1, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := r.TrimConsumed(ctx); err != nil || n != 0 {
		t.Fatalf("TrimConsumed with %s pending = %d, %v; want 0", a, n, err)
	}
	c := m.Committer(streamtest.CommitterConfig{Stream: in, Group: group, SessionStream: session, DeadStream: dead})
	res, err := c.Commit(ctx, []pipeline.CommitEntry{{ID: a, Increment: &pipeline.Increment{Keys: []string{"lb"}, TTLs: []time.Duration{time.Hour}, Member: "u", Delta: 1}}})
	if err != nil || res.Applied != 1 {
		t.Fatalf("commit = %+v, %v", res, err)
	}
	if n, err := r.TrimConsumed(ctx); err != nil || n != 1 {
		t.Fatalf("TrimConsumed = %d, %v; want 1 (%s; %s is not delivered yet)", n, err, a, b)
	}
	if got := m.Entries(in); len(got) != 1 || got[0].ID != b {
		t.Errorf("entries = %v, want %s", got, b)
	}
	if _, err := r.Read(ctx, 1, 0); err != nil {
		t.Fatal(err)
	}
	m.Advance(time.Minute)
	if err := m.Reader(in, group, "c2").Touch(ctx, []string{b}); err != nil {
		t.Fatal(err)
	}
	if p := m.Pending(in, group); len(p) != 1 || p[0].Consumer != "c2" || p[0].Idle != 0 || p[0].Deliveries != 1 {
		t.Errorf("pending after Touch = %+v, want %s fresh at c2, 1 delivery", p, b)
	}
	if got := m.TTL("lb"); got != time.Hour-time.Minute {
		t.Errorf("TTL = %v, want 59m", got)
	}
	m.Advance(time.Hour)
	if m.Exists("lb") || m.Score("lb", "u") != 0 {
		t.Errorf("lb outlived its TTL")
	}
}

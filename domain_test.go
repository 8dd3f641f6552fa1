package pomocore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
)

func TestPeriodsAroundBoundaries(t *testing.T) {
	seoul, _ := time.LoadLocation("Asia/Seoul")
	cases := []struct {
		utc  time.Time
		want pomocore.Periods
	}{
		// 14:59:59 UTC is 23:59:59 in Seoul; one second later is the next day.
		{time.Date(2026, 11, 24, 14, 59, 59, 0, time.UTC), pomocore.Periods{"2026-11-24", "2026-W48", "2026-M11"}},
		{time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC), pomocore.Periods{"2026-11-25", "2026-W48", "2026-M11"}},
		// Sunday 2026-11-29 23:59 Seoul is still W48; Monday is W49.
		{time.Date(2026, 11, 29, 14, 59, 0, 0, time.UTC), pomocore.Periods{"2026-11-29", "2026-W48", "2026-M11"}},
		{time.Date(2026, 11, 29, 15, 0, 0, 0, time.UTC), pomocore.Periods{"2026-11-30", "2026-W49", "2026-M11"}},
		// New year in Seoul while still 2025 in UTC; 2026-01-01 is in ISO week 2026-W1.
		{time.Date(2025, 12, 31, 15, 0, 0, 0, time.UTC), pomocore.Periods{"2026-01-01", "2026-W1", "2026-M1"}},
		// 2027-01-01 (a Friday) belongs to ISO week 2026-W53.
		{time.Date(2026, 12, 31, 15, 30, 0, 0, time.UTC), pomocore.Periods{"2027-01-01", "2026-W53", "2027-M1"}},
		// 2024-12-30 (a Monday) belongs to ISO week 2025-W1.
		{time.Date(2024, 12, 30, 0, 0, 0, 0, time.UTC), pomocore.Periods{"2024-12-30", "2025-W1", "2024-M12"}},
	}
	for _, c := range cases {
		if got := pomocore.PeriodsAt(c.utc, seoul); got != c.want {
			t.Errorf("%v: %+v, want %+v", c.utc, got, c.want)
		}
	}
	if got := pomocore.LeaderboardKey("leaderboard", "Development", "2026-W48"); got != "leaderboard:Development:2026-W48" {
		t.Errorf("key = %q", got)
	}
}

func TestObjectIDFromEntryID(t *testing.T) {
	a, err := pomocore.ObjectIDFromEntryID("1764000000123-7", 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Hex() != "69248100"+"007b"+"000000000007" {
		t.Errorf("id = %s", a.Hex())
	}
	b, _ := pomocore.ObjectIDFromEntryID("1764000000123-8", 0)
	c, _ := pomocore.ObjectIDFromEntryID("1764000000124-0", 0)
	d, _ := pomocore.ObjectIDFromEntryID("1764000000123-7", 1)
	if !(a.Hex() < b.Hex() && b.Hex() < c.Hex()) {
		t.Errorf("ids do not grow with entry ids: %s %s %s", a, b, c)
	}
	if d == a {
		t.Error("partition does not change the id")
	}
	again, _ := pomocore.ObjectIDFromEntryID("1764000000123-7", 0)
	if again != a {
		t.Error("not deterministic")
	}
	for _, bad := range []string{"", "123", "a-1", "1-b", "99999999999999999-1", "1-281474976710656"} {
		if _, err := pomocore.ObjectIDFromEntryID(bad, 0); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := pomocore.ObjectIDFromEntryID("1-1", 64); err == nil {
		t.Error("partition 64 accepted")
	}
}

func TestObjectIDs(t *testing.T) {
	ts := time.Unix(1764000000, 0)
	a, b := pomocore.NewObjectID(ts), pomocore.NewObjectID(ts)
	if a == b || a.IsZero() {
		t.Errorf("NewObjectID: %s %s", a, b)
	}
	if a.Hex()[:8] != "69248100" {
		t.Errorf("time prefix %s", a.Hex()[:8])
	}
	p, err := pomocore.ParseObjectID(a.Hex())
	if err != nil || p != a {
		t.Errorf("round trip %v %v", p, err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("z", 24), strings.Repeat("a", 25)} {
		if _, err := pomocore.ParseObjectID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if !(pomocore.ObjectID{}).IsZero() {
		t.Error("zero not zero")
	}
}

func TestTaxonomy(t *testing.T) {
	tax := pomocore.DefaultTaxonomy()
	if len(tax.Categories) != 19 || tax.Has("Communication") || tax.Has("Music") || !tax.Has("E-commerce & Shopping") || tax.Default != "Uncategorized" {
		t.Errorf("default taxonomy: %+v", tax)
	}
	work := 0
	for _, c := range tax.Categories {
		if tax.IsWork(c) {
			work++
		}
	}
	if work != 13 || tax.IsWork("Game") || !tax.IsWork("Meetings") || tax.WorkAggregate != "work" {
		t.Errorf("work categories = %d", work)
	}
	for _, bad := range []string{
		`{}`,
		`{"categories":["A","A"],"default":"A","workAggregate":"work"}`,
		`{"categories":["A"],"work":["B"],"default":"A","workAggregate":"work"}`,
		`{"categories":["A"],"default":"Z","workAggregate":"work"}`,
		`{"categories":["A:B"],"default":"A:B","workAggregate":"work"}`,
		`{"categories":["A","work"],"default":"A","workAggregate":"work"}`,
		`not json`,
	} {
		if _, err := pomocore.ParseTaxonomy([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, err := pomocore.LoadTaxonomy("/nonexistent/taxonomy.json"); err == nil {
		t.Error("missing file accepted")
	}
}

// EntryIDOf inverts ObjectIDFromEntryID in the id's partition only, and
// refuses ids the main server generated; NewestEntryID picks the newest
// entry among the derived ids.
func TestEntryIDOfAndNewestEntryID(t *testing.T) {
	for _, c := range []struct {
		entry     string
		partition uint8
	}{{"1764000000123-7", 0}, {"1764000000999-16777215", 5}, {"1764000000000-0", 63}} {
		id, err := pomocore.ObjectIDFromEntryID(c.entry, c.partition)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := pomocore.EntryIDOf(id, c.partition); !ok || got != c.entry {
			t.Errorf("EntryIDOf(%s, %d) = %q, %v; want %q", id, c.partition, got, ok, c.entry)
		}
		if got, ok := pomocore.EntryIDOf(id, c.partition^1); ok {
			t.Errorf("EntryIDOf(%s) in partition %d = %q: another partition's id", id, c.partition^1, got)
		}
	}
	// A sequence of 2^24 and more no longer fits the derived ids' zero
	// middle bytes: such ids are taken for generated ones.
	big, _ := pomocore.ObjectIDFromEntryID("1764000000000-16777216", 0)
	if got, ok := pomocore.EntryIDOf(big, 0); ok {
		t.Errorf("EntryIDOf(%s) = %q", big, got)
	}
	// An id the main server generated: random middle bytes.
	generated, _ := pomocore.ParseObjectID("69248100007b3e4f00000007")
	if got, ok := pomocore.EntryIDOf(generated, 0); ok {
		t.Errorf("EntryIDOf(generated %s) = %q", generated, got)
	}
	ids := []pomocore.ObjectID{generated}
	for _, e := range []string{"1764000000123-7", "1764000000123-9", "1764000000122-50"} {
		id, _ := pomocore.ObjectIDFromEntryID(e, 0)
		ids = append(ids, id)
	}
	other, _ := pomocore.ObjectIDFromEntryID("1764000009999-0", 1)
	ids = append(ids, other)
	if got := pomocore.NewestEntryID(ids, 0); got != "1764000000123-9" {
		t.Errorf("NewestEntryID = %q, want 1764000000123-9", got)
	}
	if got := pomocore.NewestEntryID([]pomocore.ObjectID{generated}, 0); got != "" {
		t.Errorf("NewestEntryID of a generated id = %q", got)
	}
}

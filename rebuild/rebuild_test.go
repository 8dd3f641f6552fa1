package rebuild_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/rebuild"
)

var seoul = func() *time.Location {
	l, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		return time.FixedZone("KST", 9*60*60)
	}
	return l
}()

func TestPlanDays(t *testing.T) {
	// 2026-11-23 (Mon) .. 2026-11-30 (Mon): W48 whole, W49 cut, November cut.
	p, err := rebuild.PlanDays("2026-11-23", "2026-11-30", seoul)
	if err != nil {
		t.Fatal(err)
	}
	if p.Days != 8 || p.Weeks != 1 || p.Months != 0 || !p.Covers("2026-W48") || p.Covers("2026-W49") || p.Covers("2026-M11") ||
		!p.Covers("2026-11-23") || !p.Covers("2026-11-30") || p.Covers("2026-12-01") {
		t.Errorf("plan = %+v", p)
	}
	if !reflect.DeepEqual(p.Partial, []string{"2026-M11", "2026-W49"}) {
		t.Errorf("partial = %v", p.Partial)
	}
	if p, _ := rebuild.PlanDays("2026-02-01", "2026-02-28", seoul); !p.Covers("2026-M2") || p.Months != 1 {
		t.Errorf("February whole: %+v", p)
	}
	for _, bad := range [][2]string{{"x", "2026-11-01"}, {"2026-11-01", "y"}, {"2026-11-02", "2026-11-01"}} {
		if _, err := rebuild.PlanDays(bad[0], bad[1], seoul); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// memLogs is the usage logs in memory, handed out in batches of batch.
type memLogs struct {
	logs  []pomocore.UsageLog
	batch int
}

func (m memLogs) UsageLogsBetween(_ context.Context, from, to float64, f func([]pomocore.UsageLog) error) error {
	var in []pomocore.UsageLog
	for _, l := range m.logs {
		if l.Timestamp >= from && l.Timestamp < to {
			in = append(in, l)
		}
	}
	for c := range slices.Chunk(in, max(m.batch, 1)) {
		if err := f(c); err != nil {
			return err
		}
	}
	return nil
}

type memPatterns []pomocore.CategoryPattern

func (m memPatterns) LoadPatterns(context.Context) ([]pomocore.CategoryPattern, error) { return m, nil }

// memBoards is the live boards in memory; replaced counts Replace calls.
type memBoards struct {
	boards   map[string]map[string]float64
	replaced int
}

func (m *memBoards) Scores(_ context.Context, key string) (map[string]float64, error) {
	return maps.Clone(m.boards[key]), nil
}

func (m *memBoards) Replace(_ context.Context, keys []string, boards map[string]map[string]float64) error {
	m.replaced++
	for _, k := range keys {
		if len(boards[k]) == 0 {
			delete(m.boards, k)
		} else {
			m.boards[k] = maps.Clone(boards[k])
		}
	}
	return nil
}

var (
	devID    = pomocore.ObjectID{1}
	gameID   = pomocore.ObjectID{2}
	patterns = memPatterns{{ID: devID, Category: "Development"}, {ID: gameID, Category: "Game"}}
)

// at is a usage log's timestamp: hour o'clock of day in Seoul.
func at(day string, hour int) float64 {
	d, _ := time.ParseInLocation(time.DateOnly, day, seoul)
	return float64(d.Add(time.Duration(hour) * time.Hour).Unix())
}

func usage(user string, cat pomocore.ObjectID, ts, d float64) pomocore.UsageLog {
	return pomocore.UsageLog{UserID: user, CategoryID: cat, Timestamp: ts, Duration: d}
}

// The summing: each log counts on its category's boards of every planned
// period it falls in (a day always, its week and month only when whole),
// a work category's also on the work aggregate's; durations <= 0 and
// categoryIds with no category_pattern document are skipped; logs outside
// the range are not read.
func TestRebuildSums(t *testing.T) {
	// 2026-11-16 (Mon) .. 2026-11-22 (Sun): W47 whole, November cut.
	plan, err := rebuild.PlanDays("2026-11-16", "2026-11-22", seoul)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		logs    []pomocore.UsageLog
		want    map[string]map[string]float64
		unknown bool
	}{
		{"work category", []pomocore.UsageLog{usage("ann", devID, at("2026-11-16", 12), 100)}, map[string]map[string]float64{
			"lb:Development:2026-11-16": {"ann": 100}, "lb:Development:2026-W47": {"ann": 100},
			"lb:work:2026-11-16": {"ann": 100}, "lb:work:2026-W47": {"ann": 100},
		}, false},
		{"other category", []pomocore.UsageLog{usage("bob", gameID, at("2026-11-22", 23), 50)}, map[string]map[string]float64{
			"lb:Game:2026-11-22": {"bob": 50}, "lb:Game:2026-W47": {"bob": 50},
		}, false},
		{"sums per user and board", []pomocore.UsageLog{
			usage("ann", devID, at("2026-11-16", 9), 10), usage("ann", devID, at("2026-11-16", 10), 20.5),
			usage("ann", devID, at("2026-11-17", 10), 1), usage("bob", devID, at("2026-11-17", 10), 2),
		}, map[string]map[string]float64{
			"lb:Development:2026-11-16": {"ann": 30.5}, "lb:Development:2026-11-17": {"ann": 1, "bob": 2},
			"lb:Development:2026-W47": {"ann": 31.5, "bob": 2},
			"lb:work:2026-11-16":      {"ann": 30.5}, "lb:work:2026-11-17": {"ann": 1, "bob": 2}, "lb:work:2026-W47": {"ann": 31.5, "bob": 2},
		}, false},
		{"durations <= 0", []pomocore.UsageLog{usage("ann", devID, at("2026-11-16", 12), 0), usage("ann", gameID, at("2026-11-16", 12), -5)},
			map[string]map[string]float64{}, false},
		{"unknown categoryId", []pomocore.UsageLog{usage("ann", pomocore.ObjectID{9}, at("2026-11-16", 12), 100)},
			map[string]map[string]float64{}, true},
		{"outside the range", []pomocore.UsageLog{usage("ann", devID, at("2026-11-15", 23), 100), usage("ann", devID, at("2026-11-23", 0), 100)},
			map[string]map[string]float64{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			boards := &memBoards{boards: map[string]map[string]float64{}}
			r := &rebuild.Rebuilder{Logs: memLogs{logs: c.logs, batch: 2}, Patterns: patterns, Boards: boards, KeyPrefix: "lb", Taxonomy: pomocore.DefaultTaxonomy()}
			var progress bytes.Buffer
			rep, err := r.Rebuild(context.Background(), plan, rebuild.Options{Progress: &progress})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Swapped || boards.replaced != 1 {
				t.Errorf("swapped %v, Replace called %d times", rep.Swapped, boards.replaced)
			}
			if !reflect.DeepEqual(boards.boards, c.want) {
				t.Errorf("boards = %v\nwant %v", boards.boards, c.want)
			}
			if rep.Keys != len(c.want) || len(rep.Changes) != len(c.want) {
				t.Errorf("report = %+v, want %d keys and changes", rep, len(c.want))
			}
			if got := strings.Contains(progress.String(), "no category_pattern document"); got != c.unknown {
				t.Errorf("warned of unknown categoryIds: %v, want %v\n%s", got, c.unknown, progress.String())
			}
		})
	}
}

// The refusal rules: a rebuild from no usage logs while the live boards
// hold scores is refused (nothing written) unless forced; a dry run only
// warns and writes nothing; a forced one warns and empties the boards.
func TestRebuildRefusals(t *testing.T) {
	plan, err := rebuild.PlanDays("2026-11-16", "2026-11-16", seoul)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		logs      []pomocore.UsageLog
		live      bool
		opts      rebuild.Options
		refused   bool
		warned    bool
		swapped   bool
		liveAfter bool
	}{
		{"no logs, live scores", nil, true, rebuild.Options{}, true, false, false, true},
		{"no logs, live scores, forced", nil, true, rebuild.Options{Force: true}, false, true, true, false},
		{"no logs, live scores, dry run", nil, true, rebuild.Options{DryRun: true}, false, true, false, true},
		{"no logs, no live scores", nil, false, rebuild.Options{}, false, false, true, false},
		{"logs, live scores", []pomocore.UsageLog{usage("bob", gameID, at("2026-11-16", 12), 1)}, true, rebuild.Options{}, false, false, true, false},
		{"logs, live scores, dry run", []pomocore.UsageLog{usage("bob", gameID, at("2026-11-16", 12), 1)}, true, rebuild.Options{DryRun: true}, false, false, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			boards := &memBoards{boards: map[string]map[string]float64{}}
			if c.live {
				boards.boards["lb:Development:2026-11-16"] = map[string]float64{"ann": 100}
			}
			var progress bytes.Buffer
			c.opts.Progress = &progress
			r := &rebuild.Rebuilder{Logs: memLogs{logs: c.logs}, Patterns: patterns, Boards: boards, KeyPrefix: "lb", Taxonomy: pomocore.DefaultTaxonomy()}
			rep, err := r.Rebuild(context.Background(), plan, c.opts)
			if refused := errors.Is(err, rebuild.ErrRefused); refused != c.refused || (err != nil && !refused) {
				t.Fatalf("err = %v, want refused %v", err, c.refused)
			}
			if warned := strings.Contains(progress.String(), "rebuild: warning: 0 usage logs"); warned != c.warned {
				t.Errorf("warned %v, want %v:\n%s", warned, c.warned, progress.String())
			}
			if rep.Swapped != c.swapped || (boards.replaced == 1) != c.swapped {
				t.Errorf("swapped %v (Replace called %d times), want %v", rep.Swapped, boards.replaced, c.swapped)
			}
			if _, ok := boards.boards["lb:Development:2026-11-16"]; ok != c.liveAfter {
				t.Errorf("the live board is there: %v, want %v", ok, c.liveAfter)
			}
		})
	}
	// The rule as the caller's own checks use it.
	for _, c := range []struct {
		opts    rebuild.Options
		refused bool
	}{{rebuild.Options{}, true}, {rebuild.Options{Force: true}, false}, {rebuild.Options{DryRun: true}, false}} {
		var w bytes.Buffer
		c.opts.Progress = &w
		err := c.opts.Refuse("no store")
		if errors.Is(err, rebuild.ErrRefused) != c.refused || (err != nil && !strings.Contains(err.Error(), "no store")) {
			t.Errorf("%+v: Refuse = %v, want refused %v", c.opts, err, c.refused)
		}
		if warned := w.String() == "rebuild: warning: no store\n"; warned == c.refused {
			t.Errorf("%+v: warning %q", c.opts, w.String())
		}
	}
}

// A dry run reports the boards that change (a score equal to the
// millisecond is no change) and writes nothing.
func TestRebuildDryRunReportsChanges(t *testing.T) {
	plan, _ := rebuild.PlanDays("2026-11-16", "2026-11-16", seoul)
	boards := &memBoards{boards: map[string]map[string]float64{
		"lb:Development:2026-11-16": {"ann": 100.0004},          // unchanged
		"lb:work:2026-11-16":        {"ann": 100, "mallory": 1}, // a stray member
		"lb:Game:2026-11-16":        {"bob": 1},                 // no usage left
	}}
	before := maps.Clone(boards.boards)
	r := &rebuild.Rebuilder{Logs: memLogs{logs: []pomocore.UsageLog{usage("ann", devID, at("2026-11-16", 12), 100)}}, Patterns: patterns,
		Boards: boards, KeyPrefix: "lb", Taxonomy: pomocore.DefaultTaxonomy()}
	rep, err := r.Rebuild(context.Background(), plan, rebuild.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []rebuild.BoardChange{
		{Key: "lb:Game:2026-11-16", LiveMembers: 1, NewMembers: 0, LiveTotal: 1},
		{Key: "lb:work:2026-11-16", LiveMembers: 2, NewMembers: 1, LiveTotal: 101, NewTotal: 100},
	}
	if !reflect.DeepEqual(rep.Changes, want) || rep.Swapped || rep.Logs != 1 || rep.Keys != 2 {
		t.Errorf("report = %+v\nwant changes %+v", rep, want)
	}
	if boards.replaced != 0 || !reflect.DeepEqual(boards.boards, before) {
		t.Errorf("the dry run wrote: %v", boards.boards)
	}
	var out bytes.Buffer
	if err := rep.Print(&out); err != nil || !strings.Contains(out.String(), "dry run: nothing written; 2 leaderboards would change, rebuilt from 1 usage logs") ||
		!strings.Contains(out.String(), "lb:work:2026-11-16") || strings.Contains(out.String(), "lb:Development") {
		t.Errorf("Print = %v:\n%s", err, out.String())
	}
}

// The progress off a terminal is plain lines, at most one per tenth, never
// going back, ending at 100%; on a terminal a bar redrawn in place.
func TestRebuildProgress(t *testing.T) {
	plan, _ := rebuild.PlanDays("2026-11-16", "2026-11-22", seoul)
	var logs []pomocore.UsageLog
	for day := 16; day <= 22; day++ {
		for h := range 24 {
			logs = append(logs, usage("ann", devID, at(fmt.Sprintf("2026-11-%d", day), h), 1))
		}
	}
	for _, tty := range []bool{false, true} {
		var progress bytes.Buffer
		r := &rebuild.Rebuilder{Logs: memLogs{logs: logs, batch: 5}, Patterns: patterns, Boards: &memBoards{boards: map[string]map[string]float64{}},
			KeyPrefix: "lb", Taxonomy: pomocore.DefaultTaxonomy()}
		if _, err := r.Rebuild(context.Background(), plan, rebuild.Options{Progress: &progress, Terminal: tty}); err != nil {
			t.Fatal(err)
		}
		text := progress.String()
		if tty {
			if !strings.Contains(text, "\r\033[Krebuild [") || !strings.HasSuffix(text, "100%  168 usage logs\n") {
				t.Errorf("terminal progress:\n%q", text)
			}
			continue
		}
		lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
		if strings.Contains(text, "\r") || len(lines) > 11 || lines[len(lines)-1] != "rebuild: 100% (168 usage logs)" {
			t.Errorf("plain progress:\n%s", text)
		}
	}
}

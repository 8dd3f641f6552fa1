package compare_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/compare"
	"github.com/pomocore/pomocore/doctor"
	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/redis"
)

// patterns is a small category_pattern in the production shape.
var patterns = []pomocore.CategoryPattern{
	{Category: "Development", AppPatterns: []string{"xcode"}, DomainPatterns: []string{"github.com", "kafka.apache.org"}},
	{Category: "Meetings", AppPatterns: []string{"slack"}},
	{Category: "AFK", DomainPatterns: []string{"afk"}},
	{Category: "SNS", DomainPatterns: []string{"x.com"}},
	{Category: "Entertainment", DomainPatterns: []string{"netflix.com"}},
	{Category: "Uncategorized"},
}

type staticPatterns []pomocore.CategoryPattern

func (s staticPatterns) LoadPatterns(context.Context) ([]pomocore.CategoryPattern, error) {
	return s, nil
}

// At 12:00 in Seoul on 2026-11-24.
var at = time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)

func jackson(user, app, url, usageLog string, dur float64) []any {
	ts := strconv.FormatFloat(float64(at.Unix()), 'E', -1, 64) // "1.7639532E+09"-like, as Jackson's double
	ts = strings.Replace(ts, "E+0", "E", 1)
	return []any{"userId", user, "categorizedDataId", "6543210fedcba98765432100", "pomodoroUsageLogId", usageLog,
		"url", url, "title", "t", "app", app, "session", "3", "sessionDate", "2026-11-24", "sessionMinutes", "25",
		"duration", strconv.FormatFloat(dur, 'f', 1, 64), "timestamp", ts, "isEnd", "false"}
}

// TestCompareAttributesExactlyThePlantedDifferences plants, on one day, an
// activity both count alike, a substring match of the deployed classifier
// ("afk" in "kafka"), a producer retry, an entry delivered three times, a
// malformed entry and a mid-2025 leaderboard message (both dead-lettered
// by the shadow), and one score nothing explains; the comparison explains
// each planted difference and reports only the last as unexplained.
func TestCompareAttributesExactlyThePlantedDifferences(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	ms := at.UnixMilli()
	seq := 0
	add := func(stream string, fields []any) string {
		seq++
		id, err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, ID: fmt.Sprintf("%d-%d", ms, seq), Values: fields}).Result()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	add("pattern_match_stream", jackson("u1", "Xcode", "", "6543210fedcba98765430001", 1500))
	kafka := add("pattern_match_stream", jackson("u2", "Google Chrome", "https://kafka.apache.org/documentation", "6543210fedcba98765430002", 600))
	add("pattern_match_stream", jackson("u3", "Xcode", "", "6543210fedcba98765430003", 300))
	retry := add("pattern_match_stream", jackson("u3", "Xcode", "", "6543210fedcba98765430003", 300))
	noUser := add("pattern_match_stream", jackson("", "Slack", "", "6543210fedcba98765430005", 120))
	oldMsg := add("pattern_match_stream", []any{"userId", "u6", "categoryId", "6543210fedcba98765432101", "duration", "60",
		"timestamp", strconv.FormatInt(at.Unix(), 10)})
	if err := rdb.XGroupCreate(ctx, "pattern_match_stream", "pattern_match_group", "$").Err(); err != nil {
		t.Fatal(err)
	}
	redelivered := add("pattern_match_stream", jackson("u4", "Xcode", "", "6543210fedcba98765430004", 200))
	// The deployed consumer read it and re-read its pending entries twice.
	for _, from := range []string{">", "0", "0"} {
		if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "pattern_match_group", Consumer: "data-server",
			Streams: []string{"pattern_match_stream", from}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// The shadow's dead letters.
	for _, e := range []struct {
		id, kind string
		fields   []any
	}{{noUser, "missing_user", jackson("", "Slack", "", "6543210fedcba98765430005", 120)},
		{oldMsg, "missing_app", []any{"userId", "u6", "categoryId", "6543210fedcba98765432101", "duration", "60", "timestamp", strconv.FormatInt(at.Unix(), 10)}}} {
		add("pattern_match_stream:dead", append([]any{"dead.id", e.id, "dead.reason", "refused", "dead.kind", e.kind}, e.fields...))
	}
	day := "2026-11-24"
	boards := map[string]map[string]float64{
		"leaderboard:Development:" + day:     {"u1": 1500, "u3": 600, "u4": 600, "u5": 50},
		"leaderboard:work:" + day:            {"u1": 1500, "u3": 600, "u4": 600, "": 120},
		"leaderboard:AFK:" + day:             {"u2": 600},
		"leaderboard:Meetings:" + day:        {"": 120},
		"leaderboard:Uncategorized:" + day:   {"u6": 60},
		"shadow:Development:" + day:          {"u1": 1500, "u2": 600, "u3": 300, "u4": 200},
		"shadow:work:" + day:                 {"u1": 1500, "u2": 600, "u3": 300, "u4": 200},
		"leaderboard:Development:2026-11-23": {"u9": 5}, // outside the range
	}
	for k, ms := range boards {
		for m, s := range ms {
			if err := rdb.ZAdd(ctx, k, goredis.Z{Member: m, Score: s}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}

	ri := redis.NewInspector(rdb)
	cfg := compare.Config{ShadowPrefix: "shadow", From: day, To: day}
	rep, err := compare.Run(ctx, cfg, compare.Sources{Boards: ri, Entries: ri, Patterns: staticPatterns(patterns)})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text.String())

	type want struct {
		diff  float64
		kinds map[string]float64 // kind -> seconds explained
		unexp float64
	}
	wants := map[string]map[string]want{
		"Development:" + day: {
			"u2": {-600, map[string]float64{compare.SubstringMatch: -600}, 0},
			"u3": {300, map[string]float64{compare.DoubleCount: 300}, 0},
			"u4": {400, map[string]float64{compare.DoubleCount: 400}, 0},
			"u5": {50, nil, 50},
		},
		"work:" + day: {
			"u2": {-600, map[string]float64{compare.SubstringMatch: -600}, 0},
			"u3": {300, map[string]float64{compare.DoubleCount: 300}, 0},
			"u4": {400, map[string]float64{compare.DoubleCount: 400}, 0},
			"":   {120, map[string]float64{compare.Malformed: 120}, 0},
		},
		"AFK:" + day:           {"u2": {600, map[string]float64{compare.SubstringMatch: 600}, 0}},
		"Meetings:" + day:      {"": {120, map[string]float64{compare.Malformed: 120}, 0}},
		"Uncategorized:" + day: {"u6": {60, map[string]float64{compare.Malformed: 60}, 0}},
	}
	got := map[string]compare.KeyReport{}
	for _, k := range rep.Keys {
		got[k.Key] = k
	}
	if len(got) != len(wants) {
		t.Errorf("keys compared: %v, want those of %v", slices.Sorted(mapKeys(got)), slices.Sorted(mapKeys(wants)))
	}
	for key, members := range wants {
		kr, ok := got[key]
		if !ok {
			t.Errorf("no report for %s", key)
			continue
		}
		if kr.Differing != len(members) {
			t.Errorf("%s: %d differing members, want %d: %+v", key, kr.Differing, len(members), kr.Differences)
		}
		for _, d := range kr.Differences {
			w, ok := members[d.Member]
			if !ok {
				t.Errorf("%s: unplanted difference for %q: %+v", key, d.Member, d)
				continue
			}
			if !near(d.Diff, w.diff) || !near(d.Unexplained, w.unexp) {
				t.Errorf("%s/%q: diff %v unexplained %v, want %v and %v", key, d.Member, d.Diff, d.Unexplained, w.diff, w.unexp)
			}
			byKind := map[string]float64{}
			for _, e := range d.Explanations {
				byKind[e.Kind] += e.Seconds
			}
			if len(byKind) != len(w.kinds) {
				t.Errorf("%s/%q: explanations %+v, want %v", key, d.Member, d.Explanations, w.kinds)
			}
			for k, s := range w.kinds {
				if !near(byKind[k], s) {
					t.Errorf("%s/%q: %s explains %v, want %v (%+v)", key, d.Member, k, byKind[k], s, d.Explanations)
				}
			}
		}
	}
	// The explanations name the entries.
	dev := got["Development:"+day]
	for _, d := range dev.Differences {
		for _, e := range d.Explanations {
			switch d.Member {
			case "u2":
				if e.EntryID != kafka || !strings.Contains(e.Detail, `"afk"`) {
					t.Errorf("u2 explanation %+v: want entry %s and the pattern afk", e, kafka)
				}
			case "u3":
				if e.EntryID != retry {
					t.Errorf("u3 explanation %+v: want the retry %s", e, retry)
				}
			case "u4":
				if e.EntryID != redelivered || !strings.Contains(e.Detail, "3 times") {
					t.Errorf("u4 explanation %+v: want %s delivered 3 times", e, redelivered)
				}
			}
		}
	}
	if len(dev.OnlyLive) != 1 || dev.OnlyLive[0] != "u5" || len(dev.OnlyShadow) != 1 || dev.OnlyShadow[0] != "u2" {
		t.Errorf("Development only live %v, only shadow %v; want [u5] and [u2]", dev.OnlyLive, dev.OnlyShadow)
	}
	s := rep.Summary
	if s.Unexplained != 1 || !near(s.UnexplainedSeconds, 50) {
		t.Errorf("unexplained %d pairs, %v seconds; want 1 and 50", s.Unexplained, s.UnexplainedSeconds)
	}
	if s.Keys != 5 || s.KeysDiffering != 5 {
		t.Errorf("keys %d, differing %d; want 5 and 5", s.Keys, s.KeysDiffering)
	}
	if !near(s.LiveSeconds, 1500+600+600+50+1500+600+600+120+600+120+60) || !near(s.ShadowSeconds, 2*(1500+600+300+200)) {
		t.Errorf("seconds live %v shadow %v", s.LiveSeconds, s.ShadowSeconds)
	}
	// min per member: Development u1 1500 u3 300 u4 200; work the same.
	if !near(s.AgreeSeconds, 2*(1500+300+200)) {
		t.Errorf("agreeing seconds %v, want %v", s.AgreeSeconds, 2*(1500+300+200))
	}

	var js bytes.Buffer
	if err := rep.Write(&js, true); err != nil {
		t.Fatal(err)
	}
	var parsed map[string]any
	if err := json.Unmarshal(js.Bytes(), &parsed); err != nil {
		t.Fatal(err)
	}
	sum, _ := parsed["summary"].(map[string]any)
	for _, k := range []string{"keys", "liveSeconds", "shadowSeconds", "agreeShare", "explained", "unexplainedSeconds"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("JSON summary lacks %q: %v", k, sum)
		}
	}
	keys, _ := parsed["keys"].([]any)
	if len(keys) != 5 {
		t.Errorf("JSON keys: %d, want 5", len(keys))
	}
}

func TestCompareOfIdenticalBoardsAgreesFully(t *testing.T) {
	b := map[string]map[string]float64{"Development:2026-11-24": {"u1": 10, "u2": 5}}
	rep, err := compare.Compare(compare.Config{ShadowPrefix: "shadow", From: "2026-11-24", To: "2026-11-24"},
		compare.Input{Live: b, Shadow: b})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.AgreeShare != 1 || rep.Summary.KeysDiffering != 0 || rep.Summary.Keys != 1 {
		t.Errorf("summary %+v", rep.Summary)
	}
}

func TestComparePeriodsAreTheDaysAndTheWeeksAndMonthsWhollyInside(t *testing.T) {
	cfg := compare.Config{ShadowPrefix: "shadow", From: "2026-11-01", To: "2026-11-30"}
	got, err := cfg.Periods()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 30+4+1 { // ISO weeks 45..48 lie wholly in November 2026 (Mon 2 .. Sun 29)
		t.Errorf("%d periods: %v", len(got), got)
	}
	for _, p := range []string{"2026-11-01", "2026-11-30", "2026-W45", "2026-W48", "2026-M11"} {
		if !slices.Contains(got, p) {
			t.Errorf("%s missing from %v", p, got)
		}
	}
	if slices.Contains(got, "2026-W44") || slices.Contains(got, "2026-W49") {
		t.Errorf("a week partly outside: %v", got)
	}
}

func TestCompareRefusesTheLivePrefixAsShadow(t *testing.T) {
	for _, c := range []compare.Config{{ShadowPrefix: "leaderboard", From: "2026-11-24", To: "2026-11-24"},
		{From: "2026-11-24", To: "2026-11-24"}, {ShadowPrefix: "s", From: "2026-11-25", To: "2026-11-24"}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestCompareAttributesAppsTheDeployedExactMatchMissedOnlyWhenAssumed(t *testing.T) {
	day := "2026-11-24"
	e := jackson("u1", "IntelliJ IDEA 2025.2", "", "6543210fedcba98765430001", 100)
	fields := make([]string, len(e))
	for i, v := range e {
		fields[i] = v.(string)
	}
	pats := append(slices.Clone(patterns), pomocore.CategoryPattern{Category: "Development", AppPatterns: []string{"intellij idea"}})
	in := compare.Input{
		Live:     map[string]map[string]float64{"Uncategorized:" + day: {"u1": 100}},
		Shadow:   map[string]map[string]float64{"Development:" + day: {"u1": 100}, "work:" + day: {"u1": 100}},
		Entries:  []doctorEntry{{ID: "1795489200000-1", Fields: fields}},
		Patterns: pats,
	}
	for _, assume := range []string{"", "Uncategorized"} {
		rep, err := compare.Compare(compare.Config{ShadowPrefix: "shadow", From: day, To: day, AssumeOldUnknown: assume}, in)
		if err != nil {
			t.Fatal(err)
		}
		want := 0.0
		if assume == "" {
			want = 300 // three keys, 100 seconds each, unexplained
		}
		if !near(rep.Summary.UnexplainedSeconds, want) || (assume != "" && !near(rep.Summary.Explained[compare.Unmatched], 300)) {
			t.Errorf("assume %q: unexplained %v, explained %v", assume, rep.Summary.UnexplainedSeconds, rep.Summary.Explained)
		}
	}
}

type doctorEntry = doctor.Entry

func TestCompareCountsARetryOutsideTheDedupWindowOnBothSides(t *testing.T) {
	day := "2026-11-24"
	e := jackson("u1", "Xcode", "", "6543210fedcba98765430001", 100)
	fields := make([]string, len(e))
	for i, v := range e {
		fields[i] = v.(string)
	}
	ms := at.UnixMilli()
	entries := []doctorEntry{{ID: fmt.Sprintf("%d-0", ms), Fields: fields}, {ID: fmt.Sprintf("%d-0", ms+int64(3*time.Hour/time.Millisecond)), Fields: fields}}
	both := map[string]map[string]float64{"Development:" + day: {"u1": 200}, "work:" + day: {"u1": 200}}
	rep, err := compare.Compare(compare.Config{ShadowPrefix: "shadow", From: day, To: day},
		compare.Input{Live: both, Shadow: both, Entries: entries, Patterns: patterns})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.KeysDiffering != 0 || len(rep.Summary.Explained) != 0 || rep.Summary.Unexplained != 0 {
		t.Errorf("a retry 3h later (outside the 2h window) counts on both sides: %+v", rep.Summary)
	}
	// Within the window it is a double count.
	entries[1].ID = fmt.Sprintf("%d-0", ms+int64(time.Minute/time.Millisecond))
	live := map[string]map[string]float64{"Development:" + day: {"u1": 200}, "work:" + day: {"u1": 200}}
	shadow := map[string]map[string]float64{"Development:" + day: {"u1": 100}, "work:" + day: {"u1": 100}}
	rep, err = compare.Compare(compare.Config{ShadowPrefix: "shadow", From: day, To: day},
		compare.Input{Live: live, Shadow: shadow, Entries: entries, Patterns: patterns})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Unexplained != 0 || !near(rep.Summary.Explained[compare.DoubleCount], 200) {
		t.Errorf("a retry a minute later: %+v", rep.Summary)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"keys: 2 compared, 2 differ", "explained by double_count: 200.0 seconds", "unexplained: 0.0 seconds", "Development:2026-11-24"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}

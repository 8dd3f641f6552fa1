package storetest

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
)

// Harness is what an adapter under test provides: the ports and a way to
// read every document back.
type Harness interface {
	pipeline.Store
	pipeline.Patterns
	pipeline.LLMMemory
	pipeline.AnswerKeeper
	pipeline.PatternEditor
	pipeline.UsageLogReader
	// Snapshot returns every categorized_data and pomodoro_usage_log
	// document, sorted by ID.
	Snapshot(ctx context.Context) (*Snapshot, error)
}

// Category ids used by the suite.
var (
	Dev  = pomocore.ObjectID{0xde, 0x01}
	Game = pomocore.ObjectID{0x9a, 0x02}
	SNS  = pomocore.ObjectID{0x55, 0x03}
)

var seq atomic.Int64

// Rec returns a record of user for (app, url, title) in category cat with
// a usage-log id derived from a fresh stream entry id.
func Rec(user, app, url, title string, cat pomocore.ObjectID) pipeline.Record {
	n := seq.Add(1)
	entry := "1764000000000-" + strconv.FormatInt(n, 10)
	id, _ := pomocore.ObjectIDFromEntryID(entry, 0)
	return pipeline.Record{
		Activity: pomocore.Activity{EntryID: entry, UserID: user, App: app, URL: url, Title: title,
			Duration: float64(n%300) + 0.5, Timestamp: 1764000000 + float64(n), Session: int(n % 5),
			SessionDate: "2026-11-24", SessionMinutes: 25},
		Classification: pomocore.Classification{Category: "x", Source: pomocore.SourceApp},
		CategoryID:     cat,
		UsageLogID:     id,
	}
}

// Run runs the contract suite, each case a subtest named after it; open
// returns a fresh, empty store each call.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

// cases is the contract suite: each case gets a fresh, empty store.
var cases = []struct {
	name string
	run  func(t *testing.T, h Harness)
}{
	{"CreateModeOneDocumentPerKey", testCreateModeOneDocumentPerKey},
	{"IDModeUpdatesAndCreatesMissing", testIDModeUpdatesAndCreatesMissing},
	{"MixedModesInOneBatch", testMixedModesInOneBatch},
	{"GivenIDsCreateDocumentsOfOneKey", testGivenIDsCreateDocumentsOfOneKey},
	{"DuplicateKeyDocumentsPickSmallestID", testDuplicateKeyDocumentsPickSmallestID},
	{"SaveIsIdempotent", testSaveIsIdempotent},
	{"LaterRecordWinsInBatch", testLaterRecordWinsInBatch},
	{"UsageLogsBetween", testUsageLogsBetween},
	{"UsageLogsBetweenHoursAndYears", testUsageLogsBetweenHoursAndYears},
	{"UpsertPattern", testUpsertPattern},
	{"LLMAnswers", testLLMAnswers},
	{"KeepAnswers", testKeepAnswers},
	{"DefaultKeepsAnLLMAnswer", testDefaultKeepsAnLLMAnswer},
	{"EmptyBatch", testEmptyBatch},
	{"LargeBatch", testLargeBatch},
	{"UnicodeAndEmptyFields", testUnicodeAndEmptyFields},
	{"ConcurrentSaves", testConcurrentSaves},
	{"SeedPatterns", testSeedPatterns},
	{"SeedPatternsKeepsGivenIDs", testSeedPatternsKeepsGivenIDs},
	{"ClaimPartition", testClaimPartition},
}

// snap returns every document of h.
func snap(t *testing.T, h Harness) *Snapshot {
	t.Helper()
	s, err := h.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// save saves recs as one batch.
func save(t *testing.T, h Harness, recs ...pipeline.Record) {
	t.Helper()
	if err := h.Save(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

// cdOf returns the categorized_data document of s with the given id.
func cdOf(s *Snapshot, id pomocore.ObjectID) (pomocore.CategorizedData, bool) {
	for _, c := range s.Categorized {
		if c.ID == id {
			return c, true
		}
	}
	return pomocore.CategorizedData{}, false
}

// testCreateModeOneDocumentPerKey: records without ids share one
// categorized_data per (app, url, title) key, each with its own usage log,
// and a later batch reuses the document with the new category.
func testCreateModeOneDocumentPerKey(t *testing.T, h Harness) {
	a := Rec("u1", "Xcode", "", "main.go", Dev)
	b := Rec("u2", "Xcode", "", "main.go", Dev)
	c := Rec("u1", "Chrome", "https://x.com/home", "Home / X", SNS)
	save(t, h, a, b, c)
	s := snap(t, h)
	if len(s.Categorized) != 2 || len(s.UsageLogs) != 3 {
		t.Fatalf("got %d categorized, %d logs; want 2 and 3", len(s.Categorized), len(s.UsageLogs))
	}
	for _, r := range []pipeline.Record{a, b, c} {
		var l pomocore.UsageLog
		for _, x := range s.UsageLogs {
			if x.ID == r.UsageLogID {
				l = x
			}
		}
		want := pomocore.UsageLog{ID: r.UsageLogID, UserID: r.Activity.UserID, CategoryID: r.CategoryID,
			Session: r.Activity.Session, SessionMinutes: 25, SessionDate: "2026-11-24",
			Timestamp: r.Activity.Timestamp, Duration: r.Activity.Duration, CategorizedDataID: l.CategorizedDataID}
		if l != want {
			t.Errorf("usage log = %+v\nwant %+v", l, want)
		}
		cd, ok := cdOf(s, l.CategorizedDataID)
		if !ok || cd.App != r.Activity.App || cd.URL != r.Activity.URL || cd.Title != r.Activity.Title || cd.CategoryID != r.CategoryID || cd.LLMBased {
			t.Errorf("usage log %s points at %+v (found %v)", l.ID, cd, ok)
		}
	}
	// A later batch with the same key reuses the document and sets the
	// new category.
	d := Rec("u3", "Xcode", "", "main.go", Game)
	d.Classification.Source = pomocore.SourceLLM
	save(t, h, d)
	s2 := snap(t, h)
	if len(s2.Categorized) != 2 || len(s2.UsageLogs) != 4 {
		t.Fatalf("after reuse: %d categorized, %d logs", len(s2.Categorized), len(s2.UsageLogs))
	}
	for _, cd := range s2.Categorized {
		if cd.App == "Xcode" && (cd.CategoryID != Game || !cd.LLMBased) {
			t.Errorf("existing categorized_data not updated: %+v", cd)
		}
	}
}

// testIDModeUpdatesAndCreatesMissing: records naming their documents create
// those missing with the given ids and update those present.
func testIDModeUpdatesAndCreatesMissing(t *testing.T, h Harness) {
	cdID := pomocore.ObjectID{1, 2, 3}
	ulID := pomocore.ObjectID{4, 5, 6}
	r := Rec("u1", "Figma", "", "design", Dev)
	r.Activity.CategorizedDataID, r.Activity.UsageLogID, r.UsageLogID = cdID, ulID, ulID
	save(t, h, r) // both missing: created with these ids
	r2 := r
	r2.CategoryID = Game
	save(t, h, r2) // both present: updated
	s := snap(t, h)
	if len(s.Categorized) != 1 || s.Categorized[0].ID != cdID || s.Categorized[0].CategoryID != Game || s.Categorized[0].App != "Figma" {
		t.Errorf("categorized = %+v", s.Categorized)
	}
	if len(s.UsageLogs) != 1 || s.UsageLogs[0].ID != ulID || s.UsageLogs[0].CategoryID != Game ||
		s.UsageLogs[0].CategorizedDataID != cdID || s.UsageLogs[0].UserID != "u1" {
		t.Errorf("usage logs = %+v", s.UsageLogs)
	}
}

// testMixedModesInOneBatch: one batch mixes records naming both documents,
// only the usage log, or neither.
func testMixedModesInOneBatch(t *testing.T, h Harness) {
	withIDs := Rec("u1", "Figma", "", "a", Dev)
	withIDs.Activity.CategorizedDataID = pomocore.ObjectID{9, 9}
	withIDs.Activity.UsageLogID = pomocore.ObjectID{8, 8}
	withIDs.UsageLogID = withIDs.Activity.UsageLogID
	onlyLog := Rec("u2", "Steam", "", "", Game)
	onlyLog.Activity.UsageLogID = pomocore.ObjectID{7, 7}
	onlyLog.UsageLogID = onlyLog.Activity.UsageLogID
	plain := Rec("u3", "Steam", "", "", Game)
	save(t, h, withIDs, onlyLog, plain)
	s := snap(t, h)
	if len(s.Categorized) != 2 || len(s.UsageLogs) != 3 {
		t.Fatalf("got %d categorized, %d logs; want 2, 3", len(s.Categorized), len(s.UsageLogs))
	}
	var steamCD pomocore.ObjectID
	for _, c := range s.Categorized {
		if c.App == "Steam" {
			steamCD = c.ID
		}
	}
	for _, l := range s.UsageLogs {
		if (l.ID == onlyLog.UsageLogID || l.ID == plain.UsageLogID) && l.CategorizedDataID != steamCD {
			t.Errorf("log %s categorizedDataId = %s, want the Steam document %s", l.ID, l.CategorizedDataID, steamCD)
		}
	}
}

// testGivenIDsCreateDocumentsOfOneKey: the main server inserts one
// categorized_data per activity: the documents entries name by id may share
// an (app, url, title) key, and each named one that is missing is created.
func testGivenIDsCreateDocumentsOfOneKey(t *testing.T, h Harness) {
	first, second := pomocore.ObjectID{0x30, 1}, pomocore.ObjectID{0x20, 2}
	a := Rec("u1", "Figma", "", "dup", Dev)
	a.Activity.CategorizedDataID = first
	b := Rec("u2", "Figma", "", "dup", SNS)
	b.Activity.CategorizedDataID = second
	save(t, h, a, b)
	s := snap(t, h)
	if len(s.Categorized) != 2 {
		t.Fatalf("categorized = %+v, want both named documents", s.Categorized)
	}
	for _, c := range []struct {
		id  pomocore.ObjectID
		cat pomocore.ObjectID
	}{{first, Dev}, {second, SNS}} {
		if d, ok := cdOf(s, c.id); !ok || d.CategoryID != c.cat || d.App != "Figma" || d.Title != "dup" {
			t.Errorf("document %s = %+v (found %v), want Figma|dup in %s", c.id, d, ok, c.cat)
		}
	}
	for _, l := range s.UsageLogs {
		if want := map[pomocore.ObjectID]pomocore.ObjectID{a.UsageLogID: first, b.UsageLogID: second}[l.ID]; l.CategorizedDataID != want {
			t.Errorf("usage log %s categorizedDataId = %s, want %s", l.ID, l.CategorizedDataID, want)
		}
	}
}

// testDuplicateKeyDocumentsPickSmallestID: several documents of one key
// exist (as in production): a record without an id uses the one with the
// smallest id, creates none, and leaves the others alone.
func testDuplicateKeyDocumentsPickSmallestID(t *testing.T, h Harness) {
	ctx := context.Background()
	ids := []pomocore.ObjectID{{0x40, 3}, {0x10, 1}, {0x20, 2}}
	var named []pipeline.Record
	for _, id := range ids {
		r := Rec("u1", "Chrome", "https://dup.example/", "Dup", SNS)
		r.Activity.CategorizedDataID = id
		named = append(named, r)
	}
	save(t, h, named...)
	if s := snap(t, h); len(s.Categorized) != 3 {
		t.Fatalf("categorized = %+v, want the 3 named documents", s.Categorized)
	}
	c := Rec("u2", "Chrome", "https://dup.example/", "Dup", Game)
	c.Classification.Source = pomocore.SourceLLM
	save(t, h, c)
	d := Rec("u3", "Chrome", "https://dup.example/", "Dup", Game) // a later batch: the same choice
	d.Classification.Source = pomocore.SourceLLM
	save(t, h, d)
	s := snap(t, h)
	if len(s.Categorized) != 3 {
		t.Fatalf("categorized = %+v, want no new document", s.Categorized)
	}
	for _, cd := range s.Categorized {
		want := pomocore.CategorizedData{ID: cd.ID, App: "Chrome", URL: "https://dup.example/", Title: "Dup", CategoryID: SNS}
		if cd.ID == ids[1] {
			want.CategoryID, want.LLMBased = Game, true
		}
		if cd != want {
			t.Errorf("document = %+v\nwant %+v", cd, want)
		}
	}
	for _, l := range s.UsageLogs {
		if (l.ID == c.UsageLogID || l.ID == d.UsageLogID) && l.CategorizedDataID != ids[1] {
			t.Errorf("usage log %s categorizedDataId = %s, want the smallest id %s", l.ID, l.CategorizedDataID, ids[1])
		}
	}
	if got, err := h.LLMAnswers(ctx, 10); err != nil || len(got) != 1 || got[0].ID != ids[1] {
		t.Errorf("LLM answers = %+v, %v; want the chosen document", got, err)
	}
}

// testSaveIsIdempotent: saving a batch again, after a partial earlier try,
// changes nothing.
func testSaveIsIdempotent(t *testing.T, h Harness) {
	var batch []pipeline.Record
	for i := 0; i < 40; i++ {
		batch = append(batch, Rec("u"+strconv.Itoa(i%3), "App"+strconv.Itoa(i%6), "", "t", Dev))
	}
	save(t, h, batch[:15]...) // a partial earlier try
	save(t, h, batch...)
	once := snap(t, h)
	save(t, h, batch...)
	twice := snap(t, h)
	if !reflect.DeepEqual(once, twice) {
		t.Errorf("saving again changed the store:\n%+v\n%+v", once, twice)
	}
	if len(twice.Categorized) != 6 || len(twice.UsageLogs) != 40 {
		t.Errorf("got %d categorized, %d logs; want 6 and 40", len(twice.Categorized), len(twice.UsageLogs))
	}
}

// testLaterRecordWinsInBatch: a record later in a batch overrides an
// earlier one of the same key or usage log.
func testLaterRecordWinsInBatch(t *testing.T, h Harness) {
	a := Rec("u1", "Slack", "", "general", Dev)
	b := Rec("u1", "Slack", "", "general", SNS)
	c := a
	c.CategoryID = Game // the same usage log again, reclassified
	save(t, h, a, b, c)
	s := snap(t, h)
	if len(s.Categorized) != 1 || s.Categorized[0].CategoryID != Game {
		t.Errorf("categorized = %+v, want one with the last category", s.Categorized)
	}
	for _, l := range s.UsageLogs {
		if l.ID == a.UsageLogID && l.CategoryID != Game {
			t.Errorf("usage log category = %s, want the later record's", l.CategoryID)
		}
	}
}

// testUsageLogsBetween: UsageLogsBetween returns each log of [from, to)
// once, and the callback's error.
func testUsageLogsBetween(t *testing.T, h Harness) {
	ctx := context.Background()
	var batch []pipeline.Record
	for i := 0; i < 700; i++ {
		batch = append(batch, Rec("u", "App", "", "", Dev))
	}
	save(t, h, batch...)
	from, to := batch[100].Activity.Timestamp, batch[650].Activity.Timestamp
	seen := map[pomocore.ObjectID]bool{}
	err := h.UsageLogsBetween(ctx, from, to, func(ls []pomocore.UsageLog) error {
		for _, l := range ls {
			if l.Timestamp < from || l.Timestamp >= to || seen[l.ID] {
				t.Errorf("log %+v outside [%v, %v) or twice", l, from, to)
			}
			seen[l.ID] = true
		}
		return nil
	})
	if err != nil || len(seen) != 550 {
		t.Errorf("got %d logs (%v), want 550", len(seen), err)
	}
	stop := errors.New("stop")
	if err := h.UsageLogsBetween(ctx, from, to, func([]pomocore.UsageLog) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("the callback's error was not returned: %v", err)
	}
}

// testUsageLogsBetweenHoursAndYears: logs 997 s apart over about 3 days;
// ranges cut inside hours, span many of them, or years.
func testUsageLogsBetweenHoursAndYears(t *testing.T, h Harness) {
	ctx := context.Background()
	var batch []pipeline.Record
	for i := 0; i < 260; i++ {
		r := Rec("u", "App", "", "", Dev)
		r.Activity.Timestamp = 1764000000.25 + float64(i)*997
		batch = append(batch, r)
	}
	save(t, h, batch...)
	for _, c := range []struct{ from, to float64 }{
		{1764000000, 1764000000 + 3600},
		{1764000000.25 + 997*3, 1764000000.25 + 997*200},     // from on a log, to on a log
		{1764000000.5 + 997*3, 1764000000 + 997*200 + 0.125}, // bounds inside hours
		{0, 1764000000 + 86400*365*10},                       // a decade: every log
		{1764000000 + 997*5, 1764000000 + 997*5},             // empty range
	} {
		want := 0
		for _, r := range batch {
			if ts := r.Activity.Timestamp; ts >= c.from && ts < c.to {
				want++
			}
		}
		got := map[pomocore.ObjectID]bool{}
		err := h.UsageLogsBetween(ctx, c.from, c.to, func(ls []pomocore.UsageLog) error {
			for _, l := range ls {
				if l.Timestamp < c.from || l.Timestamp >= c.to || got[l.ID] {
					t.Errorf("[%v, %v): log at %v outside or twice", c.from, c.to, l.Timestamp)
				}
				got[l.ID] = true
			}
			return nil
		})
		if err != nil || len(got) != want {
			t.Errorf("[%v, %v): got %d logs (%v), want %d", c.from, c.to, len(got), err, want)
		}
	}
}

// testUpsertPattern: UpsertPattern replaces a pattern by id.
func testUpsertPattern(t *testing.T, h Harness) {
	ctx := context.Background()
	id := pomocore.ObjectID{0x42}
	p := pomocore.CategoryPattern{ID: id, Category: "Game", AppPatterns: []string{"steam"}, DomainPatterns: []string{}}
	if err := h.UpsertPattern(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.AppPatterns = append(p.AppPatterns, "battle.net")
	p.DomainPatterns = []string{"op.gg"}
	p.TitleRules = []pomocore.TitleRule{{Scope: "youtube.com", Keywords: []string{"speedrun"}}}
	if err := h.UpsertPattern(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := h.LoadPatterns(ctx)
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], p) {
		t.Errorf("after two upserts: %+v, %v; want %+v", got, err, p)
	}
}

// testLLMAnswers: LLMAnswers returns the LLM-based documents, up to the
// limit.
func testLLMAnswers(t *testing.T, h Harness) {
	ctx := context.Background()
	var recs []pipeline.Record
	for i := 0; i < 5; i++ {
		r := Rec("u", "Zzz "+strconv.Itoa(i), "", "", Game)
		if i%2 == 0 {
			r.Classification.Source = pomocore.SourceLLM
		}
		recs = append(recs, r)
	}
	save(t, h, recs...)
	got, err := h.LLMAnswers(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("LLM answers = %+v, want the 3 LLM-based documents", got)
	}
	for _, d := range got {
		if !d.LLMBased || d.CategoryID != Game || !strings.HasPrefix(d.App, "Zzz ") {
			t.Errorf("answer %+v", d)
		}
	}
	if got, _ := h.LLMAnswers(ctx, 2); len(got) != 2 {
		t.Errorf("limit 2 gave %d", len(got))
	}
}

// testKeepAnswers: an answer kept as it arrives is an LLM answer of its
// key's document at once (a restart remembers it without a second
// sighting): the document a Save already made is updated, a key without
// one gets one; no usage log is written; keeping again changes nothing.
func testKeepAnswers(t *testing.T, h Harness) {
	ctx := context.Background()
	seen := Rec("u", "Zzz Seen", "https://zzz.example/a", "t", Dev)
	save(t, h, seen)
	answers := []pomocore.CategorizedData{
		{App: "Zzz Seen", URL: "https://zzz.example/a", Title: "t", CategoryID: Game},
		{App: "Zzz New", URL: "", Title: "\u00e9t\u00e9", CategoryID: SNS},
	}
	for range 2 {
		if err := h.KeepAnswers(ctx, answers); err != nil {
			t.Fatal(err)
		}
	}
	s := snap(t, h)
	if len(s.Categorized) != 2 || len(s.UsageLogs) != 1 {
		t.Fatalf("documents after keeping: %d categorized_data, %d usage logs; want 2 and 1", len(s.Categorized), len(s.UsageLogs))
	}
	got, err := h.LLMAnswers(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	byApp := map[string]pomocore.CategorizedData{}
	for _, d := range got {
		byApp[d.App] = d
	}
	for _, a := range answers {
		d, ok := byApp[a.App]
		if !ok || d.URL != a.URL || d.Title != a.Title || d.CategoryID != a.CategoryID || !d.LLMBased {
			t.Errorf("kept answer %+v: LLMAnswers has %+v", a, d)
		}
	}
	if cd, _ := cdOf(s, s.UsageLogs[0].CategorizedDataID); cd.App != "Zzz Seen" || cd.CategoryID != Game {
		t.Errorf("the saved document was not the one updated: %+v", cd)
	}
	if err := h.KeepAnswers(ctx, nil); err != nil {
		t.Errorf("keeping nothing: %v", err)
	}
}

// testDefaultKeepsAnLLMAnswer: a sighting classified as the default
// (nothing matched, the LLM's answer not back yet) that is saved after the
// answer was kept does not overwrite it, whether its record names the
// document by key or by id: the answer keeper and the batch of an earlier
// sighting race (on SQLite they queue on one connection), and the answer
// is the better knowledge. A category that patterns decide still replaces
// it.
func testDefaultKeepsAnLLMAnswer(t *testing.T, h Harness) {
	ctx := context.Background()
	sighting := func() pipeline.Record {
		r := Rec("u", "Zzz Unknown", "", "doc", Dev)
		r.Classification = pomocore.Classification{Category: "Uncategorized", Source: pomocore.SourceDefault}
		return r
	}
	save(t, h, sighting())
	cdID := snap(t, h).UsageLogs[0].CategorizedDataID
	if err := h.KeepAnswers(ctx, []pomocore.CategorizedData{{App: "Zzz Unknown", Title: "doc", CategoryID: Game}}); err != nil {
		t.Fatal(err)
	}
	byID := sighting()
	byID.Activity.CategorizedDataID = cdID
	for _, r := range []pipeline.Record{sighting(), byID} {
		save(t, h, r)
		if cd, _ := cdOf(snap(t, h), cdID); cd.CategoryID != Game || !cd.LLMBased {
			t.Errorf("after a default sighting (by id: %v): %+v, want the LLM's answer kept", !r.Activity.CategorizedDataID.IsZero(), cd)
		}
	}
	save(t, h, Rec("u", "Zzz Unknown", "", "doc", SNS)) // a pattern now knows it
	if cd, _ := cdOf(snap(t, h), cdID); cd.CategoryID != SNS || cd.LLMBased {
		t.Errorf("after a pattern's category: %+v, want it", cd)
	}
}

// testEmptyBatch: an empty batch writes nothing.
func testEmptyBatch(t *testing.T, h Harness) {
	save(t, h)
	if s := snap(t, h); len(s.Categorized)+len(s.UsageLogs) != 0 {
		t.Errorf("empty batch wrote %+v", s)
	}
}

// testLargeBatch: a batch of 1,200 records over 300 keys.
func testLargeBatch(t *testing.T, h Harness) {
	var batch []pipeline.Record
	for i := 0; i < 1200; i++ {
		batch = append(batch, Rec("u"+strconv.Itoa(i%50), "app-"+strconv.Itoa(i%300), "https://example.com/"+strconv.Itoa(i%300), "", Dev))
	}
	save(t, h, batch...)
	s := snap(t, h)
	if len(s.Categorized) != 300 || len(s.UsageLogs) != 1200 {
		t.Errorf("got %d categorized, %d logs; want 300 and 1200", len(s.Categorized), len(s.UsageLogs))
	}
}

// testUnicodeAndEmptyFields: Korean text and empty or blank fields are
// stored as given.
func testUnicodeAndEmptyFields(t *testing.T, h Harness) {
	recs := []pipeline.Record{
		Rec("사용자", "카카오톡", "", "", SNS),
		Rec("u", "한컴오피스 한글", "", "보고서.hwp — 편집", Dev),
		Rec("u", "", "https://네이버.com/검색?q=고", "", SNS),
		Rec("u", "App", "", "", Dev),
		Rec("u", "App", "", " ", Dev),
	}
	save(t, h, recs...)
	s := snap(t, h)
	if len(s.Categorized) != 5 {
		t.Errorf("got %d categorized, want 5 distinct keys (a blank title differs from an empty one)", len(s.Categorized))
	}
	got := map[string]bool{}
	for _, c := range s.Categorized {
		got[c.App+"|"+c.URL+"|"+c.Title] = true
	}
	for _, r := range recs {
		if k := r.Activity.App + "|" + r.Activity.URL + "|" + r.Activity.Title; !got[k] {
			t.Errorf("key %q not stored as given", k)
		}
	}
	for _, l := range s.UsageLogs {
		if l.UserID == "사용자" {
			return
		}
	}
	t.Error("unicode user id lost")
}

// testConcurrentSaves: concurrent saves of the same keys, retried when they
// fail, duplicate nothing.
func testConcurrentSaves(t *testing.T, h Harness) {
	ctx := context.Background()
	var wg sync.WaitGroup
	batches := make([][]pipeline.Record, 4)
	for g := range batches {
		for i := 0; i < 25; i++ {
			batches[g] = append(batches[g], Rec("u", "shared-"+strconv.Itoa(i%5), "", "", Dev))
		}
	}
	errs := make(chan error, len(batches))
	for _, b := range batches {
		wg.Add(1)
		go func(b []pipeline.Record) {
			defer wg.Done()
			errs <- h.Save(ctx, b)
		}(b)
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			t.Logf("concurrent save: %v", err)
		}
	}
	// A racing insert of the same key may fail; the contract is that a
	// retry then succeeds and nothing is duplicated.
	for g := 0; g < failed; g++ {
		for _, b := range batches {
			_ = h.Save(ctx, b)
		}
	}
	s := snap(t, h)
	if len(s.Categorized) != 5 || len(s.UsageLogs) != 100 {
		t.Errorf("got %d categorized, %d logs; want 5 and 100", len(s.Categorized), len(s.UsageLogs))
	}
}

// testSeedPatterns: SeedPatterns fills an empty category_pattern
// collection, with ids, and leaves a non-empty one alone.
func testSeedPatterns(t *testing.T, h Harness) {
	ctx := context.Background()
	got, err := h.LoadPatterns(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty store patterns = %v, %v", got, err)
	}
	defaults := []pomocore.CategoryPattern{
		{Category: "Development", Priority: 2, AppPatterns: []string{"xcode", "visual studio code"}, DomainPatterns: []string{"github.com"},
			TitleRules: []pomocore.TitleRule{{Scope: "youtube.com", Keywords: []string{"golang", "코딩"}}, {Scope: "app:Slack", Keywords: []string{"#dev"}}}},
		{Category: "SNS", AppPatterns: []string{}, DomainPatterns: []string{"x.com", "instagram.com"}},
		{Category: "Uncategorized"},
	}
	seeded, err := h.SeedPatterns(ctx, defaults)
	if err != nil || !seeded {
		t.Fatalf("seed empty = %v, %v", seeded, err)
	}
	got, err = h.LoadPatterns(ctx)
	if err != nil || len(got) != 3 {
		t.Fatalf("load = %v, %v", got, err)
	}
	byCat := map[string]pomocore.CategoryPattern{}
	for _, p := range got {
		if p.ID.IsZero() {
			t.Errorf("%s has no id", p.Category)
		}
		byCat[p.Category] = p
	}
	if d := byCat["Development"]; d.Priority != 2 || !reflect.DeepEqual(d.AppPatterns, defaults[0].AppPatterns) ||
		!reflect.DeepEqual(d.DomainPatterns, defaults[0].DomainPatterns) || !reflect.DeepEqual(d.TitleRules, defaults[0].TitleRules) {
		t.Errorf("Development = %+v", d)
	}
	if s := byCat["SNS"]; !reflect.DeepEqual(s.DomainPatterns, defaults[1].DomainPatterns) || len(s.AppPatterns) != 0 || len(s.TitleRules) != 0 {
		t.Errorf("SNS = %+v", s)
	}
	seeded, err = h.SeedPatterns(ctx, []pomocore.CategoryPattern{{Category: "Game"}})
	if err != nil || seeded {
		t.Errorf("seed non-empty = %v, %v; want false", seeded, err)
	}
	again, _ := h.LoadPatterns(ctx)
	if len(again) != 3 {
		t.Errorf("seeding a non-empty collection changed it: %d patterns", len(again))
	}
}

// testSeedPatternsKeepsGivenIDs: a seeded pattern that has an id keeps it.
func testSeedPatternsKeepsGivenIDs(t *testing.T, h Harness) {
	ctx := context.Background()
	fixed := pomocore.ObjectID{0xab}
	if _, err := h.SeedPatterns(ctx, []pomocore.CategoryPattern{{ID: fixed, Category: "Game"}}); err != nil {
		t.Fatal(err)
	}
	if p, _ := h.LoadPatterns(ctx); len(p) != 1 || p[0].ID != fixed {
		t.Errorf("given id not kept: %+v", p)
	}
}

// testClaimPartition: a store that records partition owners
// (pipeline.PartitionClaimer) lets the owning source claim its partition
// again, refuses another source with a *PartitionTakenError naming the
// owner (another stream, the same stream in another database, or in
// another Redis), and keeps partitions apart. Skipped for stores that do
// not record them.
func testClaimPartition(t *testing.T, h Harness) {
	c, ok := h.(pipeline.PartitionClaimer)
	if !ok {
		t.Skip("the store does not record partition owners")
	}
	ctx := context.Background()
	main := pipeline.PartitionSource{Redis: "redis-a:6379", Stream: "pattern_match_stream"}
	other := pipeline.PartitionSource{Redis: "redis-a:6379", Stream: "other_stream"}
	db1 := pipeline.PartitionSource{Redis: "redis-a:6379", DB: 1, Stream: "pattern_match_stream"}
	serverB := pipeline.PartitionSource{Redis: "redis-b:6379", Stream: "pattern_match_stream"}
	for _, claim := range []struct {
		partition uint8
		src       pipeline.PartitionSource
		owner     *pipeline.PartitionSource // nil when the claim must succeed
	}{{3, main, nil}, {3, main, nil}, {3, other, &main}, {3, db1, &main}, {3, serverB, &main},
		{4, db1, nil}, {4, main, &db1}, {4, db1, nil}, {5, serverB, nil}, {5, main, &serverB}} {
		err := c.ClaimPartition(ctx, claim.partition, claim.src)
		var taken *pipeline.PartitionTakenError
		switch {
		case claim.owner == nil && err != nil:
			t.Errorf("%v claiming partition %d: %v", claim.src, claim.partition, err)
		case claim.owner == nil:
		case !errors.Is(err, pipeline.ErrPartitionTaken) || !errors.As(err, &taken):
			t.Errorf("%v claimed partition %d of %v: %v", claim.src, claim.partition, *claim.owner, err)
		case taken.Owner != *claim.owner || taken.Claimer != claim.src || taken.Partition != claim.partition:
			t.Errorf("refusal of %v on partition %d = %+v, want owner %v", claim.src, claim.partition, taken, *claim.owner)
		case !strings.Contains(err.Error(), claim.owner.Redis) || !strings.Contains(err.Error(), claim.owner.Stream) || taken.Release == "":
			t.Errorf("refusal does not name the owner %v or how to release it: %v", *claim.owner, err)
		}
	}
}

// FullDisk checks the full-disk part of the Store contract on st, whose
// files are on a filesystem fill fills (internal/diskfull): a batch the
// store cannot write because its disk is full fails with an error wrapping
// pipeline.ErrStoreCannotWrite (the pipeline never takes it for an entry's
// fault), and the same batch is saved once fill's free has made room.
func FullDisk(t *testing.T, st pipeline.Store, fill func() (free func() error, err error)) {
	t.Helper()
	ctx := context.Background()
	if err := st.Save(ctx, []pipeline.Record{Rec("u0", "app", "", "t", Dev)}); err != nil {
		t.Fatal(err)
	}
	free, err := fill()
	if err != nil {
		t.Fatal(err)
	}
	var batch []pipeline.Record
	for i := range 200 { // more than any page the store's files hold free
		batch = append(batch, Rec("u"+strconv.Itoa(i), "app-"+strconv.Itoa(i), strings.Repeat("x", 4000), "t", Dev))
	}
	if err := st.Save(ctx, batch); err == nil || !errors.Is(err, pipeline.ErrStoreCannotWrite) {
		t.Fatalf("Save on a full disk: %v, want an error wrapping pipeline.ErrStoreCannotWrite", err)
	}
	if err := free(); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, batch); err != nil {
		t.Errorf("Save once there is room again: %v", err)
	}
}

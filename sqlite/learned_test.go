package sqlite_test

import (
	"context"
	"slices"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/learn/learntest"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
	"github.com/pomocore/pomocore/sqlite"
)

var (
	_ learn.LearnedLog    = (*sqlite.Store)(nil)
	_ learn.LabelSource   = (*sqlite.Store)(nil)
	_ learn.PatternWriter = (*sqlite.Store)(nil)
)

func TestSQLiteLearnedLogPassesTheContract(t *testing.T) {
	learntest.RunLearnedLog(t, func(t *testing.T) learn.LearnedLog { return open(t, sqlite.Config{}) })
}

func TestSQLiteLearnedLogSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, sqlite.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecordLearned(ctx, learn.Learned{Kind: learn.KindDomain, Pattern: "docs.example.com", Category: "Documentation",
		CategoryID: storetest.Dev, Origin: learn.OriginLearned, Answers: 5}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = open(t, sqlite.Config{Dir: dir})
	got, err := st.LearnedPatterns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].CategoryID != storetest.Dev || got[0].Pattern != "docs.example.com" {
		t.Fatalf("after reopening: %+v, want the record with its category id", got)
	}
}

// TestSQLiteTrustedLabelsLeaveOutModelAnswersAndTheDefault: the model is
// never trained on its own answers nor on what fell to the default; a
// document the LLM answered after the model keeps the LLM's trust.
func TestSQLiteTrustedLabelsLeaveOutModelAnswersAndTheDefault(t *testing.T) {
	st := open(t, sqlite.Config{})
	checkTrustedLabels(t, st)
}

// labelStore is what checkTrustedLabels needs.
type labelStore interface {
	pipeline.Store
	learn.LabelSource
}

func checkTrustedLabels(t *testing.T, st labelStore) {
	t.Helper()
	ctx := context.Background()
	rec := func(app string, src pomocore.Source, cat pomocore.ObjectID) pipeline.Record {
		r := storetest.Rec("u", app, "", "", cat)
		r.Classification.Source = src
		return r
	}
	batch := []pipeline.Record{
		rec("Xcode", pomocore.SourceApp, storetest.Dev),
		rec("github.com", pomocore.SourceDomain, storetest.Dev),
		rec("Steam", pomocore.SourceLLM, storetest.Game),
		rec("Cached", pomocore.SourceCache, storetest.Game),
		rec("Guessed", pomocore.SourceModel, storetest.SNS),
		rec("Nothing", pomocore.SourceDefault, storetest.SNS),
		rec("NoCategory", pomocore.SourceApp, pomocore.ObjectID{}),
		rec("Later", pomocore.SourceModel, storetest.SNS),
	}
	if err := st.Save(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// Seen again, answered by the LLM this time.
	if err := st.Save(ctx, []pipeline.Record{rec("Later", pomocore.SourceCache, storetest.Game)}); err != nil {
		t.Fatal(err)
	}
	got, err := st.TrustedLabels(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var apps []string
	for _, d := range got {
		apps = append(apps, d.App)
		if d.CategoryID.IsZero() {
			t.Errorf("%s: trusted label without a category", d.App)
		}
	}
	slices.Sort(apps)
	if want := []string{"Cached", "Later", "Steam", "Xcode", "github.com"}; !slices.Equal(apps, want) {
		t.Fatalf("trusted labels %v, want %v", apps, want)
	}
	if got, err := st.TrustedLabels(ctx, 2); err != nil || len(got) != 2 {
		t.Fatalf("limit 2: %d labels, %v", len(got), err)
	}
}

// Processes starting together on a new file (the chaos harness's three)
// all open it: adding the source column twice is not an error.
func TestSQLiteOpenedByManyAtOnceOnANewFile(t *testing.T) {
	dir := t.TempDir()
	errs := make(chan error, 6)
	for range 6 {
		go func() {
			st, err := sqlite.Open(context.Background(), sqlite.Config{Dir: dir})
			if err == nil {
				err = st.Close()
			}
			errs <- err
		}()
	}
	for range 6 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

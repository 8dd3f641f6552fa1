package sqlite_test

import (
	"context"
	"testing"

	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/learn/learntest"
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
	learntest.RunTrustedLabels(t, open(t, sqlite.Config{}))
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

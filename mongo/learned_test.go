package mongo_test

import (
	"context"
	"slices"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/learn/learntest"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
)

var (
	_ learn.LearnedLog    = (*mongo.Store)(nil)
	_ learn.LabelSource   = (*mongo.Store)(nil)
	_ learn.PatternWriter = (*mongo.Store)(nil)
)

// testLearnedLogContract runs learn's contract of the learned-pattern log
// against the store (in TestMongo, on FerretDB).
func testLearnedLogContract(t *testing.T) {
	learntest.RunLearnedLog(t, func(t *testing.T) learn.LearnedLog { return open(t, mongo.Config{}) })
}

// testTrustedLabelsLeaveOutModelAnswersAndTheDefault: the model is never
// trained on its own answers nor on what fell to the default; a document
// the LLM answered after the model keeps the LLM's trust; the main
// server's documents (no pomocoreSource) are trusted.
func testTrustedLabelsLeaveOutModelAnswersAndTheDefault(t *testing.T) {
	ctx := context.Background()
	st := open(t, mongo.Config{})
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
	}
	slices.Sort(apps)
	if want := []string{"Cached", "Later", "Steam", "Xcode", "github.com"}; !slices.Equal(apps, want) {
		t.Fatalf("trusted labels %v, want %v", apps, want)
	}
	if got, err := st.TrustedLabels(ctx, 2); err != nil || len(got) != 2 {
		t.Fatalf("limit 2: %d labels, %v", len(got), err)
	}
}

package learntest

import (
	"context"
	"slices"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
)

// LabelStore is a store whose trusted labels RunTrustedLabels checks: it
// saves records as the pipeline does and lists the labels learning trusts.
type LabelStore interface {
	pipeline.Store
	learn.LabelSource
}

// RunTrustedLabels runs the contract of learn.LabelSource against st (an
// empty store with the storetest categories): the model is never trained
// on its own answers nor on what fell to the default; a document answered
// by the LLM after the model keeps the LLM's trust; a label always has a
// category; the limit holds.
func RunTrustedLabels(t *testing.T, st LabelStore) {
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
	// Seen again, answered by the LLM (through its cache) this time.
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

package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
)

// modelClassifier answers "Guess" as the model would, and knows Xcode by
// pattern.
type modelClassifier struct{ fixedClassifier }

func (m modelClassifier) Classify(app, url, title string) pomocore.Classification {
	if app == "Guess" {
		return pomocore.Classification{Category: "Development", Source: pomocore.SourceModel}
	}
	return m.fixedClassifier.Classify(app, url, title)
}

// TestBatchReportListsTheActivitiesNoPatternDecided: the unknowns panel
// and the learning loop see each activity that fell to the default or
// that the model answered, with its duration; a batch of pattern hits
// reports none (and allocates nothing for them).
func TestBatchReportListsTheActivitiesNoPatternDecided(t *testing.T) {
	e := newEnv(t, "c1", pipeline.Config{})
	obs := &recordingObserver{}
	e.p, _ = pipeline.New(pipeline.Config{Location: seoul}, pipeline.WithSleep(pipeline.Deps{
		Reader: e.reader, Store: e.store, Committer: mustCommitter(e.mem),
		Classifier: modelClassifier{fixedClassifier{"Xcode": "Development"}}, Taxonomy: pomocore.DefaultTaxonomy(),
		CategoryIDs: e.ids, Observer: obs,
	}, func(ctx context.Context, d time.Duration) error { return ctx.Err() }))
	ts := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e.add(event("u1", "Xcode", 10, ts, false)...)
	e.add(event("u1", "Nope", 7, ts, false)...)
	e.add(event("u1", "Guess", 3, ts, false)...)
	e.processNew()
	e.add(event("u1", "Xcode", 10, ts, false)...)
	e.processNew()
	if len(obs.reports) != 2 {
		t.Fatalf("%d reports, want 2", len(obs.reports))
	}
	got := obs.reports[0].Unknowns
	if len(got) != 2 || got[0].App != "Nope" || got[0].Seconds != 7 || got[0].Classification.Source != pomocore.SourceDefault ||
		got[1].App != "Guess" || got[1].Classification != (pomocore.Classification{Category: "Development", Source: pomocore.SourceModel}) {
		t.Errorf("unknowns of the first batch = %+v, want Nope (default, 7s) then Guess (model)", got)
	}
	if u := obs.reports[1].Unknowns; u != nil {
		t.Errorf("a batch of pattern hits reported unknowns %+v", u)
	}
}

package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/ferrettest"
)

// record plays the main server in the cut-over test and keeps the test's
// own record of what it produced: every activity, the category both
// services count it in, and how many times the runbook says it counts
// (once, plus once per producer retry the deployed service reads; the test
// raises times where that happens). It is also the stand-in's UsageLogs:
// the deployed service's update of the usage logs' categoryId.
type record struct {
	t     *testing.T
	c     *cutover
	db    *mongodrv.Database
	cats  map[string]pomocore.ObjectID // category name -> category_pattern _id
	acts  []*activity
	apps  []string // apps both classifiers put in the same category
	catOf map[string]string
}

// activity is one activity the main server produced.
type activity struct {
	user, app, cat string
	secs           float64
	fields         []string
	ids            []string // its stream ids: the first send, then each retry
	times          int      // how many times it must count
}

// newRecord returns the record of c, checking that the apps it produces
// are classified alike by the deployed service and pomocore (ours).
func newRecord(t *testing.T, c *cutover, ours *classify.Matcher) *record {
	t.Helper()
	r := &record{t: t, c: c, db: ferrettest.Client(t, c.env["MONGO_URI"]).Database(c.env["MONGO_DATABASE"]),
		cats: map[string]pomocore.ObjectID{}, apps: []string{"Figma", "Xcode", "slack"}, catOf: map[string]string{}}
	for _, p := range c.patterns {
		r.cats[p.Category] = p.ID
	}
	for _, app := range r.apps {
		old, our := c.old.Classify(app, ""), ours.Classify(app, "", "w").Category
		if old != our || old == pomocore.Uncategorized {
			t.Fatalf("fixture: %s is %s to the deployed classifier, %s to pomocore's patterns; want one category", app, old, our)
		}
		r.catOf[app] = old
	}
	return r
}

// sendN has the main server upload n activities: for each, its
// categorized_data and pomodoro_usage_log documents (no categoryId), then
// its stream entry with the 12 fields.
func (r *record) sendN(n int) []*activity {
	r.t.Helper()
	ctx := context.Background()
	out := make([]*activity, n)
	for i := range out {
		j := len(r.acts)
		a := &activity{user: fmt.Sprintf("r%03d", j), app: r.apps[j%len(r.apps)], secs: float64(10 + j), times: 1}
		a.cat = r.catOf[a.app]
		cd, ul := bson.NewObjectID(), bson.NewObjectID()
		if _, err := r.db.Collection("categorized_data").InsertOne(ctx, bson.D{{Key: "_id", Value: cd}, {Key: "app", Value: a.app},
			{Key: "title", Value: "w"}, {Key: "IsLLMBased", Value: false}}); err != nil {
			r.t.Fatal(err)
		}
		if _, err := r.db.Collection("pomodoro_usage_log").InsertOne(ctx, bson.D{{Key: "_id", Value: ul}, {Key: "userId", Value: a.user},
			{Key: "CategorizedDataId", Value: cd}, {Key: "session", Value: int32(1)}, {Key: "sessionMinutes", Value: int32(25)},
			{Key: "timestamp", Value: float64(r.c.at.Unix())}, {Key: "duration", Value: a.secs}}); err != nil {
			r.t.Fatal(err)
		}
		a.fields = contractEntry(a.user, a.app, "", a.secs, r.c.at, false, "categorizedDataId", cd.Hex(), "pomodoroUsageLogId", ul.Hex())
		a.ids = append(a.ids, r.c.add(a.fields))
		r.acts = append(r.acts, a)
		out[i] = a
	}
	return out
}

// retry sends a's entry again under a new stream id, as the main server's
// producer does for up to 30 minutes.
func (r *record) retry(a *activity) {
	r.t.Helper()
	a.ids = append(a.ids, r.c.add(a.fields))
}

// SetCategories implements legacy.UsageLogs: the deployed service's
// UpdateCategoryIDsBatch.
func (r *record) SetCategories(ctx context.Context, categories map[string]string) error {
	for ul, cat := range categories {
		id, err := bson.ObjectIDFromHex(ul)
		if err != nil {
			continue
		}
		if _, err := r.db.Collection("pomodoro_usage_log").UpdateByID(ctx, id,
			bson.D{{Key: "$set", Value: bson.D{{Key: "categoryId", Value: bson.ObjectID(r.cats[cat])}}}}); err != nil {
			return err
		}
	}
	return nil
}

// expect adds every activity's seconds, times the number it must count, to
// want.
func (r *record) expect(want map[string]map[string]float64) {
	for _, a := range r.acts {
		expect(want, "leaderboard", a.cat, a.user, a.secs*float64(a.times))
	}
}

// doubled returns how many activities must count more than once.
func (r *record) doubled() int {
	n := 0
	for _, a := range r.acts {
		if a.times > 1 {
			n++
		}
	}
	return n
}

// explain lists the activities whose day board in got does not hold them
// the number of times the record says, and the members no activity of the
// record explains.
func (r *record) explain(got map[string]map[string]float64) string {
	var b strings.Builder
	day := r.c.day
	seen := map[string]bool{}
	for _, a := range r.acts {
		key := pomocore.LeaderboardKey("leaderboard", a.cat, day)
		seen[key+" "+a.user] = true
		if n := got[key][a.user] / a.secs; n != float64(a.times) {
			fmt.Fprintf(&b, "%s (%s, stream ids %v): counted %v times, want %d\n", a.user, a.cat, a.ids, n, a.times)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if !strings.HasSuffix(k, ":"+day) || strings.HasPrefix(k, "leaderboard:work:") {
			continue
		}
		for m := range got[k] {
			if strings.HasPrefix(m, "r") && !seen[k+" "+m] {
				fmt.Fprintf(&b, "%s %s: %v seconds, not in the record\n", k, m, got[k][m])
			}
		}
	}
	if b.Len() == 0 {
		b.WriteString("every recorded activity counts as recorded; the difference is elsewhere (work boards, weeks, months, or the planted entries)\n")
	}
	return b.String()
}

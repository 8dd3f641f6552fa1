package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/pomocore/pomocore/redis"
)

// `pomocore cutover adopt` on the deployed group after the stand-in
// stopped with entries pending: the acknowledged entry is recorded, a
// pending entry whose usage log carries a categoryId is recorded and
// acknowledged, one whose usage log has none stays pending, and entries
// with no usage log or no pomodoroUsageLogId stay pending as undecided;
// the report says so, and a second run records nothing more.
func TestCutoverAdoptDecidesPendingByTheUsageLog(t *testing.T) {
	c := newCutover(t)
	ctx := context.Background()
	const counted, uncounted, missing, acked = "65a0000000000000000000a1", "65a0000000000000000000a2", "65a0000000000000000000a3", "65a0000000000000000000a4"
	cli, err := mongodrv.Connect(options.Client().ApplyURI(c.env["MONGO_URI"]))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Disconnect(ctx) }()
	oid := func(s string) bson.ObjectID { id, _ := bson.ObjectIDFromHex(s); return id }
	if _, err := cli.Database("prod").Collection("pomodoro_usage_log").InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: oid(counted)}, {Key: "userId", Value: "u"}, {Key: "categoryId", Value: oid("65a0000000000000000000c1")}},
		bson.D{{Key: "_id", Value: oid(uncounted)}, {Key: "userId", Value: "u"}},
	}); err != nil {
		t.Fatal(err)
	}
	entry := func(ulid string) []string {
		f := []string{"userId", "u", "app", "Xcode", "duration", "10", "timestamp", strconv.FormatInt(c.at.Unix(), 10)}
		if ulid != "" {
			f = append(f, "pomodoroUsageLogId", ulid)
		}
		return f
	}
	if err := c.old.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	ackedID := c.add(entry(acked))
	for _, u := range []string{counted, uncounted, missing, ""} {
		c.add(entry(u))
	}
	if _, err := c.old.Step(ctx, 100, 0, func(id string) bool { return id == ackedID }); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := c.run(c.env, "cutover", "adopt", "-json")
	if code != 0 {
		t.Fatalf("cutover adopt: exit %d: %s", code, errOut)
	}
	var rep redis.AdoptReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Scanned != 5 || rep.Acknowledged != 1 || rep.PendingCounted != 1 || rep.PendingUncounted != 1 || rep.PendingUnknown != 2 || rep.Recorded != 2 {
		t.Errorf("report %+v: want 5 scanned, 1 acknowledged, 1 pending counted, 1 uncounted, 2 undecided, 2 recorded", rep)
	}
	if p := c.rdb.XPending(ctx, c.stream, c.liveGroup).Val(); p.Count != 3 {
		t.Errorf("pending after adopt = %d, want 3 (uncounted and undecided left for pomocore)", p.Count)
	}
	code, out, errOut = c.run(c.env, "cutover", "adopt")
	if code != 0 || !strings.Contains(out, "activities newly recorded as counted: 0") {
		t.Errorf("second cutover adopt: exit %d, want 0 newly recorded:\n%s%s", code, out, errOut)
	}
}

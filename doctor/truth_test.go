package doctor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pomocore/pomocore/doctor"
)

// fakeStreams is a StreamInspector of fixed answers.
type fakeStreams struct {
	state      doctor.StreamState
	entries    []doctor.Entry
	deliveries map[string]int64
}

func (f fakeStreams) Stream(_ context.Context, name string) (doctor.StreamState, error) {
	if name != f.state.Name {
		return doctor.StreamState{Name: name}, nil
	}
	return f.state, nil
}

func (f fakeStreams) Sample(context.Context, string, int) ([]doctor.Entry, error) {
	return f.entries, nil
}

func (f fakeStreams) Deliveries(context.Context, string, string, int) (map[string]int64, error) {
	return f.deliveries, nil
}

// fakeBoards lists fixed keys.
type fakeBoards []doctor.KeyInfo

func (f fakeBoards) Keys(context.Context, string, int) ([]doctor.KeyInfo, bool, error) {
	return f, false, nil
}

// fakeDocs answers for categorized_data only, as after a cut-over: the
// main server's documents, one pomocore wrote (pomocoreSource) and the
// indexes pomocore created.
type fakeDocs struct{}

var pomocoreIndexes = map[string][]doctor.Index{
	"categorized_data":   {{Name: "app_url_title", Keys: []string{"app:1", "url:1", "title:1"}}},
	"pomodoro_usage_log": {{Name: "userId_sessionDate_session_idx", Keys: []string{"userId:1", "sessionDate:1", "session:1"}}, {Name: "sessionDate", Keys: []string{"sessionDate:1"}}, {Name: "timestamp", Keys: []string{"timestamp:1"}}},
}

func (fakeDocs) Collection(_ context.Context, coll string) (doctor.Collection, error) {
	return doctor.Collection{Name: coll, Exists: true, Count: 2}, nil
}

func (fakeDocs) Indexes(_ context.Context, coll string) (existing, planned []doctor.Index, err error) {
	existing = append([]doctor.Index{{Name: "_id_", Keys: []string{"_id:1"}}}, pomocoreIndexes[coll]...)
	return existing, pomocoreIndexes[coll], nil
}

func (fakeDocs) SampleDocuments(_ context.Context, coll string, _ int) ([]doctor.Document, error) {
	if coll == "categorized_data" {
		return []doctor.Document{
			{"_id": "a", "app": "Xcode", "url": "", "title": "t", "categoryId": "c", "IsLLMBased": false, "pomocoreSource": "pattern"},
			{"_id": "b", "app": "Slack", "url": "", "title": "t", "categoryId": "c", "IsLLMBased": false, "_class": "x"},
		}, nil
	}
	return []doctor.Document{{"_id": "c", "userId": "u1", "CategorizedDataId": "a", "sessionDate": time.Date(2026, 1, 4, 15, 0, 0, 0, time.UTC)}}, nil
}

// truthEntry is an activity as the main server writes it, with extra
// fields.
func truthEntry(id string, extra ...string) doctor.Entry {
	f := []string{"userId", "u1", "categorizedDataId", "6543210fedcba98765432100", "pomodoroUsageLogId", "6543210fedcba98765432201",
		"url", "", "title", "t", "app", "Xcode", "session", "3", "sessionDate", "2026-01-05", "sessionMinutes", "25",
		"duration", "12.0", "timestamp", "1.7675424E9", "isEnd", "false"}
	return doctor.Entry{ID: id, Fields: append(f, extra...)}
}

// TestDoctorTellsTheTruth: doctor's lines say what pomocore does. Entries
// delivered POMOCORE_MAX_DELIVERIES times are counted as usual (the count
// alone never dead-letters); unknown fields are attributed to the entries
// that carry them, the old-format messages' categoryId apart (they are
// dead-lettered, not accepted); pomocore's own field (pomocoreSource) and
// indexes are recognised as its own; the leaderboard periods printed are
// those found.
func TestDoctorTellsTheTruth(t *testing.T) {
	streams := fakeStreams{
		state: doctor.StreamState{Name: "pattern_match_stream", Exists: true, Length: 3, FirstID: "1-0", LastID: "3-0",
			Groups: []doctor.GroupState{{Name: "pattern_match_group", Pending: 2, LastDeliveredID: "3-0",
				Consumers: []doctor.ConsumerState{{Name: "data-server", Pending: 2}}}}},
		entries: []doctor.Entry{
			{ID: "1-0", Fields: []string{"userId", "u1", "categoryId", "6543210fedcba98765432101", "duration", "60", "timestamp", "1751328000"}},
			truthEntry("2-0", "deviceId", "mac-1"),
			truthEntry("3-0"),
		},
		deliveries: map[string]int64{"2-0": 12, "3-0": 1},
	}
	boards := fakeBoards{{Key: "leaderboard:Development:2025-01-05", Type: "zset"}, {Key: "leaderboard:work:2025-W1", Type: "zset"},
		{Key: "leaderboard:Development:2025-M1", Type: "zset"}, {Key: "leaderboard:Development:2025-01-04", Type: "zset"}}
	rep, err := doctor.Run(context.Background(), doctor.Config{MaxDeliveries: 10, Now: time.Now},
		doctor.Sources{Streams: streams, Boards: boards, Docs: fakeDocs{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range rep.Lines {
		t.Logf("%s %s / %s: %s", l.Verdict, l.Section, l.Check, l.Detail)
	}

	l, _ := find(rep, "input stream", "pending deliveries")
	if l.Verdict != doctor.OK || strings.Contains(l.Detail, "not counted") || !strings.Contains(l.Detail, "2-0 (12)") ||
		!strings.Contains(l.Detail, "counted as usual") {
		t.Errorf("pending deliveries: %s %q; want OK, the entry named and counted as usual (the delivery count alone never dead-letters)", l.Verdict, l.Detail)
	}

	l, _ = find(rep, "input stream", "unknown fields")
	if l.Verdict != doctor.Warn || !strings.Contains(l.Detail, "deviceId (1 of 2 activities)") || strings.Contains(l.Detail, "categoryId") {
		t.Errorf("unknown fields: %s %q; want a WARN naming deviceId on the activities only", l.Verdict, l.Detail)
	}
	l, ok := find(rep, "input stream", "old-format fields")
	if !ok || l.Verdict != doctor.OK || !strings.Contains(l.Detail, "categoryId (1)") || !strings.Contains(l.Detail, "dead-lettered") {
		t.Errorf("old-format fields: %v %s %q; want an OK line: categoryId of the dead-lettered old messages", ok, l.Verdict, l.Detail)
	}

	if l, ok := find(rep, "categorized_data", "other fields"); ok {
		t.Errorf("categorized_data other fields: %s %q; pomocoreSource is pomocore's own", l.Verdict, l.Detail)
	}
	l, _ = find(rep, "categorized_data", "field names")
	if !strings.Contains(l.Detail, "1 have pomocoreSource (pomocore's own") {
		t.Errorf("categorized_data field names: %q; want pomocoreSource recognised as pomocore's", l.Detail)
	}
	l, _ = find(rep, "categorized_data", "indexes")
	if !strings.Contains(l.Detail, "app_url_title(app:1, url:1, title:1) (pomocore's)") || strings.Contains(l.Detail, "_id_(_id:1) (pomocore's)") {
		t.Errorf("categorized_data indexes: %q; want app_url_title marked as pomocore's", l.Detail)
	}
	l, _ = find(rep, "pomodoro_usage_log", "indexes")
	if !strings.Contains(l.Detail, "timestamp(timestamp:1) (pomocore's)") || !strings.Contains(l.Detail, "userId_sessionDate_session_idx(userId:1, sessionDate:1, session:1) (the main server's, also created by pomocore)") {
		t.Errorf("pomodoro_usage_log indexes: %q", l.Detail)
	}

	l, _ = find(rep, "leaderboards", "keys")
	for _, want := range []string{"2 daily (2025-01-04 .. 2025-01-05)", "1 weekly (2025-W1)", "1 monthly (2025-M1)"} {
		if !strings.Contains(l.Detail, want) {
			t.Errorf("leaderboards keys: %q lacks %q", l.Detail, want)
		}
	}
	if strings.Contains(l.Detail, "2026") {
		t.Errorf("leaderboards keys: %q names periods that were not found", l.Detail)
	}
}

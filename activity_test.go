package pomocore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func validator() *pomocore.Validator {
	seoul, _ := time.LoadLocation("Asia/Seoul")
	return pomocore.NewValidator(pomocore.Limits{}, seoul, func() time.Time { return now })
}

func goodFields() []string {
	return []string{
		"userId", "42", "app", "Xcode", "title", "main.go", "url", "",
		"duration", "12.5", "timestamp", "1764000000.25", "session", "3",
		"sessionDate", "2026-11-24", "sessionMinutes", "25", "isEnd", "true",
	}
}

func with(fields []string, name, value string) []string {
	out := append([]string(nil), fields...)
	for i := 0; i < len(out); i += 2 {
		if out[i] == name {
			out[i+1] = value
			return out
		}
	}
	return append(out, name, value)
}

func without(fields []string, name string) []string {
	var out []string
	for i := 0; i < len(fields); i += 2 {
		if fields[i] != name {
			out = append(out, fields[i], fields[i+1])
		}
	}
	return out
}

func TestParseValid(t *testing.T) {
	a, err := validator().Parse("1-1", goodFields())
	if err != nil {
		t.Fatal(err)
	}
	want := pomocore.Activity{EntryID: "1-1", UserID: "42", App: "Xcode", Title: "main.go", Duration: 12.5,
		Timestamp: 1764000000.25, Session: 3, SessionDate: "2026-11-24", SessionMinutes: 25, IsEnd: true}
	if a != want {
		t.Errorf("got %+v\nwant %+v", a, want)
	}
	if got := a.Time(); got.Unix() != 1764000000 || got.Nanosecond() != 250000000 {
		t.Errorf("Time() = %v", got)
	}
}

func TestParseOptionalsAndVariants(t *testing.T) {
	v := validator()
	oid := "64b7f0c2a1b2c3d4e5f60718"
	f := with(with(goodFields(), "categorizedDataId", oid), "pomodoroUsageLogId", strings.ToUpper(oid))
	f = with(f, "sessionDate", "2026-11-24T23:30:00Z") // 2026-11-25 in Seoul
	f = with(f, "isEnd", "False")
	f = with(f, "app", "")
	f = with(f, "url", "https://github.com")
	a, err := v.Parse("1-1", f)
	if err != nil {
		t.Fatal(err)
	}
	if a.CategorizedDataID.Hex() != oid || a.UsageLogID.Hex() != oid {
		t.Errorf("ids = %v %v", a.CategorizedDataID, a.UsageLogID)
	}
	if a.SessionDate != "2026-11-25" {
		t.Errorf("RFC 3339 session date in Seoul = %q, want 2026-11-25", a.SessionDate)
	}
	if a.IsEnd {
		t.Error("isEnd False parsed as true")
	}
	a, err = v.Parse("1-1", without(goodFields(), "isEnd"))
	if err != nil || a.IsEnd {
		t.Errorf("missing isEnd: %v %v, want false", a.IsEnd, err)
	}
}

func TestParseRejects(t *testing.T) {
	v := validator()
	g := goodFields()
	cases := []struct {
		name   string
		fields []string
		kind   string
	}{
		{"no user", without(g, "userId"), "missing_user"},
		{"blank user", with(g, "userId", "  "), "missing_user"},
		{"control in user", with(g, "userId", "a\x00b"), "control_characters"},
		{"no app no url", with(g, "app", ""), "missing_app"},
		{"no duration", without(g, "duration"), "bad_duration"},
		{"text duration", with(g, "duration", "ten"), "bad_duration"},
		{"NaN", with(g, "duration", "NaN"), "bad_duration"},
		{"Inf", with(g, "duration", "Inf"), "bad_duration"},
		{"-Inf", with(g, "duration", "-Inf"), "bad_duration"},
		{"negative", with(g, "duration", "-500"), "bad_duration"},
		{"above cap", with(g, "duration", "86401"), "bad_duration"},
		{"no timestamp", without(g, "timestamp"), "bad_timestamp"},
		{"ms timestamp", with(g, "timestamp", "1764000000000"), "bad_timestamp"},
		{"ancient", with(g, "timestamp", "12"), "bad_timestamp"},
		{"text timestamp", with(g, "timestamp", "yesterday"), "bad_timestamp"},
		{"session text", with(g, "session", "two"), "bad_int"},
		{"session float", with(g, "session", "2.5"), "bad_int"},
		{"session missing", without(g, "session"), "bad_int"},
		{"session negative", with(g, "session", "-1"), "bad_int"},
		{"minutes huge", with(g, "sessionMinutes", "99999999999"), "bad_int"},
		{"bad date", with(g, "sessionDate", "24.11.2026"), "bad_date"},
		{"no date", without(g, "sessionDate"), "bad_date"},
		{"bad bool", with(g, "isEnd", "maybe"), "bad_bool"},
		{"bad oid", with(g, "categorizedDataId", "zz"), "bad_object_id"},
		{"bad oid hex", with(g, "pomodoroUsageLogId", strings.Repeat("g", 24)), "bad_object_id"},
		{"duplicate", append(append([]string(nil), g...), "duration", "1"), "duplicate_field"},
		{"oversized", with(g, "title", strings.Repeat("x", 9000)), "oversized_field"},
		{"bad utf8", with(g, "title", "\xff\xfe"), "invalid_utf8"},
		{"odd", append(append([]string(nil), g...), "dangling"), "malformed"},
		{"unknown field", append(append([]string(nil), g...), "extra", "x"), "unknown_field"},
		{"too many fields", append(append([]string(nil), g...), strings.Split(strings.Repeat("k,v,", 60), ",")[:120]...), "too_many_fields"},
	}
	for _, c := range cases {
		_, err := v.Parse("1-1", c.fields)
		var inv *pomocore.InvalidError
		if !errors.As(err, &inv) || !errors.Is(err, pomocore.ErrInvalid) {
			t.Errorf("%s: err = %v, want an InvalidError", c.name, err)
			continue
		}
		if inv.Kind != c.kind {
			t.Errorf("%s: kind %q, want %q (%v)", c.name, inv.Kind, c.kind, err)
		}
		if inv.Error() == "" {
			t.Errorf("%s: empty reason", c.name)
		}
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := (pomocore.Limits{}).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, l := range []pomocore.Limits{{MaxDuration: -1}, {MaxFieldBytes: 10}, {MaxFields: 3}, {MaxClockSkew: -time.Second}} {
		if l.Validate() == nil {
			t.Errorf("%+v accepted", l)
		}
	}
}

func TestParseAllowUnknownFields(t *testing.T) {
	v := pomocore.NewValidator(pomocore.Limits{AllowUnknownFields: true}, time.UTC, func() time.Time { return now })
	if _, err := v.Parse("1-1", append(goodFields(), "extra", "ignored")); err != nil {
		t.Fatalf("unknown field with AllowUnknownFields: %v", err)
	}
}

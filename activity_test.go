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
	f = with(f, "isEnd", "false")
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
		t.Error("isEnd false parsed as true")
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
		{"C1 control in user", with(g, "userId", "a\u0085b"), "control_characters"},
		{"bidi override in user", with(g, "userId", "a\u202eb"), "control_characters"},
		{"zero width in user", with(g, "userId", "a\u200bb"), "control_characters"},
		{"null user", with(g, "userId", "null"), "missing_user"},
		{"null duration", with(g, "duration", "null"), "bad_duration"},
		{"digit separators", with(g, "duration", "1_000"), "bad_duration"},
		{"hex float", with(g, "duration", "0x1p4"), "bad_duration"},
		{"hex timestamp", with(g, "timestamp", "0x1.a4p30"), "bad_timestamp"},
		{"Infinity word", with(g, "duration", "Infinity"), "bad_duration"},
		{"exponent without digits", with(g, "duration", "1e"), "bad_duration"},
		{"lone dot", with(g, "duration", "."), "bad_duration"},
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
	if err := pomocore.DefaultLimits().Validate(); err != nil {
		t.Fatal(err)
	}
	for field, set := range map[string]func(*pomocore.Limits){
		"MaxDuration": func(l *pomocore.Limits) { l.MaxDuration = -1 }, "MaxFieldBytes": func(l *pomocore.Limits) { l.MaxFieldBytes = 10 },
		"MaxFields": func(l *pomocore.Limits) { l.MaxFields = 3 }, "MaxClockSkew": func(l *pomocore.Limits) { l.MaxClockSkew = -time.Second },
	} {
		l := pomocore.DefaultLimits()
		set(&l)
		var ce *pomocore.ConfigError
		if err := l.Validate(); !errors.As(err, &ce) || ce.Field != field {
			t.Errorf("%s: got %v", field, err)
		}
	}
	if err := (pomocore.Limits{}).Validate(); err == nil {
		t.Error("zero limits accepted: zero is not a limit (DefaultLimits has the defaults)")
	}
}

// The main server may add fields in a later release: an activity with a
// field the contract does not name still counts (strictness is a setting).
func TestMainServerAddsAFieldActivityStillCounts(t *testing.T) {
	if _, err := validator().Parse("1-1", append(goodFields(), "extra", "ignored")); err != nil {
		t.Fatalf("unknown field rejected by default: %v", err)
	}
	if pomocore.IsField("extra") || !pomocore.IsField("pomodoroUsageLogId") {
		t.Error("IsField does not tell the contract's fields apart")
	}
	strict := pomocore.NewValidator(pomocore.Limits{RejectUnknownFields: true}, time.UTC, func() time.Time { return now })
	var inv *pomocore.InvalidError
	if _, err := strict.Parse("1-1", append(goodFields(), "extra", "x")); !errors.As(err, &inv) || inv.Kind != "unknown_field" {
		t.Fatalf("strict: %v, want unknown_field", err)
	}
}

// The main server's Jackson writes PomodoroPatternClassifyMessage with
// doubles in scientific notation, whole doubles with ".0", and a Java null
// as "null" (or an empty string, or not at all).
func TestMainServerJacksonValuesParse(t *testing.T) {
	jackson := []string{
		"userId", "b3f1c2", "categorizedDataId", "68bd2c3f5e9a1b0012345678", "pomodoroUsageLogId", "68bd2c3f5e9a1b0012345679",
		"url", "null", "title", "main.go", "app", "Xcode", "session", "3", "sessionDate", "2025-09-05",
		"sessionMinutes", "25", "duration", "12.0", "timestamp", "1.7570520005E9", "isEnd", "true",
	}
	v := pomocore.NewValidator(pomocore.Limits{}, time.UTC, func() time.Time { return time.Unix(1757052000, 0) })
	a, err := v.Parse("1-1", jackson)
	if err != nil {
		t.Fatal(err)
	}
	if a.Timestamp != 1757052000.5 || a.Duration != 12 || a.URL != "" || !a.IsEnd || a.Session != 3 || a.SessionMinutes != 25 {
		t.Errorf("parsed %+v", a)
	}
	if a.CategorizedDataID.IsZero() || a.UsageLogID.IsZero() {
		t.Errorf("ids not read: %+v", a)
	}
	for _, absent := range []string{"", "null"} {
		for _, f := range []string{"url", "title", "categorizedDataId", "pomodoroUsageLogId", "isEnd"} {
			b, err := v.Parse("1-1", with(jackson, f, absent))
			if err != nil {
				t.Errorf("%s=%q: %v, want it absent", f, absent, err)
			}
			if f == "isEnd" && b.IsEnd {
				t.Errorf("isEnd=%q read as true", absent)
			}
		}
		if _, err := v.Parse("1-1", without(jackson, "url")); err != nil {
			t.Errorf("missing url: %v", err)
		}
	}
	if b, err := v.Parse("1-1", with(jackson, "session", "3.0")); err != nil || b.Session != 3 {
		t.Errorf("session 3.0: %v %v", b.Session, err)
	}
	if b, err := v.Parse("1-1", with(jackson, "duration", "1.25E1")); err != nil || b.Duration != 12.5 {
		t.Errorf("duration 1.25E1: %v %v", b.Duration, err)
	}
}

// A rejected last activity still ends its session when its user, session
// and date are valid (the deployed data server emitted the event for every
// isEnd entry; without it the main server never scores the session).
func TestRemainsOfARejectedSessionEnd(t *testing.T) {
	v := validator()
	ul := "68bd2c3f5e9a1b0012345679"
	r := v.Remains(with(with(goodFields(), "duration", "-5"), "pomodoroUsageLogId", ul))
	if !r.EndsSession || r.UserID != "42" || r.Session != 3 || r.SessionDate != "2026-11-24" || r.UsageLogID.Hex() != ul {
		t.Errorf("remains = %+v", r)
	}
	for name, f := range map[string][]string{
		"not the end":     with(goodFields(), "isEnd", "false"),
		"no user":         without(goodFields(), "userId"),
		"bad session":     with(goodFields(), "session", "x"),
		"bad date":        with(goodFields(), "sessionDate", "24.11.2026"),
		"user twice":      append(goodFields(), "userId", "43"),
		"control in user": with(goodFields(), "userId", "a\u202eb"),
	} {
		if r := v.Remains(f); r.EndsSession {
			t.Errorf("%s: ends the session: %+v", name, r)
		}
	}
}

// Jackson writes isEnd as true or false, a date of this era, and numbers
// without spaces: anything else is not the main server's and is a dead
// letter with a kind of its own (issue 27 item 8).
func TestParseTakesOnlyWhatJacksonWrites(t *testing.T) {
	v := validator() // now: 2026-11-24T12:00Z
	g := goodFields()
	for _, c := range []struct {
		name   string
		fields []string
		kind   string
	}{
		{"isEnd yes", with(g, "isEnd", "yes"), "bad_bool"},
		{"isEnd T", with(g, "isEnd", "T"), "bad_bool"},
		{"isEnd 1", with(g, "isEnd", "1"), "bad_bool"},
		{"isEnd 0", with(g, "isEnd", "0"), "bad_bool"},
		{"isEnd False", with(g, "isEnd", "False"), "bad_bool"},
		{"isEnd padded", with(g, "isEnd", " true"), "bad_bool"},
		{"sessionDate 9999-12-31", with(g, "sessionDate", "9999-12-31"), "date_out_of_range"},
		{"sessionDate 0000-01-01", with(g, "sessionDate", "0000-01-01"), "date_out_of_range"},
		{"sessionDate 1999-12-31", with(g, "sessionDate", "1999-12-31"), "date_out_of_range"},
		{"sessionDate two days ahead", with(g, "sessionDate", "2026-11-27"), "date_out_of_range"},
		{"sessionDate RFC 3339 far ahead", with(g, "sessionDate", "9999-12-31T00:00:00Z"), "date_out_of_range"},
		{"duration padded", with(g, "duration", " 7 "), "padded_number"},
		{"duration trailing space", with(g, "duration", "7 "), "padded_number"},
		{"timestamp padded", with(g, "timestamp", " 1764000000"), "padded_number"},
		{"session padded", with(g, "session", " 7 "), "padded_number"},
		{"sessionMinutes tab", with(g, "sessionMinutes", "25\t"), "padded_number"},
	} {
		_, err := v.Parse("1-1", c.fields)
		var inv *pomocore.InvalidError
		if !errors.As(err, &inv) {
			t.Errorf("%s: accepted (%v), want a dead letter of kind %s", c.name, err, c.kind)
			continue
		}
		if inv.Kind != c.kind {
			t.Errorf("%s: kind %q, want %q (%v)", c.name, inv.Kind, c.kind, err)
		}
	}
	for _, ok := range [][]string{
		with(g, "isEnd", "false"), with(g, "sessionDate", "2000-01-01"), with(g, "sessionDate", "2026-11-26"),
		with(g, "duration", "7"), with(g, "timestamp", "1.764E9"), with(g, "session", "7"),
	} {
		if _, err := v.Parse("1-1", ok); err != nil {
			t.Errorf("%v: %v, want it accepted", ok, err)
		}
	}
}

package pomocore

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Activity is one validated activity event from the input stream: what a
// user did, for how long, in which pomodoro session.
type Activity struct {
	// EntryID is the Redis stream entry id the activity was read from.
	EntryID string
	UserID  string
	App     string
	Title   string
	URL     string
	// Duration is the time spent, in seconds; finite and >= 0.
	Duration float64
	// Timestamp is the unix time of the activity, in seconds.
	Timestamp float64
	// Session is the pomodoro session number within SessionDate.
	Session int
	// SessionDate is the session's day, "YYYY-MM-DD".
	SessionDate    string
	SessionMinutes int
	// IsEnd marks the last activity of the session.
	IsEnd bool
	// CategorizedDataID, when not zero, names a categorized_data document the
	// main server already created; zero means the pipeline creates it.
	CategorizedDataID ObjectID
	// UsageLogID, when not zero, names a pomodoro_usage_log document the main
	// server already created; zero means the pipeline creates it.
	UsageLogID ObjectID
}

// Time returns the activity's timestamp as a time.Time.
func (a *Activity) Time() time.Time {
	sec, frac := math.Modf(a.Timestamp)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// The input field names of the CONTRACT.
const (
	FieldUserID             = "userId"
	FieldApp                = "app"
	FieldTitle              = "title"
	FieldURL                = "url"
	FieldDuration           = "duration"
	FieldTimestamp          = "timestamp"
	FieldSession            = "session"
	FieldSessionDate        = "sessionDate"
	FieldSessionMinutes     = "sessionMinutes"
	FieldIsEnd              = "isEnd"
	FieldCategorizedDataID  = "categorizedDataId"
	FieldPomodoroUsageLogID = "pomodoroUsageLogId"
)

// ErrInvalid is the error kind of every validation failure: an entry that
// fails with an error for which errors.Is(err, ErrInvalid) holds can never
// become valid by retrying and belongs in the dead-letter stream.
var ErrInvalid = errors.New("invalid activity")

// InvalidError describes why an entry was rejected. Kind is a short stable
// code for metrics (e.g. "bad_duration"); Field the offending field, if any.
type InvalidError struct {
	Kind   string
	Field  string
	Detail string
}

// Error returns "field: detail" (or the detail alone).
func (e *InvalidError) Error() string {
	if e.Field == "" {
		return e.Detail
	}
	return e.Field + ": " + e.Detail
}

// Is makes errors.Is(err, ErrInvalid) true for every InvalidError.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(kind, field, format string, args ...any) error {
	return &InvalidError{Kind: kind, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// Limits bounds what the validator accepts. The zero value of a field means
// its default (see DefaultLimits).
type Limits struct {
	// MaxDuration is the largest accepted duration in seconds (default 86400).
	MaxDuration float64
	// MaxFieldBytes is the largest accepted length of any one field value in
	// bytes (default 8192).
	MaxFieldBytes int
	// MaxFields is the largest accepted number of fields in an entry
	// (default 64).
	MaxFields int
	// MinTimestamp is the earliest accepted timestamp, unix seconds
	// (default 946684800, 2000-01-01).
	MinTimestamp float64
	// MaxClockSkew is how far in the future of the validator's clock a
	// timestamp may be (default 24h). A millisecond timestamp is far beyond.
	MaxClockSkew time.Duration
	// RejectUnknownFields rejects an entry with a field the CONTRACT does
	// not name. By default such fields are accepted and ignored (IsField
	// tells them apart): the producer may add fields in a later release,
	// and an activity must still count.
	RejectUnknownFields bool
}

// DefaultLimits returns the default validation limits.
func DefaultLimits() Limits {
	return Limits{
		MaxDuration:   86400,
		MaxFieldBytes: 8192,
		MaxFields:     64,
		MinTimestamp:  946684800,
		MaxClockSkew:  24 * time.Hour,
	}
}

// WithDefaults returns l with each zero field (but RejectUnknownFields)
// set to DefaultLimits' value: a partial Limits, as NewValidator takes it.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MaxDuration == 0 {
		l.MaxDuration = d.MaxDuration
	}
	if l.MaxFieldBytes == 0 {
		l.MaxFieldBytes = d.MaxFieldBytes
	}
	if l.MaxFields == 0 {
		l.MaxFields = d.MaxFields
	}
	if l.MinTimestamp == 0 {
		l.MinTimestamp = d.MinTimestamp
	}
	if l.MaxClockSkew == 0 {
		l.MaxClockSkew = d.MaxClockSkew
	}
	return l
}

// Validate reports a limit that cannot work, as it is (a zero where zero
// cannot work is an error: DefaultLimits has the defaults), each as a
// *ConfigError naming the field (joined).
func (l Limits) Validate() error {
	var errs ConfigErrors
	bad := errs.Add
	if !(l.MaxDuration > 0) || math.IsInf(l.MaxDuration, 0) {
		bad("MaxDuration", "%v: want a finite number > 0", l.MaxDuration)
	}
	if l.MaxFieldBytes < 64 {
		bad("MaxFieldBytes", "%d: want >= 64", l.MaxFieldBytes)
	}
	if l.MaxFields < 12 {
		bad("MaxFields", "%d: want >= 12 (the CONTRACT has 12)", l.MaxFields)
	}
	if l.MaxClockSkew < 0 {
		bad("MaxClockSkew", "%v: want >= 0", l.MaxClockSkew)
	}
	return errors.Join(errs...)
}

// Validator turns the raw fields of a stream entry into an Activity, or an
// error for which errors.Is(err, ErrInvalid) holds. It is safe for
// concurrent use.
type Validator struct {
	limits Limits
	loc    *time.Location
	now    func() time.Time
}

// NewValidator returns a validator with the given limits (zero fields take
// their defaults), time zone for RFC 3339 session dates, and clock.
func NewValidator(l Limits, loc *time.Location, now func() time.Time) *Validator {
	if loc == nil {
		loc = time.UTC
	}
	if now == nil {
		now = time.Now
	}
	return &Validator{limits: l.WithDefaults(), loc: loc, now: now}
}

// Parse validates the fields of entry id, given as alternating names and
// values as Redis returns them, as the main server's Jackson writes them
// (timestamp "1.7570520005E9", duration "12.0", isEnd "true"). An empty
// value and the literal "null" (a Java null) are the same as a missing
// field. A field given twice, an unknown field (with
// Limits.RejectUnknownFields), an oversized or non-UTF-8 value, and every
// CONTRACT violation are rejected with an *InvalidError.
func (v *Validator) Parse(id string, fields []string) (Activity, error) {
	a := Activity{EntryID: id}
	if len(fields)%2 != 0 {
		return a, invalid("malformed", "", "odd number of field names and values")
	}
	if len(fields)/2 > v.limits.MaxFields {
		return a, invalid("too_many_fields", "", "%d fields, at most %d accepted", len(fields)/2, v.limits.MaxFields)
	}
	var seen [12]bool
	var raw [12]string
	for i := 0; i < len(fields); i += 2 {
		name, val := fields[i], fields[i+1]
		idx := fieldIndex(name)
		if len(val) > v.limits.MaxFieldBytes {
			return a, invalid("oversized_field", truncate(name, 40), "%d bytes, at most %d accepted", len(val), v.limits.MaxFieldBytes)
		}
		if idx < 0 {
			if v.limits.RejectUnknownFields {
				return a, invalid("unknown_field", truncate(name, 40), "not a field of the activity contract")
			}
			continue
		}
		if seen[idx] {
			return a, invalid("duplicate_field", name, "given more than once")
		}
		if !utf8.ValidString(val) {
			return a, invalid("invalid_utf8", name, "not valid UTF-8")
		}
		if val == "null" {
			val = "" // a Java null: absent
		}
		seen[idx], raw[idx] = val != "", val
	}
	get := func(i int) (string, bool) { return raw[i], seen[i] }

	var err error
	a.UserID = strings.TrimSpace(raw[0])
	if a.UserID == "" {
		return a, invalid("missing_user", FieldUserID, "missing or empty")
	}
	if hasControl(a.UserID) {
		return a, invalid("control_characters", FieldUserID, "contains control characters")
	}
	a.App, a.Title, a.URL = strings.TrimSpace(raw[1]), raw[2], strings.TrimSpace(raw[3])
	if a.App == "" && a.URL == "" {
		return a, invalid("missing_app", FieldApp, "empty, and no url given")
	}

	s, ok := get(4)
	if !ok || strings.TrimSpace(s) == "" {
		return a, invalid("bad_duration", FieldDuration, "missing")
	}
	if padded(s) {
		return a, invalid("padded_number", FieldDuration, "%q: spaces around the number", truncate(s, 40))
	}
	if a.Duration, err = parseFloat(s); err != nil {
		return a, invalid("bad_duration", FieldDuration, "%q is not a number", truncate(s, 40))
	}
	if math.IsNaN(a.Duration) || math.IsInf(a.Duration, 0) || a.Duration < 0 {
		return a, invalid("bad_duration", FieldDuration, "%q: want a finite number >= 0", truncate(s, 40))
	}
	if a.Duration > v.limits.MaxDuration {
		return a, invalid("bad_duration", FieldDuration, "%q: above the cap of %g seconds", truncate(s, 40), v.limits.MaxDuration)
	}

	s, ok = get(5)
	if !ok || strings.TrimSpace(s) == "" {
		return a, invalid("bad_timestamp", FieldTimestamp, "missing")
	}
	if padded(s) {
		return a, invalid("padded_number", FieldTimestamp, "%q: spaces around the number", truncate(s, 40))
	}
	if a.Timestamp, err = parseFloat(s); err != nil || math.IsNaN(a.Timestamp) || math.IsInf(a.Timestamp, 0) {
		return a, invalid("bad_timestamp", FieldTimestamp, "%q is not a number", truncate(s, 40))
	}
	if a.Timestamp < v.limits.MinTimestamp {
		return a, invalid("bad_timestamp", FieldTimestamp, "%q: before %s", truncate(s, 40), time.Unix(int64(v.limits.MinTimestamp), 0).UTC().Format(time.DateOnly))
	}
	if maxTS := float64(v.now().Add(v.limits.MaxClockSkew).Unix()); a.Timestamp > maxTS {
		return a, invalid("bad_timestamp", FieldTimestamp, "%q: more than %v in the future (milliseconds instead of seconds?)", truncate(s, 40), v.limits.MaxClockSkew)
	}

	for _, i := range []int{6, 8} {
		if padded(raw[i]) {
			return a, invalid("padded_number", fieldNames[i], "%q: spaces around the number", truncate(raw[i], 40))
		}
	}
	if a.Session, err = parseInt(raw[6], seen[6]); err != nil {
		return a, invalid("bad_int", FieldSession, "%v", err)
	}
	if a.SessionMinutes, err = parseInt(raw[8], seen[8]); err != nil {
		return a, invalid("bad_int", FieldSessionMinutes, "%v", err)
	}
	if a.Session < 0 || a.SessionMinutes < 0 {
		return a, invalid("bad_int", FieldSession, "session and sessionMinutes must be >= 0")
	}
	if a.SessionDate, err = v.parseDate(raw[7]); err != nil {
		return a, invalid("bad_date", FieldSessionDate, "%v", err)
	}
	if first, last := v.dateRange(); a.SessionDate < first || a.SessionDate > last {
		return a, invalid("date_out_of_range", FieldSessionDate, "%q: want a date from %s to %s", truncate(raw[7], 40), first, last)
	}
	if a.IsEnd, err = parseBool(raw[9], seen[9]); err != nil {
		return a, invalid("bad_bool", FieldIsEnd, "%v", err)
	}
	if s := strings.TrimSpace(raw[10]); s != "" {
		if a.CategorizedDataID, err = ParseObjectID(s); err != nil {
			return a, invalid("bad_object_id", FieldCategorizedDataID, "%v", err)
		}
	}
	if s := strings.TrimSpace(raw[11]); s != "" {
		if a.UsageLogID, err = ParseObjectID(s); err != nil {
			return a, invalid("bad_object_id", FieldPomodoroUsageLogID, "%v", err)
		}
	}
	return a, nil
}

// fieldNames are the CONTRACT's field names by slot (see fieldIndex).
var fieldNames = [12]string{FieldUserID, FieldApp, FieldTitle, FieldURL, FieldDuration, FieldTimestamp,
	FieldSession, FieldSessionDate, FieldSessionMinutes, FieldIsEnd, FieldCategorizedDataID, FieldPomodoroUsageLogID}

// padded reports whether s has white space around it: Jackson writes
// numbers without (" 7 " is not the main server's).
func padded(s string) bool { return s != strings.TrimSpace(s) }

// dateRange is the first and last session date accepted, "YYYY-MM-DD":
// the same era as a timestamp, from the day of Limits.MinTimestamp (UTC,
// 2000-01-01 by default) to the day after now + Limits.MaxClockSkew (UTC;
// the extra day for the time zones a session date may be written in).
// 9999-12-31 and 0000-01-01 are no session's day.
func (v *Validator) dateRange() (first, last string) {
	first = time.Unix(int64(v.limits.MinTimestamp), 0).UTC().Format(time.DateOnly)
	last = v.now().Add(v.limits.MaxClockSkew + 24*time.Hour).UTC().Format(time.DateOnly)
	return first, last
}

// IsField reports whether name is a field of the activity CONTRACT.
func IsField(name string) bool { return fieldIndex(name) >= 0 }

// fieldIndex maps a CONTRACT field name to its slot; -1 for unknown names.
func fieldIndex(name string) int {
	switch name {
	case FieldUserID:
		return 0
	case FieldApp:
		return 1
	case FieldTitle:
		return 2
	case FieldURL:
		return 3
	case FieldDuration:
		return 4
	case FieldTimestamp:
		return 5
	case FieldSession:
		return 6
	case FieldSessionDate:
		return 7
	case FieldSessionMinutes:
		return 8
	case FieldIsEnd:
		return 9
	case FieldCategorizedDataID:
		return 10
	case FieldPomodoroUsageLogID:
		return 11
	}
	return -1
}

// parseFloat parses a decimal number as Java writes a double ("12.0",
// "1.7570520005E9", "-3", ".5"): no hexadecimal, no digit separators, no
// words (Go's ParseFloat alone would take "0x1p4", "1_000" and "Inf").
func parseFloat(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if !isDecimal(s) {
		return 0, fmt.Errorf("%q is not a decimal number", truncate(s, 40))
	}
	return strconv.ParseFloat(s, 64)
}

// isDecimal reports whether s is [+-]digits[.digits][(e|E)[+-]digits],
// with at least one digit in the mantissa.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

func parseInt(s string, present bool) (int, error) {
	s = strings.TrimSpace(s)
	if !present || s == "" {
		return 0, errors.New("missing")
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		// Jackson writes an Integer as "3"; a whole double ("3.0") is
		// taken too.
		f, ferr := parseFloat(s)
		if ferr != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
			return 0, fmt.Errorf("%q is not an integer", truncate(s, 40))
		}
		n = int64(f)
	}
	return int(n), nil
}

// parseBool parses a boolean as Jackson writes it: "true" or "false",
// nothing else ("True", "1", "yes", " true" are not the main server's).
// Absent is false.
func parseBool(s string, present bool) (bool, error) {
	if !present || s == "" {
		return false, nil
	}
	switch s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (want true or false)", truncate(s, 40))
}

func (v *Validator) parseDate(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("missing")
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Format(time.DateOnly), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.In(v.loc).Format(time.DateOnly), nil
	}
	return "", fmt.Errorf("%q: want YYYY-MM-DD or RFC 3339", truncate(s, 40))
}

// hasControl reports whether s holds a control character (C0, DEL, C1 such
// as U+0085), a format character (bidirectional overrides such as U+202E,
// zero-width characters) or a line or paragraph separator.
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return true
		}
	}
	return false
}

// Remains is what can still be read from an entry Parse rejected: the
// activity it names, and the session it ended, so that a rejected last
// activity still ends its session (the main server scores a session only
// when its session-end event arrives).
type Remains struct {
	// UsageLogID is the pomodoroUsageLogId the entry names, when valid.
	UsageLogID ObjectID
	// EndsSession is set when isEnd is true and UserID, Session and
	// SessionDate are valid.
	EndsSession bool
	UserID      string
	Session     int
	SessionDate string
}

// Remains reads what it can of a rejected entry's fields (as given to
// Parse); each field is judged alone, and a field given twice is not read.
func (v *Validator) Remains(fields []string) Remains {
	var r Remains
	var seen [12]int
	var raw [12]string
	for i := 0; i+1 < len(fields); i += 2 {
		if idx := fieldIndex(fields[i]); idx >= 0 {
			seen[idx]++
			raw[idx] = fields[i+1]
		}
	}
	get := func(i int) (string, bool) {
		s := strings.TrimSpace(raw[i])
		ok := seen[i] == 1 && s != "" && s != "null" && len(s) <= v.limits.MaxFieldBytes && utf8.ValidString(s)
		return s, ok
	}
	if s, ok := get(11); ok {
		if id, err := ParseObjectID(s); err == nil {
			r.UsageLogID = id
		}
	}
	end, ok := get(9)
	if isEnd, err := parseBool(end, ok); !ok || err != nil || !isEnd {
		return r
	}
	user, ok := get(0)
	if !ok || hasControl(user) {
		return r
	}
	s, ok := get(6)
	session, err := parseInt(s, ok)
	if err != nil || session < 0 {
		return r
	}
	s, _ = get(7)
	date, err := v.parseDate(s)
	if err != nil {
		return r
	}
	r.EndsSession, r.UserID, r.Session, r.SessionDate = true, user, session, date
	return r
}

package pomocore

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
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
	// AllowUnknownFields accepts (and ignores) fields the CONTRACT does not
	// name; by default such an entry is rejected, since the producers' fields
	// are exactly the CONTRACT's.
	AllowUnknownFields bool
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

func (l Limits) withDefaults() Limits {
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

// Validate reports a limit that cannot work.
func (l Limits) Validate() error {
	l = l.withDefaults()
	var errs []error
	if !(l.MaxDuration > 0) || math.IsInf(l.MaxDuration, 0) {
		errs = append(errs, fmt.Errorf("max duration %v: want a finite number > 0", l.MaxDuration))
	}
	if l.MaxFieldBytes < 64 {
		errs = append(errs, fmt.Errorf("max field bytes %d: want >= 64", l.MaxFieldBytes))
	}
	if l.MaxFields < 12 {
		errs = append(errs, fmt.Errorf("max fields %d: want >= 12 (the CONTRACT has 12)", l.MaxFields))
	}
	if l.MaxClockSkew < 0 {
		errs = append(errs, fmt.Errorf("max clock skew %v: want >= 0", l.MaxClockSkew))
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
	return &Validator{limits: l.withDefaults(), loc: loc, now: now}
}

// Parse validates the fields of entry id, given as alternating names and
// values as Redis returns them. A field given twice, an unknown field (unless
// Limits.AllowUnknownFields), an oversized or non-UTF-8 value, and every
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
			if !v.limits.AllowUnknownFields {
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
		seen[idx], raw[idx] = true, val
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
	if !ok {
		return a, invalid("bad_duration", FieldDuration, "missing")
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
	if a.Timestamp, err = parseFloat(s); err != nil || math.IsNaN(a.Timestamp) || math.IsInf(a.Timestamp, 0) {
		return a, invalid("bad_timestamp", FieldTimestamp, "%q is not a number", truncate(s, 40))
	}
	if a.Timestamp < v.limits.MinTimestamp {
		return a, invalid("bad_timestamp", FieldTimestamp, "%q: before %s", truncate(s, 40), time.Unix(int64(v.limits.MinTimestamp), 0).UTC().Format(time.DateOnly))
	}
	if maxTS := float64(v.now().Add(v.limits.MaxClockSkew).Unix()); a.Timestamp > maxTS {
		return a, invalid("bad_timestamp", FieldTimestamp, "%q: more than %v in the future (milliseconds instead of seconds?)", truncate(s, 40), v.limits.MaxClockSkew)
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

func parseFloat(s string) (float64, error) {
	return strconv.ParseFloat(strings.TrimSpace(s), 64)
}

func parseInt(s string, present bool) (int, error) {
	s = strings.TrimSpace(s)
	if !present || s == "" {
		return 0, errors.New("missing")
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", truncate(s, 40))
	}
	return int(n), nil
}

func parseBool(s string, present bool) (bool, error) {
	s = strings.TrimSpace(s)
	if !present || s == "" {
		return false, nil
	}
	switch strings.ToLower(s) {
	case "true", "1", "t", "yes":
		return true, nil
	case "false", "0", "f", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", truncate(s, 40))
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

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

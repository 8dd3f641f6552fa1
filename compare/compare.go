// Package compare is `pomocore compare`: it compares the leaderboards a
// shadow run of pomocore wrote (under its own key prefix) with the live
// ones the deployed service writes, for a range of days, and explains the
// differences it can attribute by replaying the input stream: activities
// the deployed service counted twice (a producer retry under a new stream
// id, or an entry delivered more than once), activities its substring
// classifier put in another category, and malformed entries pomocore
// refused that it counted with zero values. The comparison (Compare) is
// pure; Load reads its input through small read-only ports.
package compare

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/doctor"
)

// The kinds of explanation.
const (
	// DoubleCount is an activity the deployed service counted again: the
	// same pomodoroUsageLogId under a second stream entry (a producer
	// retry), or an entry delivered to its group more than once.
	DoubleCount = "double_count"
	// SubstringMatch is an activity the deployed classifier put in another
	// category by a domain pattern found as a substring of the URL.
	SubstringMatch = "substring_match"
	// AppMatch is an activity the deployed classifier put in another
	// category by its app name, which it tried before the URL.
	AppMatch = "app_match"
	// Malformed is an entry pomocore refused (dead-lettered) that the
	// deployed service counted with zero values for what it could not
	// parse.
	Malformed = "malformed"
	// Unmatched is an activity no pattern of the deployed classifier
	// matched (it matched app names exactly, so "IntelliJ IDEA 2025.2" is
	// unknown to it) that pomocore's patterns match; attributed only when
	// Config.AssumeOldUnknown names where the deployed service put those.
	Unmatched = "unmatched"
)

// Config is what to compare. The zero value of a field means its default.
type Config struct {
	// LivePrefix is the deployed leaderboards' key prefix (default
	// "leaderboard").
	LivePrefix string
	// ShadowPrefix is the shadow run's key prefix (POMOCORE_KEY_PREFIX of
	// the shadow); required, and not LivePrefix.
	ShadowPrefix string
	// From and To are the first and last day compared, "YYYY-MM-DD" in
	// Location. Weeks and months are compared when wholly inside.
	From, To string
	// Deployment names the input stream and the deployed service's group
	// on it (default pattern_match_stream, pattern_match_group), which
	// Load reads, the service time zone and the categories compared.
	pomocore.Deployment
	// Top is how many of the largest per-user differences are listed per
	// key (default 10).
	Top int
	// Tolerance is the difference in seconds counted as agreement
	// (default 0.001).
	Tolerance float64
	// Limits are the validator's, as the shadow ran (zero: defaults).
	Limits pomocore.Limits
	// Builtin is the pattern set the shadow layered under category_pattern
	// (POMOCORE_BUILTIN_PATTERNS=fallback: classify.DefaultPatterns()),
	// replayed as it did (classify.Layer); nil: none.
	Builtin []pomocore.CategoryPattern
	// DeadStream is the shadow's dead-letter stream (default
	// "<Stream>:shadow-dead", the shadow's default), which Load reads.
	DeadStream string
	// MaxEntries bounds the input and dead-letter entries Load reads
	// (default 500,000).
	MaxEntries int
	// DedupWindow is the shadow's POMOCORE_DEDUP_WINDOW (nil: the default,
	// 2h; 0: dedup was off): a repeated pomodoroUsageLogId counted once by
	// pomocore only when its entry came within the window of the first.
	DedupWindow *time.Duration
	// AssumeOldUnknown, when set, is the category the deployed service is
	// taken to have counted an activity its patterns did not match (its
	// LLM decided those; a stand-in without an LLM counts them as
	// Uncategorized). Empty: such activities are not attributed, except a
	// malformed entry's, taken to be the taxonomy's default.
	AssumeOldUnknown string
	// Now is the validator's clock (default time.Now).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	window := 2 * time.Hour
	c.LivePrefix = cmp.Or(c.LivePrefix, pomocore.DefaultKeyPrefix)
	c.Deployment = c.Deployment.WithDefaults()
	c.Top = cmp.Or(c.Top, 10)
	c.Tolerance = cmp.Or(c.Tolerance, 0.001)
	c.DeadStream = cmp.Or(c.DeadStream, c.Stream+":shadow-dead")
	c.MaxEntries = cmp.Or(c.MaxEntries, 500000)
	c.DedupWindow = cmp.Or(c.DedupWindow, &window)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports settings that cannot work, each as a
// *pomocore.ConfigError naming the field (joined).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs pomocore.ConfigErrors
	bad := errs.Add
	if c.ShadowPrefix == "" {
		bad("ShadowPrefix", "empty")
	} else if c.ShadowPrefix == c.LivePrefix {
		bad("ShadowPrefix", "%q: the same as the live prefix", c.ShadowPrefix)
	}
	from, err1 := time.Parse(time.DateOnly, c.From)
	to, err2 := time.Parse(time.DateOnly, c.To)
	switch {
	case err1 != nil:
		bad("From", "%q: want YYYY-MM-DD", c.From)
	case err2 != nil:
		bad("To", "%q: want YYYY-MM-DD", c.To)
	case to.Before(from):
		bad("To", "%s is before from %s", c.To, c.From)
	case to.Sub(from) > 400*24*time.Hour:
		bad("To", "%s..%s: at most 400 days", c.From, c.To)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"Top", float64(c.Top)}, {"Tolerance", c.Tolerance}, {"MaxEntries", float64(c.MaxEntries)}} {
		if f.v < 0 {
			bad(f.name, "%v: want >= 0", f.v)
		}
	}
	return errors.Join(errs...)
}

// Periods returns the periods compared: every day from From to To, then
// the weeks and the months wholly inside.
func (c Config) Periods() ([]string, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	c = c.withDefaults()
	from, _ := time.ParseInLocation(time.DateOnly, c.From, c.Location)
	to, _ := time.ParseInLocation(time.DateOnly, c.To, c.Location)
	var days []string
	inWeek, inMonth := map[string]int{}, map[string]int{}
	var weeks, months []string
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		p := pomocore.PeriodsAt(d, c.Location)
		days = append(days, p.Day)
		if inWeek[p.Week] == 0 {
			weeks = append(weeks, p.Week)
		}
		if inMonth[p.Month] == 0 {
			months = append(months, p.Month)
		}
		inWeek[p.Week]++
		inMonth[p.Month]++
	}
	out := days
	for _, w := range weeks {
		if inWeek[w] == 7 {
			out = append(out, w)
		}
	}
	for _, m := range months {
		if first := monthStart(m, c.Location); !first.IsZero() && inMonth[m] == first.AddDate(0, 1, -1).Day() {
			out = append(out, m)
		}
	}
	return out, nil
}

// monthStart parses "2026-M1" (the month is not zero-padded).
func monthStart(m string, loc *time.Location) time.Time {
	y, mo, ok := strings.Cut(m, "-M")
	if !ok {
		return time.Time{}
	}
	yy, err1 := strconv.Atoi(y)
	mm, err2 := strconv.Atoi(mo)
	if err1 != nil || err2 != nil {
		return time.Time{}
	}
	return time.Date(yy, time.Month(mm), 1, 0, 0, 0, 0, loc)
}

// Keys returns the compared key suffixes "<category>:<period>": every
// category of the taxonomy and the work aggregate, for every period.
func (c Config) Keys() ([]string, error) {
	periods, err := c.Periods()
	if err != nil {
		return nil, err
	}
	c = c.withDefaults()
	cats := append(slices.Clone(c.Taxonomy.Categories), c.Taxonomy.WorkAggregate)
	out := make([]string, 0, len(cats)*len(periods))
	for _, p := range periods {
		for _, cat := range cats {
			out = append(out, cat+":"+p)
		}
	}
	return out, nil
}

// Input is what Compare compares and replays.
type Input struct {
	// Live and Shadow are the leaderboards by key suffix
	// ("<category>:<period>"): member to seconds.
	Live, Shadow map[string]map[string]float64
	// Entries are the input stream's entries around the range, oldest
	// first (none: nothing is attributed but by the boards).
	Entries []doctor.Entry
	// Deliveries is the delivery count of entries still pending in the
	// deployed group (XPENDING): each delivery past the first the
	// deployed service counted again.
	Deliveries map[string]int64
	// Dead are the shadow's dead letters ("dead.id", "dead.reason",
	// "dead.kind", then the entry's fields).
	Dead []doctor.Entry
	// Patterns are the category_pattern documents in load order, for
	// replaying both classifiers.
	Patterns []pomocore.CategoryPattern
}

// Explanation is an attributed part of a member's difference on one key.
type Explanation struct {
	Kind string `json:"kind"`
	// Seconds is the part of live minus shadow it explains.
	Seconds float64 `json:"seconds"`
	EntryID string  `json:"entryId"`
	Detail  string  `json:"detail"`
}

// MemberDiff is one member's scores on one key.
type MemberDiff struct {
	Member string  `json:"member"`
	Live   float64 `json:"live"`
	Shadow float64 `json:"shadow"`
	// Diff is Live minus Shadow.
	Diff float64 `json:"diff"`
	// Unexplained is Diff minus the explanations' seconds.
	Unexplained  float64       `json:"unexplained"`
	OnlyLive     bool          `json:"onlyLive,omitempty"`
	OnlyShadow   bool          `json:"onlyShadow,omitempty"`
	Explanations []Explanation `json:"explanations,omitempty"`
}

// KeyReport compares one key.
type KeyReport struct {
	// Key is "<category>:<period>"; the live key is LivePrefix:Key, the
	// shadow key ShadowPrefix:Key.
	Key           string   `json:"key"`
	LiveSeconds   float64  `json:"liveSeconds"`
	ShadowSeconds float64  `json:"shadowSeconds"`
	AgreeSeconds  float64  `json:"agreeSeconds"`
	LiveMembers   int      `json:"liveMembers"`
	ShadowMembers int      `json:"shadowMembers"`
	OnlyLive      []string `json:"onlyLive"`
	OnlyShadow    []string `json:"onlyShadow"`
	// Differing counts the members whose scores differ or who are on one
	// side only; Differences lists the largest (by |Diff|, at most Top).
	Differing   int          `json:"differing"`
	Differences []MemberDiff `json:"differences"`
}

// Summary sums the comparison over every compared key.
type Summary struct {
	Keys          int     `json:"keys"`
	KeysDiffering int     `json:"keysDiffering"`
	LiveSeconds   float64 `json:"liveSeconds"`
	ShadowSeconds float64 `json:"shadowSeconds"`
	// AgreeSeconds sums min(live, shadow) per member and key; AgreeShare
	// is it over the sum of max(live, shadow) (1: identical).
	AgreeSeconds float64 `json:"agreeSeconds"`
	AgreeShare   float64 `json:"agreeShare"`
	// Explained sums |seconds| of the explanations by kind.
	Explained map[string]float64 `json:"explained"`
	// UnexplainedSeconds sums |Unexplained| of every member; Unexplained
	// counts the (key, member) pairs with some.
	UnexplainedSeconds float64 `json:"unexplainedSeconds"`
	Unexplained        int     `json:"unexplained"`
}

// Report is the comparison.
type Report struct {
	From         string `json:"from"`
	To           string `json:"to"`
	LivePrefix   string `json:"livePrefix"`
	ShadowPrefix string `json:"shadowPrefix"`
	// Top is how many differences each key lists at most.
	Top     int         `json:"top"`
	Summary Summary     `json:"summary"`
	Keys    []KeyReport `json:"keys"`
}

// ledger holds the explanations by key suffix and member.
type ledger map[string]map[string][]Explanation

func (l ledger) add(keys []string, member string, e Explanation) {
	for _, k := range keys {
		if l[k] == nil {
			l[k] = map[string][]Explanation{}
		}
		l[k][member] = append(l[k][member], e)
	}
}

// replay explains what it can of live minus shadow from the entries.
type replay struct {
	cfg   Config
	ours  *classify.Matcher
	old   *oldClassifier
	v     *pomocore.Validator
	l     ledger
	first map[string]string // pomodoroUsageLogId -> first entry id
	// open are the activities the deployed classifier matched and
	// pomocore's patterns did not: where the shadow counted them (its
	// default or its LLM) is read off its boards (resolve).
	open []openMatch
}

// openMatch is an activity the deployed classifier put in category old by
// a pattern, where pomocore's patterns are silent.
type openMatch struct {
	user, old, kind, what, entryID, subject string
	seconds                                 float64
	at                                      time.Time
}

// withinWindow reports whether entry id b came within the dedup window of
// entry id a.
func (r *replay) withinWindow(a, b string) bool {
	window := *r.cfg.DedupWindow
	if window <= 0 {
		return false
	}
	am, _, errA := pomocore.ParseEntryID(a)
	bm, _, errB := pomocore.ParseEntryID(b)
	return errA == nil && errB == nil && bm >= am && time.Duration(bm-am)*time.Millisecond <= window
}

// keys returns the suffixes an activity of category at t adds to.
func (r *replay) keys(category string, t time.Time) []string {
	per := pomocore.PeriodsAt(t, r.cfg.Location).All()
	out := make([]string, 0, 6)
	for _, p := range per {
		out = append(out, category+":"+p)
	}
	if r.cfg.Taxonomy.IsWork(category) {
		for _, p := range per {
			out = append(out, r.cfg.Taxonomy.WorkAggregate+":"+p)
		}
	}
	return out
}

func field(fields []string, name string) string {
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i] == name {
			return fields[i+1]
		}
	}
	return ""
}

// categories returns the deployed and pomocore's category of an activity;
// "" where it cannot be known (an LLM decided).
func (r *replay) categories(app, url, title string) (old, how, pattern, ours string) {
	old, how, pattern = r.old.classify(app, url)
	if r.ours != nil {
		if c := r.ours.Classify(app, url, title); c.Source != pomocore.SourceDefault {
			ours = c.Category
		}
	}
	return old, how, pattern, ours
}

func (r *replay) entry(e doctor.Entry, deliveries int64) {
	a, err := r.v.Parse(e.ID, e.Fields)
	if err != nil {
		r.malformed(e, err)
		return
	}
	old, how, pattern, ours := r.categories(a.App, a.URL, a.Title)
	if old == "" && r.cfg.AssumeOldUnknown != "" {
		old, how = r.cfg.AssumeOldUnknown, "none"
	}
	counted := old // the category the deployed service counted the copies in
	if counted == "" {
		counted = ours
	}
	if id := a.UsageLogID; !id.IsZero() {
		if first, ok := r.first[id.Hex()]; ok && r.withinWindow(first, e.ID) {
			if counted != "" {
				r.l.add(r.keys(counted, a.Time()), a.UserID, Explanation{Kind: DoubleCount, Seconds: a.Duration, EntryID: e.ID,
					Detail: fmt.Sprintf("pomodoroUsageLogId %s again (first in %s): counted again by the deployed service, once by pomocore", id.Hex(), first)})
			}
			return
		}
		if _, ok := r.first[id.Hex()]; !ok || *r.cfg.DedupWindow > 0 {
			r.first[id.Hex()] = e.ID
		}
	}
	if deliveries > 1 && counted != "" {
		r.l.add(r.keys(counted, a.Time()), a.UserID, Explanation{Kind: DoubleCount, Seconds: float64(deliveries-1) * a.Duration, EntryID: e.ID,
			Detail: fmt.Sprintf("delivered %d times to the deployed group", deliveries)})
	}
	if old == "" || old == ours {
		return
	}
	kind, what := SubstringMatch, fmt.Sprintf("domain pattern %q found in the URL", pattern)
	switch how {
	case "app":
		kind, what = AppMatch, fmt.Sprintf("app pattern %q, tried before the URL", pattern)
	case "none":
		kind, what = Unmatched, "no pattern matched; assumed"
	}
	if ours == "" {
		if how != "none" {
			r.open = append(r.open, openMatch{user: a.UserID, old: old, kind: kind, what: what, entryID: e.ID,
				subject: sanitize(a.App, a.URL), seconds: a.Duration, at: a.Time()})
		}
		return
	}
	detail := fmt.Sprintf("%s: the deployed classifier said %s (%s), pomocore says %s", sanitize(a.App, a.URL), old, what, ours)
	r.l.add(r.keys(old, a.Time()), a.UserID, Explanation{Kind: kind, Seconds: a.Duration, EntryID: e.ID, Detail: detail})
	r.l.add(r.keys(ours, a.Time()), a.UserID, Explanation{Kind: kind, Seconds: -a.Duration, EntryID: e.ID, Detail: detail})
}

// resolve attributes the open matches: the deployed service counted each
// in its category; the shadow, whose patterns were silent, counted it
// where its default or its LLM put it, which only its boards tell. That
// category is the first (the taxonomy's default, then the others in
// order) whose board for the member, on the activity's day (or week, or
// month, when the day is not compared), holds at least the activity's
// seconds more on the shadow's side than the explanations so far
// account for. An activity no category fits (the shadow counted it as
// the deployed service did, or elsewhere than the boards show) is left
// alone.
func (r *replay) resolve(live, shadow map[string]map[string]float64) {
	tax := r.cfg.Taxonomy
	cands := append([]string{tax.Default}, slices.DeleteFunc(slices.Clone(tax.Categories), func(c string) bool { return c == tax.Default })...)
	for _, m := range r.open {
		var period string
		for _, p := range pomocore.PeriodsAt(m.at, r.cfg.Location).All() {
			if _, ok := live[m.old+":"+p]; ok {
				period = p
				break
			}
			if _, ok := shadow[m.old+":"+p]; ok {
				period = p
				break
			}
		}
		if period == "" {
			continue
		}
		for _, c := range cands {
			if c == m.old {
				continue
			}
			k := c + ":" + period
			rest := live[k][m.user] - shadow[k][m.user]
			for _, e := range r.l[k][m.user] {
				rest -= e.Seconds
			}
			if rest > -m.seconds+r.cfg.Tolerance {
				continue
			}
			detail := fmt.Sprintf("%s: the deployed classifier said %s (%s); pomocore's patterns are silent, and the shadow counted it as %s (its default or its LLM; read off the shadow's boards)",
				m.subject, m.old, m.what, c)
			r.l.add(r.keys(m.old, m.at), m.user, Explanation{Kind: m.kind, Seconds: m.seconds, EntryID: m.entryID, Detail: detail})
			r.l.add(r.keys(c, m.at), m.user, Explanation{Kind: m.kind, Seconds: -m.seconds, EntryID: m.entryID, Detail: detail})
			break
		}
	}
}

// malformed records what the deployed service did with an entry pomocore
// refused: it parsed what it could, zero for the rest, and counted it.
func (r *replay) malformed(e doctor.Entry, reason error) {
	user := field(e.Fields, pomocore.FieldUserID)
	dur, _ := strconv.ParseFloat(field(e.Fields, pomocore.FieldDuration), 64)
	ts, _ := strconv.ParseFloat(field(e.Fields, pomocore.FieldTimestamp), 64)
	if math.IsNaN(dur) || math.IsNaN(ts) || math.IsInf(ts, 0) {
		return
	}
	cat, _, _ := r.old.classify(field(e.Fields, pomocore.FieldApp), field(e.Fields, pomocore.FieldURL))
	assumed := ""
	if cat == "" {
		cat, assumed = r.cfg.AssumeOldUnknown, " (category assumed: no pattern matched)"
		if cat == "" {
			cat = r.cfg.Taxonomy.Default
		}
	}
	r.l.add(r.keys(cat, time.Unix(int64(ts), 0)), user, Explanation{Kind: Malformed, Seconds: dur, EntryID: e.ID,
		Detail: fmt.Sprintf("refused by pomocore (%s); counted by the deployed service as %g seconds of %s for user %q%s",
			pomocore.SanitizeText(reason.Error(), 80), dur, cat, pomocore.SanitizeText(user, 40), assumed)})
}

func sanitize(app, url string) string {
	s := pomocore.SanitizeText(app, 40)
	if url != "" {
		s += " " + pomocore.SanitizeText(url, 80)
	}
	return s
}

// deadEntries returns the dead letters as the entries they were.
func deadEntries(dead []doctor.Entry) []doctor.Entry {
	out := make([]doctor.Entry, 0, len(dead))
	for _, d := range dead {
		e := doctor.Entry{ID: d.ID}
		for i := 0; i+1 < len(d.Fields); i += 2 {
			switch d.Fields[i] {
			case "dead.id":
				e.ID = d.Fields[i+1]
			case "dead.reason", "dead.kind":
			default:
				e.Fields = append(e.Fields, d.Fields[i], d.Fields[i+1])
			}
		}
		out = append(out, e)
	}
	return out
}

// Compare compares in.Live with in.Shadow over cfg's keys and attributes
// the differences it can.
func Compare(cfg Config, in Input) (Report, error) {
	keys, err := cfg.Keys()
	if err != nil {
		return Report{}, err
	}
	cfg = cfg.withDefaults()
	r := &replay{cfg: cfg, old: newOldClassifier(in.Patterns), l: ledger{}, first: map[string]string{},
		v: pomocore.NewValidator(cfg.Limits, cfg.Location, cfg.Now)}
	if len(in.Patterns) > 0 {
		if r.ours, err = classify.Build(in.Patterns, cfg.Taxonomy.Default); err != nil {
			return Report{}, fmt.Errorf("compare: category_pattern: %w", err)
		}
		if len(cfg.Builtin) > 0 {
			builtin, err := classify.Build(cfg.Builtin, cfg.Taxonomy.Default)
			if err != nil {
				return Report{}, fmt.Errorf("compare: built-in patterns: %w", err)
			}
			usable, _ := classify.Restrict(in.Patterns, cfg.Taxonomy)
			r.ours = classify.Layer(r.ours, builtin, usable)
		}
	}
	entries := slices.Clone(in.Entries)
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.ID] = true
	}
	for _, e := range deadEntries(in.Dead) {
		if !seen[e.ID] {
			entries = append(entries, e)
			seen[e.ID] = true
		}
	}
	slices.SortStableFunc(entries, func(a, b doctor.Entry) int { return compareIDs(a.ID, b.ID) })
	for _, e := range entries {
		r.entry(e, in.Deliveries[e.ID])
	}
	r.resolve(in.Live, in.Shadow)

	rep := Report{From: cfg.From, To: cfg.To, Top: cfg.Top, LivePrefix: cfg.LivePrefix, ShadowPrefix: cfg.ShadowPrefix, Keys: []KeyReport{},
		Summary: Summary{Explained: map[string]float64{}}}
	var maxSum float64
	for _, k := range keys {
		live, shadow, expl := in.Live[k], in.Shadow[k], r.l[k]
		if len(live) == 0 && len(shadow) == 0 {
			continue
		}
		kr := KeyReport{Key: k, LiveMembers: len(live), ShadowMembers: len(shadow), OnlyLive: []string{}, OnlyShadow: []string{}, Differences: []MemberDiff{}}
		members := map[string]bool{}
		for m := range live {
			members[m] = true
		}
		for m := range shadow {
			members[m] = true
		}
		var diffs []MemberDiff
		for _, m := range sortedKeys(members) {
			lv, inLive := live[m]
			sv, inShadow := shadow[m]
			kr.LiveSeconds += lv
			kr.ShadowSeconds += sv
			kr.AgreeSeconds += math.Min(lv, sv)
			maxSum += math.Max(lv, sv)
			if !inShadow {
				kr.OnlyLive = append(kr.OnlyLive, m)
			}
			if !inLive {
				kr.OnlyShadow = append(kr.OnlyShadow, m)
			}
			d := MemberDiff{Member: m, Live: lv, Shadow: sv, Diff: lv - sv, OnlyLive: !inShadow, OnlyShadow: !inLive, Explanations: expl[m]}
			if math.Abs(d.Diff) <= cfg.Tolerance && inLive && inShadow {
				continue
			}
			d.Unexplained = d.Diff
			for _, e := range d.Explanations {
				d.Unexplained -= e.Seconds
				rep.Summary.Explained[e.Kind] += math.Abs(e.Seconds)
			}
			if math.Abs(d.Unexplained) <= cfg.Tolerance {
				d.Unexplained = 0
			} else {
				rep.Summary.UnexplainedSeconds += math.Abs(d.Unexplained)
				rep.Summary.Unexplained++
			}
			diffs = append(diffs, d)
		}
		slices.SortStableFunc(diffs, func(a, b MemberDiff) int {
			if c := -cmp.Compare(math.Abs(a.Diff), math.Abs(b.Diff)); c != 0 {
				return c
			}
			return strings.Compare(a.Member, b.Member)
		})
		kr.Differing = len(diffs)
		kr.Differences = append(kr.Differences, diffs[:min(len(diffs), cfg.Top)]...)
		rep.Summary.Keys++
		if kr.Differing > 0 {
			rep.Summary.KeysDiffering++
		}
		rep.Summary.LiveSeconds += kr.LiveSeconds
		rep.Summary.ShadowSeconds += kr.ShadowSeconds
		rep.Summary.AgreeSeconds += kr.AgreeSeconds
		rep.Keys = append(rep.Keys, kr)
	}
	rep.Summary.AgreeShare = 1
	if maxSum > 0 {
		rep.Summary.AgreeShare = rep.Summary.AgreeSeconds / maxSum
	}
	return rep, nil
}

// compareIDs orders stream entry ids ("<ms>-<seq>"); unparsable ones
// first, by text.
func compareIDs(a, b string) int {
	am, as, errA := pomocore.ParseEntryID(a)
	bm, bs, errB := pomocore.ParseEntryID(b)
	switch {
	case errA != nil || errB != nil:
		return strings.Compare(a, b)
	case am != bm:
		return cmp.Compare(am, bm)
	}
	return cmp.Compare(as, bs)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// BoardReader reads one sorted set: member to score, empty when missing.
// Read-only; safe for concurrent use.
type BoardReader interface {
	Board(ctx context.Context, key string) (map[string]float64, error)
}

// EntryReader reads stream entries and delivery counts. Read-only: it
// never creates a group, claims or acknowledges. Safe for concurrent use.
type EntryReader interface {
	// Range returns up to count entries with ids from start to end
	// (inclusive), oldest first.
	Range(ctx context.Context, stream, start, end string, count int) ([]doctor.Entry, error)
	// Deliveries returns the delivery counts of up to limit entries
	// pending in group, by entry id.
	Deliveries(ctx context.Context, stream, group string, limit int) (map[string]int64, error)
}

// Sources are the readers Load uses; Entries and Patterns may be nil
// (then nothing is attributed).
type Sources struct {
	Boards   BoardReader
	Entries  EntryReader
	Patterns doctor.PatternSource
}

// Load reads the live and shadow leaderboards of cfg's keys, the input
// entries written from a day before From to a day after To, the deployed
// group's delivery counts, the shadow's dead letters from a day before
// From on, and the category patterns.
func Load(ctx context.Context, cfg Config, src Sources) (Input, error) {
	keys, err := cfg.Keys()
	if err != nil {
		return Input{}, err
	}
	cfg = cfg.withDefaults()
	in := Input{Live: map[string]map[string]float64{}, Shadow: map[string]map[string]float64{}}
	for _, k := range keys {
		if in.Live[k], err = src.Boards.Board(ctx, cfg.LivePrefix+":"+k); err != nil {
			return in, fmt.Errorf("compare: %w", err)
		}
		if in.Shadow[k], err = src.Boards.Board(ctx, cfg.ShadowPrefix+":"+k); err != nil {
			return in, fmt.Errorf("compare: %w", err)
		}
	}
	if src.Entries != nil {
		from, _ := time.ParseInLocation(time.DateOnly, cfg.From, cfg.Location)
		to, _ := time.ParseInLocation(time.DateOnly, cfg.To, cfg.Location)
		start := strconv.FormatInt(from.AddDate(0, 0, -1).UnixMilli(), 10)
		end := strconv.FormatInt(to.AddDate(0, 0, 2).UnixMilli(), 10)
		if in.Entries, err = src.Entries.Range(ctx, cfg.Stream, start, end, cfg.MaxEntries); err != nil {
			return in, fmt.Errorf("compare: %w", err)
		}
		if in.Deliveries, err = src.Entries.Deliveries(ctx, cfg.Stream, cfg.Group, cfg.MaxEntries); err != nil {
			return in, fmt.Errorf("compare: %w", err)
		}
		if in.Dead, err = src.Entries.Range(ctx, cfg.DeadStream, start, "+", cfg.MaxEntries); err != nil {
			return in, fmt.Errorf("compare: %w", err)
		}
	}
	if src.Patterns != nil {
		if in.Patterns, err = src.Patterns.LoadPatterns(ctx); err != nil {
			return in, fmt.Errorf("compare: %w", err)
		}
	}
	return in, nil
}

// Run is Load, then Compare.
func Run(ctx context.Context, cfg Config, src Sources) (Report, error) {
	in, err := Load(ctx, cfg, src)
	if err != nil {
		return Report{}, err
	}
	return Compare(cfg, in)
}

// WriteText writes the summary, then each differing key with its largest
// differences and their explanations.
func (r Report) WriteText(w io.Writer) error {
	s := r.Summary
	fmt.Fprintf(w, "compare %s..%s: live %s:* vs shadow %s:*\n", r.From, r.To, r.LivePrefix, r.ShadowPrefix)
	fmt.Fprintf(w, "keys: %d compared, %d differ\n", s.Keys, s.KeysDiffering)
	fmt.Fprintf(w, "seconds: live %.1f, shadow %.1f, agreeing %.1f (%.2f%%)\n", s.LiveSeconds, s.ShadowSeconds, s.AgreeSeconds, 100*s.AgreeShare)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range s.Explained {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(w, "explained by %s: %.1f seconds\n", k, s.Explained[k])
	}
	fmt.Fprintf(w, "unexplained: %.1f seconds over %d (key, member) pairs\n", s.UnexplainedSeconds, s.Unexplained)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range r.Keys {
		if k.Differing == 0 {
			continue
		}
		fmt.Fprintf(tw, "\n%s\tlive %.1f (%d)\tshadow %.1f (%d)\tonly live %d\tonly shadow %d\tdiffering %d\n", k.Key, k.LiveSeconds, k.LiveMembers,
			k.ShadowSeconds, k.ShadowMembers, len(k.OnlyLive), len(k.OnlyShadow), k.Differing)
		for _, d := range k.Differences {
			member := pomocore.SanitizeText(d.Member, 40)
			if member == "" {
				member = `""`
			}
			fmt.Fprintf(tw, "  %s\tlive %.1f\tshadow %.1f\tdiff %+.1f\tunexplained %+.1f\n", member, d.Live, d.Shadow, d.Diff, d.Unexplained)
			for _, e := range d.Explanations {
				fmt.Fprintf(tw, "    %s\t%+.1f\t%s\t%s\n", e.Kind, e.Seconds, e.EntryID, e.Detail)
			}
		}
		if more := k.Differing - len(k.Differences); more > 0 {
			fmt.Fprintf(tw, "  ... and %d more differences (-top %d)\n", more, r.Top)
		}
	}
	return tw.Flush()
}

// Write writes the report as one indented JSON document (asJSON) or as
// text (WriteText).
func (r Report) Write(w io.Writer, asJSON bool) error { return doctor.WriteReport(w, r, asJSON) }

package doctor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// Verdict judges one line of a report.
type Verdict string

// The verdicts, from good to bad.
const (
	OK      Verdict = "ok"      // as pomocore expects
	Warn    Verdict = "warn"    // works, but look at it before cutting over
	Blocker Verdict = "blocker" // fix before cutting over
)

func (v Verdict) rank() int {
	switch v {
	case Blocker:
		return 2
	case Warn:
		return 1
	}
	return 0
}

// Line is one finding.
type Line struct {
	// Section is "input stream", "category_pattern", "categorized_data",
	// "pomodoro_usage_log", "leaderboards", "session stream",
	// "dead-letter stream" or "redis server".
	Section string  `json:"section"`
	Check   string  `json:"check"`
	Verdict Verdict `json:"verdict"`
	Detail  string  `json:"detail"`
}

// Report is what Run found: a line per check and the facts behind them.
type Report struct {
	// Verdict is the worst verdict of the lines.
	Verdict Verdict         `json:"verdict"`
	Counts  map[Verdict]int `json:"counts"`
	Lines   []Line          `json:"lines"`
	Facts   Facts           `json:"facts"`
}

// Facts are the data the lines judge.
type Facts struct {
	InputStream   *StreamState `json:"inputStream,omitempty"`
	SessionStream *StreamState `json:"sessionStream,omitempty"`
	DeadStream    *StreamState `json:"deadStream,omitempty"`
	// SampleKinds counts the sampled input entries by validation outcome:
	// "activity", or the InvalidError kind, or "old_leaderboard_message".
	SampleKinds map[string]int `json:"sampleKinds,omitempty"`
	// Categories are the category_pattern documents' categories, in load
	// order.
	Categories []string `json:"categories,omitempty"`
	// Conflicts are the patterns two categories claim, resolved.
	Conflicts   []string                `json:"conflicts,omitempty"`
	Collections map[string]*Collections `json:"collections,omitempty"`
	// LeaderboardKeys counts the keys under the prefix by period kind
	// (daily, weekly, monthly, other) and the never-written ones
	// (sessionScore, sessionCount).
	LeaderboardKeys map[string]int `json:"leaderboardKeys,omitempty"`
	// BuiltinDisagreements are the patterns category_pattern and the
	// built-in set (Config.Builtin) put in different categories.
	BuiltinDisagreements []string `json:"builtinDisagreements,omitempty"`
}

// Collections is what was found of one collection.
type Collections struct {
	Collection
	Indexes []Index `json:"indexes"`
	// FieldNames counts the sampled documents holding each field name.
	FieldNames map[string]int `json:"fieldNames,omitempty"`
	// SessionDates counts the sampled sessionDate conventions:
	// "seoul_midnight", "utc_midnight", "string", "other", "missing".
	SessionDates map[string]int `json:"sessionDates,omitempty"`
	// DuplicateKeys counts the sampled (app, url, title) keys held by more
	// than one document.
	DuplicateKeys int `json:"duplicateKeys,omitempty"`
	Sampled       int `json:"sampled"`
}

// Sources are the read-only inspectors Run uses. Docs and Patterns may be
// nil (the SQLite store): those sections are skipped; so is the server
// version check without Server.
type Sources struct {
	Server   ServerInspector
	Streams  StreamInspector
	Boards   LeaderboardInspector
	Patterns PatternSource
	Docs     DocumentInspector
}

// Config names what to inspect and how closely. The zero value of a field
// means its default.
type Config struct {
	// Deployment names the input stream, the group pomocore reads as
	// (default pattern_match_stream, pattern_match_group), the service
	// time zone and the categories pomocore classifies into.
	pomocore.Deployment
	// StartID is where pomocore creates Group when it is missing
	// (POMOCORE_START_ID; default "0").
	StartID string
	// SessionStream and SessionGroup are the session-end stream and the
	// main server's group on it (default session_score_stream,
	// session_score_group).
	SessionStream, SessionGroup string
	// DeadStream is the dead-letter stream (default "<Stream>:dead").
	DeadStream string
	// KeyPrefix is the leaderboard key prefix (default "leaderboard").
	KeyPrefix string
	// TrimInput and TrimIgnoreGroups are pomocore's trimming settings:
	// with trimming on, a group nobody reads and not ignored stalls it.
	TrimInput        bool
	TrimIgnoreGroups []string
	// Limits are the validator's (zero: the defaults).
	Limits pomocore.Limits
	// SampleSize is how many stream entries and documents are sampled
	// (default 1000).
	SampleSize int
	// KeyLimit bounds the leaderboard keys listed (default 200,000).
	KeyLimit int
	// IdleConsumer is how long every consumer of a group must have been
	// idle for the group to count as read by nobody (default 24h).
	IdleConsumer time.Duration
	// MaxDeliveries is pomocore's POMOCORE_MAX_DELIVERIES (default 10): a
	// pending entry delivered that often is dead-lettered when reclaimed.
	MaxDeliveries int64
	// Builtin is the pattern set pomocore layers under category_pattern
	// (POMOCORE_BUILTIN_PATTERNS=fallback: classify.DefaultPatterns()),
	// compared with it pattern by pattern; nil: none, no comparison.
	Builtin []pomocore.CategoryPattern
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	c.Deployment = c.Deployment.WithDefaults()
	c.StartID = cmp.Or(c.StartID, "0")
	c.SessionStream = cmp.Or(c.SessionStream, pomocore.DefaultSessionStream)
	c.SessionGroup = cmp.Or(c.SessionGroup, pomocore.DefaultSessionGroup)
	c.DeadStream = cmp.Or(c.DeadStream, pomocore.DeadStream(c.Stream))
	c.KeyPrefix = cmp.Or(c.KeyPrefix, pomocore.DefaultKeyPrefix)
	c.SampleSize = cmp.Or(c.SampleSize, 1000)
	c.KeyLimit = cmp.Or(c.KeyLimit, 200000)
	c.IdleConsumer = cmp.Or(c.IdleConsumer, 24*time.Hour)
	c.MaxDeliveries = cmp.Or(c.MaxDeliveries, 10)
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
	if c.SampleSize < 0 {
		bad("SampleSize", "%d: want >= 0", c.SampleSize)
	}
	if c.KeyLimit < 0 {
		bad("KeyLimit", "%d: want >= 0", c.KeyLimit)
	}
	if c.IdleConsumer < 0 {
		bad("IdleConsumer", "%v: want >= 0", c.IdleConsumer)
	}
	if strings.Contains(c.KeyPrefix, "*") {
		bad("KeyPrefix", "%q: must not hold '*'", c.KeyPrefix)
	}
	return errors.Join(errs...)
}

// report collects lines.
type report struct {
	r   Report
	cfg Config
}

func (b *report) add(section, check string, v Verdict, format string, args ...any) {
	b.r.Lines = append(b.r.Lines, Line{Section: section, Check: check, Verdict: v, Detail: fmt.Sprintf(format, args...)})
}

// Run inspects the sources, read-only, and returns the report. An error is
// returned only when a source cannot be read at all; what it finds wrong is
// in the report's lines.
func Run(ctx context.Context, cfg Config, src Sources) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, fmt.Errorf("doctor: %w", err)
	}
	cfg = cfg.withDefaults()
	b := &report{cfg: cfg, r: Report{Lines: []Line{}}}
	var errs []error
	if src.Server != nil {
		b.serverVersions(ctx, src.Server)
	}
	if src.Streams != nil {
		if err := b.inputStream(ctx, src.Streams); err != nil {
			errs = append(errs, err)
		}
		if err := b.sessionStream(ctx, src.Streams); err != nil {
			errs = append(errs, err)
		}
		if err := b.deadStream(ctx, src.Streams); err != nil {
			errs = append(errs, err)
		}
	}
	if src.Patterns != nil {
		if err := b.patterns(ctx, src.Patterns); err != nil {
			errs = append(errs, err)
		}
	}
	if src.Docs != nil {
		if err := b.documents(ctx, src.Docs); err != nil {
			errs = append(errs, err)
		}
	}
	if src.Boards != nil {
		if err := b.leaderboards(ctx, src.Boards); err != nil {
			errs = append(errs, err)
		}
	}
	b.r.Counts = map[Verdict]int{OK: 0, Warn: 0, Blocker: 0}
	b.r.Verdict = OK
	for _, l := range b.r.Lines {
		b.r.Counts[l.Verdict]++
		if l.Verdict.rank() > b.r.Verdict.rank() {
			b.r.Verdict = l.Verdict
		}
	}
	if err := errors.Join(errs...); err != nil {
		return b.r, fmt.Errorf("doctor: %w", err)
	}
	return b.r, nil
}

const (
	secInput    = "input stream"
	secSession  = "session stream"
	secDead     = "dead-letter stream"
	secPatterns = "category_pattern"
	secBoards   = "leaderboards"
	secServer   = "redis server"
)

// minRedisVersion is the oldest Redis pomocore runs on: the reader's
// XAUTOCLAIM and the producer-retry dedup's ZMSCORE came in Redis 6.2.
var minRedisVersion = [3]int{6, 2, 0}

// serverVersions adds a line per server: a blocker below minRedisVersion.
func (b *report) serverVersions(ctx context.Context, si ServerInspector) {
	need := fmt.Sprintf("%d.%d.%d", minRedisVersion[0], minRedisVersion[1], minRedisVersion[2])
	vs, err := si.ServerVersions(ctx)
	if err != nil {
		b.add(secServer, "version", Warn, "cannot read the Redis version (INFO server): %v; pomocore needs Redis >= %s (XAUTOCLAIM, ZMSCORE)", err, need)
		return
	}
	for _, addr := range sortedKeys(vs) {
		v := vs[addr]
		got, ok := parseVersion(v)
		switch {
		case !ok:
			b.add(secServer, "version "+addr, Warn, "redis_version %q at %s is not a version; pomocore needs Redis >= %s (XAUTOCLAIM, ZMSCORE)", v, addr, need)
		case slices.Compare(got[:], minRedisVersion[:]) < 0:
			b.add(secServer, "version "+addr, Blocker, "Redis %s at %s is too old: pomocore needs Redis >= %s (XAUTOCLAIM reclaims a dead consumer's entries, ZMSCORE dedups producer retries); upgrade it", v, addr, need)
		default:
			b.add(secServer, "version "+addr, OK, "Redis %s at %s (needs >= %s)", v, addr, need)
		}
	}
}

// parseVersion reads "major.minor.patch" (a missing part is 0, a suffix
// such as "-rc1" is ignored).
func parseVersion(v string) ([3]int, bool) {
	var out [3]int
	parts := strings.SplitN(v, ".", 3)
	for i, p := range parts {
		if j := strings.IndexFunc(p, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
			p = p[:j]
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

func (b *report) inputStream(ctx context.Context, si StreamInspector) error {
	cfg := b.cfg
	st, err := si.Stream(ctx, cfg.Stream)
	if err != nil {
		b.add(secInput, "read", Blocker, "cannot read %s: %v", cfg.Stream, err)
		return err
	}
	b.r.Facts.InputStream = &st
	switch {
	case !st.Exists:
		b.add(secInput, "stream", Warn, "%s does not exist: nothing has been produced yet, or the stream name is wrong (POMOCORE_STREAM)", cfg.Stream)
		return nil
	case st.Type != "":
		b.add(secInput, "stream", Blocker, "%s is a %s, not a stream", cfg.Stream, st.Type)
		return nil
	}
	b.add(secInput, "stream", OK, "%s: %d entries, first %s, last %s, %d added in all", cfg.Stream, st.Length, orNone(st.FirstID), orNone(st.LastID), st.EntriesAdded)
	now := cfg.Now()
	var ours *GroupState
	for i := range st.Groups {
		g := &st.Groups[i]
		if g.Name == cfg.Group {
			ours = g
		}
		var cs []string
		for _, c := range g.Consumers {
			cs = append(cs, fmt.Sprintf("%s (pending %d, idle %s)", c.Name, c.Pending, c.Idle.Round(time.Second)))
		}
		detail := fmt.Sprintf("group %s: %d consumers [%s], pending %d, last delivered %s, lag %s",
			g.Name, len(g.Consumers), strings.Join(cs, ", "), g.Pending, orNone(g.LastDeliveredID), lagString(g.Lag))
		if g.OldestPendingID != "" {
			detail += ", oldest pending " + g.OldestPendingID + age(g.OldestPendingID, now)
		}
		unread := len(g.Consumers) == 0 || !slices.ContainsFunc(g.Consumers, func(c ConsumerState) bool { return c.Idle < cfg.IdleConsumer })
		ignored := slices.Contains(cfg.TrimIgnoreGroups, g.Name)
		switch {
		case g.Name == cfg.Group:
			b.add(secInput, "group "+g.Name, OK, "%s (pomocore's group; its pending entries are reclaimed after POMOCORE_CLAIM_IDLE)", detail)
		case unread && cfg.TrimInput && !ignored:
			b.add(secInput, "group "+g.Name, Blocker, "%s; nobody reads it, and trimming (POMOCORE_TRIM_INPUT) waits for it: nothing would ever be trimmed; add it to POMOCORE_TRIM_IGNORE_GROUPS", detail)
		case unread:
			b.add(secInput, "group "+g.Name, Warn, "%s; nobody reads it (no consumer active within %s): with POMOCORE_TRIM_INPUT it must be in POMOCORE_TRIM_IGNORE_GROUPS (ignored now: %v)", detail, cfg.IdleConsumer, ignored)
		default:
			b.add(secInput, "group "+g.Name, OK, "%s", detail)
		}
	}
	if ours != nil && ours.Pending > 0 {
		if err := b.deliveries(ctx, si, ours); err != nil {
			return err
		}
	}
	if ours == nil {
		if st.Length > 0 && cfg.StartID == "$" {
			b.add(secInput, "group "+cfg.Group, OK, "group %s does not exist; pomocore creates it at $ (POMOCORE_START_ID): the %d entries already in the stream are not read", cfg.Group, st.Length)
		} else if st.Length > 0 {
			b.add(secInput, "group "+cfg.Group, Blocker, "group %s does not exist: pomocore would create it at 0 and process all %d entries of the stream again (counting them again on the leaderboards); create it at $ or at the deployed group's last-delivered id, or set POMOCORE_GROUP to the deployed group", cfg.Group, st.Length)
		} else {
			b.add(secInput, "group "+cfg.Group, OK, "group %s does not exist; pomocore creates it at 0 (the stream is empty)", cfg.Group)
		}
	}
	return b.sample(ctx, si)
}

// deliveries lists the pending entries delivered POMOCORE_MAX_DELIVERIES
// times or more: suspects of the poison rule, counted as usual unless
// they also fail on their own (pipeline.Pipeline).
func (b *report) deliveries(ctx context.Context, si StreamInspector, g *GroupState) error {
	cfg := b.cfg
	counts, err := si.Deliveries(ctx, cfg.Stream, g.Name, 100000)
	if err != nil {
		b.add(secInput, "pending deliveries", Warn, "cannot read the pending entries of %s: %v", g.Name, err)
		return err
	}
	var worn []string
	n := 0
	for _, id := range sortedKeys(counts) {
		if counts[id] >= cfg.MaxDeliveries {
			n++
			if len(worn) < 10 {
				worn = append(worn, fmt.Sprintf("%s (%d)", id, counts[id]))
			}
		}
	}
	if n > 0 {
		b.add(secInput, "pending deliveries", OK, "%d of %d pending entries of %s were delivered POMOCORE_MAX_DELIVERIES=%d times or more: reclaimed, each is processed and counted as usual (the delivery count alone never dead-letters); one is dead-lettered (too_many_deliveries) only if it also fails on its own (the store refuses it saved alone, or validating it panics): %s",
			n, len(counts), g.Name, cfg.MaxDeliveries, strings.Join(worn, ", "))
	} else {
		b.add(secInput, "pending deliveries", OK, "%d pending entries of %s, each delivered fewer than %d times", len(counts), g.Name, cfg.MaxDeliveries)
	}
	return nil
}

// sample validates a sample of the input stream.
func (b *report) sample(ctx context.Context, si StreamInspector) error {
	cfg := b.cfg
	entries, err := si.Sample(ctx, cfg.Stream, cfg.SampleSize)
	if err != nil {
		b.add(secInput, "sample", Blocker, "cannot sample %s: %v", cfg.Stream, err)
		return err
	}
	v := pomocore.NewValidator(cfg.Limits, cfg.Location, cfg.Now)
	kinds := map[string]int{}
	examples := map[string]string{}
	// unknown counts the fields the contract does not name by the kind of
	// entry carrying them: accepted activities, old-format messages
	// (dead-lettered) and other refused entries.
	unknown := map[string]map[string]int{}
	ids := map[string]int{}
	for _, e := range entries {
		a, err := v.Parse(e.ID, e.Fields)
		kind := "activity"
		if err != nil {
			var ie *pomocore.InvalidError
			kind = "invalid"
			if errors.As(err, &ie) {
				kind = ie.Kind
			}
			if isOldLeaderboardMessage(e.Fields) {
				kind = "old_leaderboard_message"
			}
			if _, ok := examples[kind]; !ok {
				examples[kind] = e.ID + ": " + pomocore.SanitizeText(err.Error(), 80)
			}
		} else if !a.UsageLogID.IsZero() {
			ids[a.UsageLogID.Hex()]++
		}
		kinds[kind]++
		carrier := kind
		if kind != "activity" && kind != "old_leaderboard_message" {
			carrier = "refused"
		}
		for i := 0; i+1 < len(e.Fields); i += 2 {
			if !pomocore.IsField(e.Fields[i]) {
				if unknown[carrier] == nil {
					unknown[carrier] = map[string]int{}
				}
				unknown[carrier][pomocore.SanitizeText(e.Fields[i], 40)]++
			}
		}
	}
	b.r.Facts.SampleKinds = kinds
	if len(entries) == 0 {
		return nil
	}
	bad := len(entries) - kinds["activity"]
	if bad == 0 {
		b.add(secInput, "sample", OK, "all %d sampled entries (oldest and newest) are activities", len(entries))
	} else {
		var parts []string
		for _, k := range sortedKeys(kinds) {
			if k == "activity" {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %d (e.g. %s)", k, kinds[k], examples[k]))
		}
		b.add(secInput, "sample", Warn, "%d of %d sampled entries are not activities; pomocore dead-letters them (to %s) where the deployed service counted them with zero values: %s",
			bad, len(entries), cfg.DeadStream, strings.Join(parts, "; "))
	}
	b.unknownFields(unknown, kinds)
	dups := 0
	for _, n := range ids {
		if n > 1 {
			dups += n - 1
		}
	}
	if dups > 0 {
		b.add(secInput, "producer retries", OK, "%d sampled entries repeat a pomodoroUsageLogId (the main server's retries); pomocore counts each activity once within POMOCORE_DEDUP_WINDOW, the deployed service counted every copy", dups)
	}
	return nil
}

// unknownFields reports the fields the contract does not name by the
// entries carrying them: on activities (accepted and counted, so a new
// field of the main server's) a WARN; on the old-format messages and
// other refused entries, which are dead-lettered and never read, an OK.
func (b *report) unknownFields(unknown map[string]map[string]int, kinds map[string]int) {
	list := func(carrier string, of int, what string) string {
		var parts []string
		for _, k := range sortedKeys(unknown[carrier]) {
			if what == "" {
				parts = append(parts, fmt.Sprintf("%s (%d)", k, unknown[carrier][k]))
			} else {
				parts = append(parts, fmt.Sprintf("%s (%d of %d %s)", k, unknown[carrier][k], of, what))
			}
		}
		return strings.Join(parts, ", ")
	}
	if len(unknown["activity"]) > 0 {
		b.add(secInput, "unknown fields", Warn, "sampled activities carry fields the contract does not name (accepted and counted unless POMOCORE_ALLOW_UNKNOWN_FIELDS=false; pomocore_events_unknown_fields_total counts them): %s",
			list("activity", kinds["activity"], "activities"))
	}
	if len(unknown["old_leaderboard_message"]) > 0 {
		b.add(secInput, "old-format fields", OK, "the %d sampled old-format messages ({userId, categoryId, duration, timestamp}) carry %s: these messages are dead-lettered by pomocore (old_leaderboard_message), so the fields are never read",
			kinds["old_leaderboard_message"], list("old_leaderboard_message", 0, ""))
	}
	if len(unknown["refused"]) > 0 {
		b.add(secInput, "refused entries' fields", OK, "sampled entries pomocore refuses (dead-lettered) carry fields the contract does not name, never read: %s", list("refused", 0, ""))
	}
}

// isOldLeaderboardMessage reports whether fields are the mid-2025
// {userId, categoryId, duration, timestamp} leaderboard message.
func isOldLeaderboardMessage(fields []string) bool {
	has := map[string]bool{}
	for i := 0; i+1 < len(fields); i += 2 {
		has[fields[i]] = true
	}
	return has["categoryId"] && !has[pomocore.FieldApp] && !has[pomocore.FieldURL]
}

func (b *report) sessionStream(ctx context.Context, si StreamInspector) error {
	cfg := b.cfg
	st, err := si.Stream(ctx, cfg.SessionStream)
	if err != nil {
		b.add(secSession, "read", Blocker, "cannot read %s: %v", cfg.SessionStream, err)
		return err
	}
	b.r.Facts.SessionStream = &st
	switch {
	case !st.Exists:
		b.add(secSession, "stream", Warn, "%s does not exist: the main server's consumer (group %s) has not started or the name is wrong (POMOCORE_SESSION_STREAM)", cfg.SessionStream, cfg.SessionGroup)
		return nil
	case st.Type != "":
		b.add(secSession, "stream", Blocker, "%s is a %s, not a stream", cfg.SessionStream, st.Type)
		return nil
	}
	b.add(secSession, "stream", OK, "%s: %d entries, first %s, last %s", cfg.SessionStream, st.Length, orNone(st.FirstID), orNone(st.LastID))
	found := false
	for _, g := range st.Groups {
		found = found || g.Name == cfg.SessionGroup
		v := OK
		note := ""
		if len(g.Consumers) == 0 {
			v, note = Warn, "; no consumer"
		}
		b.add(secSession, "group "+g.Name, v, "group %s: %d consumers, pending %d, last delivered %s, lag %s%s",
			g.Name, len(g.Consumers), g.Pending, orNone(g.LastDeliveredID), lagString(g.Lag), note)
	}
	if !found {
		b.add(secSession, "group "+cfg.SessionGroup, Warn, "the main server's group %s is not on %s: session-end events would not be scored", cfg.SessionGroup, cfg.SessionStream)
	}
	return nil
}

func (b *report) deadStream(ctx context.Context, si StreamInspector) error {
	st, err := si.Stream(ctx, b.cfg.DeadStream)
	if err != nil {
		b.add(secDead, "read", Warn, "cannot read %s: %v", b.cfg.DeadStream, err)
		return err
	}
	b.r.Facts.DeadStream = &st
	switch {
	case !st.Exists:
		b.add(secDead, "stream", OK, "%s does not exist yet", b.cfg.DeadStream)
	case st.Type != "":
		b.add(secDead, "stream", Blocker, "%s is a %s, not a stream: dead letters cannot be written", b.cfg.DeadStream, st.Type)
	default:
		b.add(secDead, "stream", OK, "%s: %d dead letters", b.cfg.DeadStream, st.Length)
	}
	return nil
}

func (b *report) patterns(ctx context.Context, ps PatternSource) error {
	tax := b.cfg.Taxonomy
	pats, err := ps.LoadPatterns(ctx)
	if err != nil {
		b.add(secPatterns, "read", Blocker, "cannot read category_pattern: %v", err)
		return err
	}
	if len(pats) == 0 {
		b.add(secPatterns, "documents", Warn, "category_pattern is empty: pomocore would seed its built-in patterns, and the main server's CategoryPatternInitializer would add its own")
		return nil
	}
	docs := map[string]int{}
	for _, p := range pats {
		if docs[p.Category] == 0 {
			b.r.Facts.Categories = append(b.r.Facts.Categories, p.Category)
		}
		docs[p.Category]++
	}
	b.add(secPatterns, "categories", OK, "%d documents, %d categories: %s", len(pats), len(docs), strings.Join(b.r.Facts.Categories, ", "))
	var twice []string
	for _, c := range b.r.Facts.Categories {
		if docs[c] > 1 {
			twice = append(twice, fmt.Sprintf("%s (%d documents)", c, docs[c]))
		}
	}
	if len(twice) > 0 {
		b.add(secPatterns, "duplicate categories", Warn, "categories with more than one document (the categoryId written is one of them): %s", strings.Join(twice, ", "))
	}
	m, err := classify.Build(pats, tax.Default)
	if err != nil {
		b.add(secPatterns, "build", Blocker, "the patterns do not compile: %v", err)
	} else if cs := m.Conflicts(); len(cs) > 0 {
		for _, c := range cs {
			b.r.Facts.Conflicts = append(b.r.Facts.Conflicts, c.String())
		}
		b.add(secPatterns, "conflicts", Warn, "%d patterns are in two categories at the same priority; each goes to the document loaded later, as deployed: %s",
			len(cs), strings.Join(b.r.Facts.Conflicts, "; "))
	} else {
		b.add(secPatterns, "conflicts", OK, "no pattern is in two categories")
	}
	b.builtin(pats)
	var bare, paths, odd []string
	for _, p := range pats {
		for _, d := range p.DomainPatterns {
			host, path := classify.Host(d)
			switch {
			case host == "" || strings.ContainsAny(host, " \t") || strings.Contains(d, "://"):
				odd = append(odd, fmt.Sprintf("%q (%s)", d, p.Category))
			case host != "localhost" && !strings.ContainsAny(host, ".:["):
				bare = append(bare, fmt.Sprintf("%q (%s)", d, p.Category))
			case strings.Trim(path, "/") != "":
				paths = append(paths, fmt.Sprintf("%q (%s)", d, p.Category))
			}
		}
	}
	if len(bare) > 0 {
		b.add(secPatterns, "non-host patterns", OK, "%d domain patterns are bare words, not host names; they match as a host (the client's app/url \"afk\") or a whole path segment, never part of a word (the deployed substring match put \"kafka\" in AFK): %s",
			len(bare), strings.Join(bare, ", "))
	}
	if len(paths) > 0 {
		b.add(secPatterns, "path patterns", OK, "%d domain patterns carry a path, matched on segment boundaries: %s", len(paths), strings.Join(paths, ", "))
	}
	if len(odd) > 0 {
		b.add(secPatterns, "malformed patterns", Warn, "domain patterns with a scheme, a space or no host: %s", strings.Join(odd, ", "))
	}
	usable, missing := classify.Restrict(pats, tax)
	if len(missing) > 0 {
		v := Warn
		if slices.Contains(missing, tax.Default) {
			v = Blocker
		}
		b.add(secPatterns, "taxonomy vs store", v, "categories the taxonomy has and category_pattern lacks (counted as %s, no categoryId to write): %s", tax.Default, strings.Join(missing, ", "))
	} else {
		b.add(secPatterns, "taxonomy vs store", OK, "all %d taxonomy categories have a document", len(usable))
	}
	var extra []string
	for _, c := range b.r.Facts.Categories {
		if !tax.Has(c) {
			extra = append(extra, c)
		}
	}
	if len(extra) > 0 {
		b.add(secPatterns, "store vs taxonomy", Warn, "categories category_pattern has and the taxonomy lacks (POMOCORE_TAXONOMY_FILE): %s", strings.Join(extra, ", "))
	}
	var workMissing []string
	for _, w := range tax.Work {
		if docs[w] == 0 {
			workMissing = append(workMissing, w)
		}
	}
	v := OK
	detail := fmt.Sprintf("%d work categories add to %q: %s", len(tax.Work), tax.WorkAggregate, strings.Join(tax.Work, ", "))
	if len(workMissing) > 0 {
		v, detail = Warn, detail+"; without a document: "+strings.Join(workMissing, ", ")
	}
	b.add(secPatterns, "work categories", v, "%s", detail)
	return nil
}

func (b *report) documents(ctx context.Context, di DocumentInspector) error {
	b.r.Facts.Collections = map[string]*Collections{}
	var errs []error
	for _, coll := range []string{"categorized_data", "pomodoro_usage_log"} {
		if err := b.collection(ctx, di, coll); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (b *report) collection(ctx context.Context, di DocumentInspector, coll string) error {
	c, err := di.Collection(ctx, coll)
	if err != nil {
		b.add(coll, "read", Blocker, "cannot read %s: %v", coll, err)
		return err
	}
	facts := &Collections{Collection: c, Indexes: []Index{}}
	b.r.Facts.Collections[coll] = facts
	if !c.Exists {
		b.add(coll, "collection", Warn, "%s does not exist (a fresh database, or MONGO_DATABASE is wrong)", coll)
		return nil
	}
	b.add(coll, "collection", OK, "%s: about %d documents", coll, c.Count)
	existing, planned, err := di.Indexes(ctx, coll)
	if err != nil {
		b.add(coll, "indexes", Warn, "cannot list indexes: %v", err)
		return err
	}
	facts.Indexes = append(facts.Indexes, existing...)
	b.indexes(coll, existing, planned)

	docs, err := di.SampleDocuments(ctx, coll, b.cfg.SampleSize)
	if err != nil {
		b.add(coll, "sample", Warn, "cannot sample: %v", err)
		return err
	}
	facts.Sampled = len(docs)
	facts.FieldNames = map[string]int{}
	for _, d := range docs {
		for k := range d {
			facts.FieldNames[k]++
		}
	}
	switch coll {
	case "categorized_data":
		b.variants(coll, facts, "IsLLMBased", "isLLMBased")
		keys := map[[3]string]int{}
		for _, d := range docs {
			keys[[3]string{str(d["app"]), str(d["url"]), str(d["title"])}]++
		}
		for _, n := range keys {
			if n > 1 {
				facts.DuplicateKeys++
			}
		}
		b.add(coll, "duplicates", OK, "%d (app, url, title) keys are held by more than one of %d sampled documents (the main server inserts one per activity; pomocore creates no unique index)", facts.DuplicateKeys, len(docs))
	case "pomodoro_usage_log":
		b.variants(coll, facts, "CategorizedDataId", "categorizedDataId")
		b.sessionDates(coll, facts, docs)
	}
	return nil
}

// indexes judges the existing indexes against those pomocore creates.
func (b *report) indexes(coll string, existing, planned []Index) {
	var names []string
	for _, ix := range existing {
		own := slices.ContainsFunc(planned, func(p Index) bool { return p.Name == ix.Name && slices.Equal(p.Keys, ix.Keys) && p.Unique == ix.Unique })
		switch {
		case own && slices.Contains(mainServerIndexes[coll], ix.Name):
			names = append(names, ix.String()+" (the main server's, also created by pomocore)")
		case own:
			names = append(names, ix.String()+" (pomocore's)")
		default:
			names = append(names, ix.String())
		}
		if ix.Unique && coll == "categorized_data" && slices.ContainsFunc(ix.Keys, func(k string) bool {
			return strings.HasPrefix(k, "app:") || strings.HasPrefix(k, "url:") || strings.HasPrefix(k, "title:")
		}) {
			b.add(coll, "unique index", Blocker, "index %s is unique: the main server inserts one categorized_data per activity, so its inserts of a repeated (app, url, title) fail", ix)
		}
	}
	var missing []string
	for _, p := range planned {
		if !slices.ContainsFunc(existing, func(ix Index) bool {
			return ix.Name == p.Name || slices.Equal(ix.Keys, p.Keys) && ix.Unique == p.Unique
		}) {
			missing = append(missing, p.String())
		}
	}
	detail := orNone(strings.Join(names, ", "))
	if len(missing) > 0 {
		detail += "; pomocore creates (non-unique) when it starts live: " + strings.Join(missing, ", ")
	}
	b.add(coll, "indexes", OK, "%s", detail)
	for _, p := range planned {
		for _, ix := range existing {
			sameName, sameKeys := ix.Name == p.Name, slices.Equal(ix.Keys, p.Keys)
			switch {
			case sameName && (!sameKeys || ix.Unique != p.Unique):
				b.add(coll, "index "+p.Name, Warn, "pomocore creates %s; an index of that name with other keys or options exists (%s): pomocore logs it and continues without its own", p, ix)
			case !sameName && sameKeys && ix.Unique == p.Unique:
				b.add(coll, "index "+p.Name, OK, "pomocore's %s has the keys of the existing %s: its creation is refused and the existing index serves", p, ix)
			}
		}
	}
}

// String is "name(keys...)[ unique]".
func (ix Index) String() string {
	s := ix.Name + "(" + strings.Join(ix.Keys, ", ") + ")"
	if ix.Unique {
		s += " unique"
	}
	return s
}

// variants reports which spelling of a field the sampled documents use.
func (b *report) variants(coll string, facts *Collections, spring, old string) {
	ns, no := facts.FieldNames[spring], facts.FieldNames[old]
	detail := fmt.Sprintf("of %d sampled documents, %d have %s (the main server's), %d %s (the older data server's); pomocore reads both and writes %s", facts.Sampled, ns, spring, no, old, spring)
	for _, f := range ownFields[coll] {
		detail += fmt.Sprintf("; %d have %s (pomocore's own: who decided the category of a document it categorised; the main server ignores it)", facts.FieldNames[f], f)
	}
	b.add(coll, "field names", OK, "%s", detail)
	var odd []string
	for _, k := range sortedKeys(facts.FieldNames) {
		if !knownField(coll, k) {
			odd = append(odd, fmt.Sprintf("%s (%d)", k, facts.FieldNames[k]))
		}
	}
	if len(odd) > 0 {
		b.add(coll, "other fields", Warn, "fields the contract does not name: %s", strings.Join(odd, ", "))
	}
}

// ownFields are the fields pomocore adds to the main server's documents.
var ownFields = map[string][]string{"categorized_data": {"pomocoreSource"}}

// mainServerIndexes are the indexes the main server creates itself
// (CONTRACT.md), which pomocore also creates when missing.
var mainServerIndexes = map[string][]string{"pomodoro_usage_log": {"userId_sessionDate_session_idx"}}

func knownField(coll, f string) bool {
	if slices.Contains(ownFields[coll], f) {
		return true
	}
	switch coll {
	case "categorized_data":
		return slices.Contains([]string{"_id", "app", "url", "title", "categoryId", "IsLLMBased", "isLLMBased", "_class"}, f)
	case "pomodoro_usage_log":
		return slices.Contains([]string{"_id", "userId", "CategorizedDataId", "categorizedDataId", "categoryId", "session", "sessionMinutes",
			"sessionDate", "timestamp", "duration", "_class"}, f)
	}
	return true
}

// sessionDates reports the sessionDate conventions seen.
func (b *report) sessionDates(coll string, facts *Collections, docs []Document) {
	facts.SessionDates = map[string]int{}
	for _, d := range docs {
		facts.SessionDates[dateConvention(d["sessionDate"], b.cfg.Location)]++
	}
	sd := facts.SessionDates
	detail := fmt.Sprintf("of %d sampled documents: midnight %s %d, midnight UTC %d, string %d, other %d, missing %d",
		len(docs), b.cfg.Location, sd["seoul_midnight"], sd["utc_midnight"], sd["string"], sd["other"], sd["missing"])
	switch {
	case sd["other"] > 0 || sd["missing"] > 0 || sd["string"] > 0:
		b.add(coll, "sessionDate", Warn, "%s; the main server finds a session's logs only by sessionDate at midnight %s", detail, b.cfg.Location)
	case sd["utc_midnight"] > 0:
		b.add(coll, "sessionDate", OK, "%s; the UTC ones are the older data server's (read by pomocore, not found by the main server's session query); pomocore writes midnight %s", detail, b.cfg.Location)
	default:
		b.add(coll, "sessionDate", OK, "%s", detail)
	}
}

func dateConvention(v any, loc *time.Location) string {
	switch t := v.(type) {
	case nil:
		return "missing"
	case string:
		return "string"
	case time.Time:
		u := t.UTC()
		if h, m, s := u.Clock(); h == 0 && m == 0 && s == 0 && u.Nanosecond() == 0 {
			return "utc_midnight"
		}
		l := t.In(loc)
		if h, m, s := l.Clock(); h == 0 && m == 0 && s == 0 && l.Nanosecond() == 0 {
			return "seoul_midnight"
		}
	}
	return "other"
}

var (
	dailyRe   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	weeklyRe  = regexp.MustCompile(`^\d{4}-W[1-9]\d?$`)
	monthlyRe = regexp.MustCompile(`^\d{4}-M[1-9]\d?$`)
)

// periodKind names the format of a leaderboard period: daily, weekly,
// monthly (as the main server writes them), or "other".
func periodKind(p string) string {
	switch {
	case dailyRe.MatchString(p):
		return "daily"
	case weeklyRe.MatchString(p):
		return "weekly"
	case monthlyRe.MatchString(p):
		return "monthly"
	}
	return "other"
}

// periodRange is the first and last period of a kind found among the keys.
type periodRange struct{ first, last string }

func (r *periodRange) add(p string) {
	if r.first == "" || periodLess(p, r.first) {
		r.first = p
	}
	if r.last == "" || periodLess(r.last, p) {
		r.last = p
	}
}

// String is " (first .. last)", " (only)", or "" when none was found.
func (r *periodRange) String() string {
	switch {
	case r == nil || r.first == "":
		return ""
	case r.first == r.last:
		return " (" + r.first + ")"
	}
	return " (" + r.first + " .. " + r.last + ")"
}

// periodLess orders periods of one kind: by year, then by the number
// after the year (weeks and months are not zero-padded), then as text.
func periodLess(a, b string) bool {
	ya, ra, _ := strings.Cut(a, "-")
	yb, rb, _ := strings.Cut(b, "-")
	if ya != yb {
		return ya < yb
	}
	na, errA := strconv.Atoi(strings.TrimLeft(ra, "WM"))
	nb, errB := strconv.Atoi(strings.TrimLeft(rb, "WM"))
	if errA == nil && errB == nil && na != nb {
		return na < nb
	}
	return ra < rb
}

// neverWritten are the key categories the main server writes itself.
var neverWritten = []string{"sessionScore", "sessionCount"}

func (b *report) leaderboards(ctx context.Context, li LeaderboardInspector) error {
	cfg, tax := b.cfg, b.cfg.Taxonomy
	keys, truncated, err := li.Keys(ctx, escapeGlob(cfg.KeyPrefix)+":*", cfg.KeyLimit)
	if err != nil {
		b.add(secBoards, "read", Blocker, "cannot list %s:* keys: %v", cfg.KeyPrefix, err)
		return err
	}
	counts := map[string]int{"daily": 0, "weekly": 0, "monthly": 0, "other": 0}
	found := map[string]*periodRange{}
	var others, notZset, unknownCats []string
	cats := map[string]bool{}
	for _, k := range keys {
		rest := strings.TrimPrefix(k.Key, cfg.KeyPrefix+":")
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			counts["other"]++
			others = appendMax(others, k.Key)
			continue
		}
		cat, period := rest[:i], rest[i+1:]
		if slices.Contains(neverWritten, cat) {
			counts[cat]++
			continue
		}
		kind := periodKind(period)
		counts[kind]++
		if found[kind] == nil {
			found[kind] = &periodRange{}
		}
		found[kind].add(period)
		if kind == "other" {
			others = appendMax(others, k.Key)
		}
		if k.Type != "zset" {
			notZset = appendMax(notZset, k.Key+" ("+k.Type+")")
		}
		if !cats[cat] && !tax.Has(cat) && cat != tax.WorkAggregate {
			unknownCats = append(unknownCats, cat)
		}
		cats[cat] = true
	}
	b.r.Facts.LeaderboardKeys = counts
	more := ""
	if truncated {
		more = fmt.Sprintf(" (stopped at %d keys)", cfg.KeyLimit)
	}
	b.add(secBoards, "keys", OK, "%s:<category>:<period>: %d daily%s, %d weekly%s, %d monthly%s%s",
		cfg.KeyPrefix, counts["daily"], found["daily"], counts["weekly"], found["weekly"], counts["monthly"], found["monthly"], more)
	if len(others) > 0 {
		b.add(secBoards, "other formats", Warn, "%d keys under %s: in no format the main server reads (e.g. a zero-padded week): %s", counts["other"], cfg.KeyPrefix, strings.Join(others, ", "))
	}
	if len(notZset) > 0 {
		b.add(secBoards, "types", Blocker, "leaderboard keys that are not sorted sets (ZINCRBY would fail): %s", strings.Join(notZset, ", "))
	}
	if len(unknownCats) > 0 {
		b.add(secBoards, "categories", Warn, "keys of categories the taxonomy does not have: %s", strings.Join(unknownCats, ", "))
	}
	var clash []string
	for _, c := range neverWritten {
		if tax.Has(c) || tax.WorkAggregate == c {
			clash = append(clash, c)
		}
	}
	if len(clash) > 0 {
		b.add(secBoards, "never written", Blocker, "the taxonomy names %s, keys the main server writes itself: pomocore must never write them", strings.Join(clash, ", "))
	} else {
		b.add(secBoards, "never written", OK, "%d sessionScore and %d sessionCount keys (the main server's own; pomocore never writes them)", counts["sessionScore"], counts["sessionCount"])
	}
	return nil
}

// escapeGlob escapes the SCAN MATCH special characters of s.
func escapeGlob(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

func appendMax(list []string, s string) []string {
	if len(list) < 10 {
		return append(list, s)
	}
	if len(list) == 10 {
		return append(list, "...")
	}
	return list
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func lagString(lag int64) string {
	if lag < 0 {
		return "unknown"
	}
	return strconv.FormatInt(lag, 10)
}

// age returns " (<age> old)" for a stream id, "" if unparsable.
func age(id string, now time.Time) string {
	ms, _, err := pomocore.ParseEntryID(id)
	if err != nil {
		return ""
	}
	return " (" + now.Sub(time.UnixMilli(int64(ms))).Round(time.Second).String() + " old)"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// WriteText writes the report as aligned text: a line per check with its
// verdict, then the overall verdict.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, l := range r.Lines {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.ToUpper(string(l.Verdict)), l.Section, l.Check, pomocore.SanitizeText(l.Detail, 4000))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nverdict: %s (%d ok, %d warn, %d blocker)\n", r.Verdict, r.Counts[OK], r.Counts[Warn], r.Counts[Blocker])
	return err
}

// Write writes the report as one indented JSON document (asJSON) or as
// text (WriteText).
func (r Report) Write(w io.Writer, asJSON bool) error { return WriteReport(w, r, asJSON) }

// WriteReport writes report as one indented JSON document (asJSON) or as
// its text: how the reports of pomocore doctor and compare are printed.
func WriteReport(w io.Writer, report interface{ WriteText(io.Writer) error }, asJSON bool) error {
	if !asJSON {
		return report.WriteText(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(report)
}

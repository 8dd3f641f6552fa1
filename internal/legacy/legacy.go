// Package legacy is a stand-in for the deployed data server, for tests of
// the cut-over path: it consumes the activity stream the way
// /work/shared/CONTRACT.md says the deployed service does, defects
// included, so that shadow runs and `pomocore compare` can be tested
// against it:
//   - one consumer name for every instance; it reads new entries only (">")
//     and never reclaims what it left pending;
//   - it counts every entry, so a producer retry (the same
//     pomodoroUsageLogId under a new stream id) counts twice;
//   - app patterns match the whole app name (lower-cased) exactly; domain
//     patterns match as plain substrings of the whole URL (see Classify);
//   - a malformed entry counts with zero values where it cannot parse (a
//     non-numeric duration counts 0, an absurd one counts in full);
//   - it sets the usage logs' categoryId (through UsageLogs, when set), then
//     increments a whole batch, then acknowledges its entries one by one
//     on a context a SIGTERM cancels (see Step), so a stop with a backlog
//     leaves counted entries pending.
//
// It writes leaderboards, and the usage logs' categories only through the
// UsageLogs port a test gives it.
package legacy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
)

// WorkCategories are the deployed data server's work categories
// (CONTRACT section 3).
var WorkCategories = []string{"Development", "LLM", "Documentation", "Design", "Video Editing", "Education",
	"Productivity", "Finance", "File Management", "Browsing", "Marketing", "System & Utilities", "Meetings"}

// Service is the stand-in. Its fields are set before the first Step and
// not changed after; Step is not safe for concurrent use.
type Service struct {
	Client   goredis.UniversalClient
	Stream   string // default pattern_match_stream
	Group    string // default pattern_match_group
	Consumer string // default "data-server", the one name every instance used
	// Patterns are the category_pattern documents in load order.
	Patterns []pomocore.CategoryPattern
	// UsageLogs, when not nil, is given each batch's categories before the
	// increments, as the deployed service's UpdateCategoryIDsBatch writes
	// them: what `pomocore cutover adopt` decides pending entries by.
	UsageLogs UsageLogs
}

// UsageLogs is where the stand-in sets the categoryId of the
// pomodoro_usage_log documents of a batch. SetCategories is given the
// pomodoroUsageLogId of each entry of the batch that has one, with the
// category name it classified the entry in, on the context of Step (a
// cancelled context fails it, as the deployed service's update fails); an
// error is logged by the deployed service, which goes on to increment.
// Step never calls it concurrently.
type UsageLogs interface {
	SetCategories(ctx context.Context, categories map[string]string) error
}

// Step reads up to count new entries (waiting at most block for the first)
// and handles them as the deployed service's consumer does: it sets the
// usage logs' categories (UsageLogs), increments the leaderboards for the
// whole batch, then acknowledges the entries one by one, on ctx. A SIGTERM of the deployed service cancels that context,
// so the acknowledgements still to come fail ("Error acknowledging
// message ... context canceled", logged, not retried) and those entries
// stay pending, already counted: cancel ctx during the acknowledgements to
// play it. ack, when not nil, is asked before each acknowledgement
// whether to send it: an entry it refuses stays pending, counted, as
// after a crash between the increments and XACK. It returns the ids read;
// an acknowledgement refused by a cancelled ctx is not an error.
func (s *Service) Step(ctx context.Context, count int, block time.Duration, ack func(id string) bool) ([]string, error) {
	s.defaults()
	res, err := s.Client.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: s.Group, Consumer: s.Consumer,
		Streams: []string{s.Stream, ">"}, Count: int64(count), Block: block}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("legacy XREADGROUP: %w", err)
	}
	var batch []goredis.XMessage
	for _, st := range res {
		batch = append(batch, st.Messages...)
	}
	ids := make([]string, 0, len(batch))
	var errs []error
	if s.UsageLogs != nil { // the usage logs first (UpdateCategoryIDsBatch) ...
		cats := map[string]string{}
		for _, m := range batch {
			if k, _ := m.Values["pomodoroUsageLogId"].(string); k != "" {
				cats[k] = s.category(m.Values)
			}
		}
		if err := s.UsageLogs.SetCategories(ctx, cats); err != nil && ctx.Err() == nil {
			errs = append(errs, fmt.Errorf("legacy usage logs: %w", err))
		}
	}
	for _, m := range batch { // ... then the whole batch's increments (ProcessBatch) ...
		ids = append(ids, m.ID)
		if err := s.count(ctx, m.Values); err != nil && ctx.Err() == nil {
			errs = append(errs, err) // logged by the deployed service, which acknowledges anyway
		}
	}
	for _, m := range batch { // ... then each acknowledgement, on the same context
		if ack != nil && !ack(m.ID) {
			continue
		}
		if err := s.Client.XAck(ctx, s.Stream, s.Group, m.ID).Err(); err != nil && ctx.Err() == nil {
			errs = append(errs, fmt.Errorf("legacy XACK: %w", err))
		}
	}
	return ids, errors.Join(errs...)
}

// EnsureGroup creates the deployed group at id 0 when it is missing, as
// the deployed service does.
func (s *Service) EnsureGroup(ctx context.Context) error {
	s.defaults()
	err := s.Client.XGroupCreateMkStream(ctx, s.Stream, s.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("legacy XGROUP CREATE: %w", err)
	}
	return nil
}

func (s *Service) defaults() {
	if s.Stream == "" {
		s.Stream = "pattern_match_stream"
	}
	if s.Group == "" {
		s.Group = "pattern_match_group"
	}
	if s.Consumer == "" {
		s.Consumer = "data-server"
	}
}

// count adds one entry's duration to its category's and work's
// leaderboards, for the day, week and month of its timestamp in Seoul.
func (s *Service) count(ctx context.Context, v map[string]any) error {
	str := func(k string) string { x, _ := v[k].(string); return x }
	user := str("userId")
	dur, _ := strconv.ParseFloat(str("duration"), 64) // unparseable counts 0, as deployed
	ts, _ := strconv.ParseFloat(str("timestamp"), 64)
	cat := s.category(v)
	keys := Keys(cat, time.Unix(int64(ts), 0))
	for _, w := range WorkCategories {
		if w == cat {
			keys = append(keys, Keys("work", time.Unix(int64(ts), 0))...)
		}
	}
	for _, k := range keys {
		if err := s.Client.ZIncrBy(ctx, k, dur, user).Err(); err != nil {
			return fmt.Errorf("legacy ZINCRBY: %w", err)
		}
	}
	return nil
}

// category is the category the stand-in counts entry v in.
func (s *Service) category(v map[string]any) string {
	app, _ := v["app"].(string)
	url, _ := v["url"].(string)
	return s.Classify(app, url)
}

// Classify is the deployed classifier without its LLM (read from
// swmaeStrong/pomocore-data-server): the lower-cased app looked up exactly
// among the app patterns as stored (a mixed-case pattern never matches);
// else the domain pattern found in the URL, case-sensitively, as a plain
// substring whose match ends first (the longest among those ending
// there); a pattern in two documents belongs to the one loaded later;
// nothing matched is Uncategorized (where the deployed service asked its
// LLM).
func (s *Service) Classify(app, url string) string {
	apps, domains := map[string]string{}, map[string]string{}
	for _, p := range s.Patterns {
		for _, a := range p.AppPatterns {
			apps[a] = p.Category
		}
		for _, d := range p.DomainPatterns {
			if d != "" {
				domains[d] = p.Category
			}
		}
	}
	if c, ok := apps[strings.ToLower(app)]; ok {
		return c
	}
	best, bestEnd := "", -1
	for d := range domains {
		i := strings.Index(url, d)
		if i < 0 {
			continue
		}
		end := i + len(d)
		if bestEnd < 0 || end < bestEnd || (end == bestEnd && len(d) > len(best)) {
			best, bestEnd = d, end
		}
	}
	if best == "" {
		return pomocore.Uncategorized
	}
	return domains[best]
}

// Keys returns the leaderboard keys of category for the Seoul day, ISO
// week and month of t, in the deployed formats: leaderboard:C:2026-11-24,
// leaderboard:C:2026-W48, leaderboard:C:2026-M11.
func Keys(category string, t time.Time) []string {
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		seoul = time.FixedZone("KST", 9*3600)
	}
	t = t.In(seoul)
	y, w := t.ISOWeek()
	return []string{
		"leaderboard:" + category + ":" + t.Format(time.DateOnly),
		fmt.Sprintf("leaderboard:%s:%d-W%d", category, y, w),
		fmt.Sprintf("leaderboard:%s:%d-M%d", category, t.Year(), int(t.Month())),
	}
}

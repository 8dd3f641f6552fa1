package httpapi

import (
	"context"
	"fmt"
	"time"

	"github.com/pomocore/pomocore"
)

// PageStore keeps the live page's figures where every replica of the
// service finds the same ones (Redis): the page then shows the same
// numbers whichever replica answers a refresh. Safe for concurrent use.
type PageStore interface {
	// Counts returns how many entries the consumer group has processed
	// (delivered and acknowledged) and how many dead letters are kept,
	// given the group's lag and pending count just read.
	Counts(ctx context.Context, lag, pending int64) (processed, dead int64, err error)
	// Timeline records s as the sample of its bucket (unless a replica
	// already recorded one) and returns the samples from since on, oldest
	// first; older samples are deleted, so the timeline stays bounded.
	Timeline(ctx context.Context, s pomocore.PageSample, since time.Time) ([]pomocore.PageSample, error)
	// Sums returns the sum of each leaderboard's scores (0 when missing).
	Sums(ctx context.Context, keys []string) ([]float64, error)
}

// TimelinePoint is one point of the events/s and lag timeline
// /api/v1/stats returns: the rate between a sample and the one before it
// (never negative), and the lag at the sample.
type TimelinePoint struct {
	At              time.Time `json:"at"`
	EventsPerSecond float64   `json:"eventsPerSecond"`
	Lag             int64     `json:"lag"`
}

// SharedStats are the live page's figures read from the PageStore: the same
// on every replica.
type SharedStats struct {
	// AsOf is when they were read: older than the answer's "now" when
	// Redis did not answer and these are the last figures read.
	AsOf            time.Time `json:"asOf"`
	Processed       int64     `json:"processed"`
	DeadLetters     int64     `json:"deadLetters"`
	Lag             int64     `json:"lag"`
	Pending         int64     `json:"pending"`
	EventsPerSecond float64   `json:"eventsPerSecond"`
	// Timeline covers the last hour, oldest first.
	Timeline []TimelinePoint `json:"timeline"`
	// Date is the day CategorySeconds covers (YYYY-MM-DD, in the
	// deployment's time zone); CategorySeconds sums each category's day
	// leaderboard: seconds of activity per category that day.
	Date            string             `json:"date"`
	CategorySeconds map[string]float64 `json:"categorySeconds"`
}

// TimelineWindow is how far back the page's timeline reaches.
const TimelineWindow = time.Hour

// readShared reads the shared figures for date ("" for today) and records
// the timeline's sample of now.
func (s *Server) readShared(ctx context.Context, date string, now time.Time) (*SharedStats, error) {
	out, err := s.sample(ctx, now)
	if err != nil {
		return nil, err
	}
	cats := s.cfg.Taxonomy.Categories
	keys := make([]string, len(cats))
	for i, c := range cats {
		b, err := pomocore.BoardQuery{Category: c, Period: "day", Date: date}.Resolve(s.cfg.KeyPrefix, s.cfg.Taxonomy, s.cfg.Location, now)
		if err != nil {
			return nil, err
		}
		keys[i], out.Date = b.Key, b.Date
	}
	sums, err := s.deps.Page.Sums(ctx, keys)
	if err != nil {
		return nil, err
	}
	for i, c := range cats {
		if sums[i] > 0 {
			out.CategorySeconds[c] = pomocore.RoundScore(sums[i])
		}
	}
	return out, nil
}

// sample reads the group's figures, records the timeline's sample of now
// and returns the figures with the timeline (no category seconds).
func (s *Server) sample(ctx context.Context, now time.Time) (*SharedStats, error) {
	if s.deps.Group == nil {
		return nil, fmt.Errorf("page figures: no consumer group to read")
	}
	g, err := s.deps.Group.GroupState(ctx)
	if err != nil {
		return nil, fmt.Errorf("page figures: %w", err)
	}
	processed, dead, err := s.deps.Page.Counts(ctx, g.Lag, g.Pending)
	if err != nil {
		return nil, err
	}
	samples, err := s.deps.Page.Timeline(ctx, pomocore.PageSample{At: now, Processed: processed, Lag: g.Lag}, now.Add(-TimelineWindow))
	if err != nil {
		return nil, err
	}
	out := &SharedStats{AsOf: now, Processed: processed, DeadLetters: dead, Lag: g.Lag, Pending: g.Pending,
		Timeline: rates(samples), CategorySeconds: map[string]float64{}}
	if n := len(out.Timeline); n > 0 {
		out.EventsPerSecond = out.Timeline[n-1].EventsPerSecond
	}
	return out, nil
}

// rates turns samples into timeline points: each point's rate is the
// processed entries since the sample before over the time between them,
// 0 when the count went down (a group recreated).
func rates(samples []pomocore.PageSample) []TimelinePoint {
	out := []TimelinePoint{}
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		dt := b.At.Sub(a.At).Seconds()
		if dt <= 0 {
			continue
		}
		eps := float64(max(b.Processed-a.Processed, 0)) / dt
		out = append(out, TimelinePoint{At: b.At.UTC(), EventsPerSecond: float64(int64(eps*10+0.5)) / 10, Lag: b.Lag})
	}
	return out
}

// KeepTimeline records a timeline sample every interval until ctx ends,
// so that the page's last hour has no gaps while no one watches it.
// Samples of a bucket another replica recorded are not added again.
func (s *Server) KeepTimeline(ctx context.Context, every time.Duration) {
	if s.deps.Page == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		if _, err := s.sample(rctx, s.deps.Now()); err != nil {
			s.deps.Log.Debug("page timeline sample", "err", err)
		}
		cancel()
	}
}

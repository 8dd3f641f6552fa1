package main

import (
	"context"

	"github.com/pomocore/pomocore/httpapi"
	"github.com/pomocore/pomocore/redis"
)

// leaderboards adapts the redis leaderboard reader to the HTTP API's port.
type leaderboards struct{ l *redis.Leaderboards }

func convert(rs []redis.Ranked) []httpapi.Ranked {
	out := make([]httpapi.Ranked, len(rs))
	for i, r := range rs {
		out[i] = httpapi.Ranked{Rank: r.Rank, UserID: r.Member, Score: r.Score}
	}
	return out
}

func (a leaderboards) Top(ctx context.Context, key string, offset, count int) ([]httpapi.Ranked, error) {
	rs, err := a.l.Top(ctx, key, offset, count)
	return convert(rs), err
}

func (a leaderboards) Rank(ctx context.Context, key, member string) (httpapi.Ranked, bool, error) {
	r, found, err := a.l.Rank(ctx, key, member)
	return httpapi.Ranked{Rank: r.Rank, UserID: r.Member, Score: r.Score}, found, err
}

func (a leaderboards) Around(ctx context.Context, key, member string, n int) ([]httpapi.Ranked, error) {
	rs, err := a.l.Around(ctx, key, member, n)
	return convert(rs), err
}

// groupInspector adapts the stream reader's group state to the HTTP API.
type groupInspector struct{ r *redis.Reader }

func (g groupInspector) GroupState(ctx context.Context) (httpapi.GroupState, error) {
	lag, pending, oldest, err := g.r.GroupState(ctx)
	return httpapi.GroupState{Lag: lag, Pending: pending, OldestPending: oldest}, err
}

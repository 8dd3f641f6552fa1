package pipeline

import (
	"context"
	"sync"

	"github.com/pomocore/pomocore"
)

// ShadowSource is where a ShadowStore reads category_pattern, and whether
// that store answers.
type ShadowSource interface {
	LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error)
	Ping(ctx context.Context) error
}

// ShadowStore is the store of a shadow run (POMOCORE_SHADOW=true): Save
// writes nothing, and category_pattern is read from the real store, never
// seeded nor written (when it is empty, the patterns a live start would
// seed are used, in memory). It implements Store and Patterns; it
// implements none of the optional interfaces that write (PatternEditor,
// PartitionClaimer, AnswerKeeper, ...). Safe for concurrent use.
type ShadowStore struct {
	src ShadowSource // nil: no store; the seeded patterns are used

	mu       sync.Mutex
	defaults []pomocore.CategoryPattern
}

// NewShadowStore returns the shadow store reading category_pattern from
// src; with a nil src it reads no store and always answers.
func NewShadowStore(src ShadowSource) *ShadowStore { return &ShadowStore{src: src} }

var (
	_ Store    = (*ShadowStore)(nil)
	_ Patterns = (*ShadowStore)(nil)
)

// Save implements Store: it writes nothing.
func (*ShadowStore) Save(context.Context, []Record) error { return nil }

// SeedPatterns implements Patterns: it writes nothing, and remembers
// defaults for LoadPatterns to return while the store has none.
func (s *ShadowStore) SeedPatterns(_ context.Context, defaults []pomocore.CategoryPattern) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.defaults = defaults
	return false, nil
}

// LoadPatterns implements Patterns: the real store's documents, or the
// defaults SeedPatterns was given when it has none.
func (s *ShadowStore) LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error) {
	if s.src != nil {
		ps, err := s.src.LoadPatterns(ctx)
		if err != nil || len(ps) > 0 {
			return ps, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.defaults, nil
}

// Ping reports whether the real store answers (nil without one).
func (s *ShadowStore) Ping(ctx context.Context) error {
	if s.src == nil {
		return nil
	}
	return s.src.Ping(ctx)
}

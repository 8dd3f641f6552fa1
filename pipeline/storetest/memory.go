// Package storetest is the contract test suite of pipeline.Store and
// pipeline.Patterns, which every store adapter runs (Run), and Memory, an
// in-memory store that passes it, for unit tests of the pipeline.
package storetest

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
)

// Snapshot is every categorized_data and pomodoro_usage_log document of a
// store, each list sorted by ID.
type Snapshot struct {
	Categorized []pomocore.CategorizedData
	UsageLogs   []pomocore.UsageLog
}

type key struct{ app, url, title string }

// Memory is an in-memory pipeline.Store and pipeline.Patterns with the exact
// semantics of the contract, plus failure injection. Safe for concurrent use.
type Memory struct {
	mu       sync.Mutex
	cd       map[pomocore.ObjectID]pomocore.CategorizedData
	byKey    map[key]pomocore.ObjectID // the smallest id of each key's documents
	logs     map[pomocore.ObjectID]pomocore.UsageLog
	patterns []pomocore.CategoryPattern
	failN    int
	failErr  error
	saves    int
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{
		cd:    map[pomocore.ObjectID]pomocore.CategorizedData{},
		byKey: map[key]pomocore.ObjectID{},
		logs:  map[pomocore.ObjectID]pomocore.UsageLog{},
	}
}

// FailNext makes the next n calls of Save fail with err, writing nothing.
func (m *Memory) FailNext(n int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failN, m.failErr = n, err
}

// Saves returns how many Save calls succeeded.
func (m *Memory) Saves() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saves
}

// Save implements pipeline.Store.
func (m *Memory) Save(ctx context.Context, records []pipeline.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failN > 0 {
		m.failN--
		return m.failErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range records {
		r := &records[i]
		a := &r.Activity
		k := key{a.App, a.URL, a.Title}
		cdID := a.CategorizedDataID
		if cdID.IsZero() {
			var ok bool
			if cdID, ok = m.byKey[k]; !ok {
				cdID = pomocore.NewObjectID(time.Now())
			}
		}
		doc, ok := m.cd[cdID]
		if !ok {
			// (app, url, title) is not unique: a document named by id is
			// created even when its key has others.
			doc = pomocore.CategorizedData{ID: cdID, App: a.App, URL: a.URL, Title: a.Title}
			if have, ok := m.byKey[k]; !ok || bytes.Compare(cdID[:], have[:]) < 0 {
				m.byKey[k] = cdID // a key's document is its smallest id
			}
		}
		if !(ok && doc.LLMBased && r.Classification.Source == pomocore.SourceDefault) { // an LLM answer stays (pipeline.Store)
			doc.CategoryID, doc.LLMBased = r.CategoryID, r.Classification.LLMBased()
		}
		m.cd[cdID] = doc
		l, ok := m.logs[r.UsageLogID]
		if !ok {
			l = pomocore.UsageLog{ID: r.UsageLogID, UserID: a.UserID, Session: a.Session, SessionMinutes: a.SessionMinutes,
				SessionDate: a.SessionDate, Timestamp: a.Timestamp, Duration: a.Duration}
		}
		l.CategoryID, l.CategorizedDataID = r.CategoryID, cdID
		m.logs[r.UsageLogID] = l
	}
	m.saves++
	return nil
}

// KeepAnswers implements pipeline.AnswerKeeper.
func (m *Memory) KeepAnswers(ctx context.Context, answers []pomocore.CategorizedData) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, a := range answers {
		k := key{a.App, a.URL, a.Title}
		id, ok := m.byKey[k]
		if !ok {
			id = pomocore.NewObjectID(time.Now())
			m.byKey[k] = id
		}
		doc, ok := m.cd[id]
		if !ok {
			doc = pomocore.CategorizedData{ID: id, App: a.App, URL: a.URL, Title: a.Title}
		}
		doc.CategoryID, doc.LLMBased = a.CategoryID, true
		m.cd[id] = doc
	}
	return nil
}

// LoadPatterns implements pipeline.Patterns.
func (m *Memory) LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]pomocore.CategoryPattern, len(m.patterns))
	for i, p := range m.patterns {
		p.AppPatterns = slices.Clone(p.AppPatterns)
		p.DomainPatterns = slices.Clone(p.DomainPatterns)
		p.TitleRules = slices.Clone(p.TitleRules)
		out[i] = p
	}
	return out, ctx.Err()
}

// SeedPatterns implements pipeline.Patterns.
func (m *Memory) SeedPatterns(ctx context.Context, defaults []pomocore.CategoryPattern) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if len(m.patterns) > 0 {
		return false, nil
	}
	for _, p := range defaults {
		if p.ID.IsZero() {
			p.ID = pomocore.NewObjectID(time.Now())
		}
		m.patterns = append(m.patterns, p)
	}
	return true, nil
}

// UsageLogsBetween implements pipeline.UsageLogReader.
func (m *Memory) UsageLogsBetween(ctx context.Context, from, to float64, f func([]pomocore.UsageLog) error) error {
	s, err := m.Snapshot(ctx)
	if err != nil {
		return err
	}
	var out []pomocore.UsageLog
	for _, l := range s.UsageLogs {
		if l.Timestamp >= from && l.Timestamp < to {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return f(out)
}

// UpsertPattern implements pipeline.PatternEditor.
func (m *Memory) UpsertPattern(ctx context.Context, p pomocore.CategoryPattern) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.patterns {
		if m.patterns[i].ID == p.ID {
			m.patterns[i] = p
			return ctx.Err()
		}
	}
	m.patterns = append(m.patterns, p)
	return ctx.Err()
}

// LLMAnswers implements pipeline.LLMMemory.
func (m *Memory) LLMAnswers(ctx context.Context, limit int) ([]pomocore.CategorizedData, error) {
	s, err := m.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	var out []pomocore.CategorizedData
	for i := len(s.Categorized) - 1; i >= 0 && len(out) < limit; i-- {
		if s.Categorized[i].LLMBased {
			out = append(out, s.Categorized[i])
		}
	}
	return out, nil
}

// Snapshot returns every document, sorted by ID.
func (m *Memory) Snapshot(ctx context.Context) (*Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &Snapshot{}
	for _, d := range m.cd {
		s.Categorized = append(s.Categorized, d)
	}
	for _, l := range m.logs {
		s.UsageLogs = append(s.UsageLogs, l)
	}
	Sort(s)
	return s, ctx.Err()
}

// Sort orders a snapshot's documents by ID.
func Sort(s *Snapshot) {
	slices.SortFunc(s.Categorized, func(a, b pomocore.CategorizedData) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	slices.SortFunc(s.UsageLogs, func(a, b pomocore.UsageLog) int { return bytes.Compare(a.ID[:], b.ID[:]) })
}

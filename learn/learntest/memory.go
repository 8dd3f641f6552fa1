// Package learntest holds test support for the learn package: Memory, an
// in-memory store implementing its ports, Sink, a model sink, and
// RunLearnedLog, the contract a store's learn.LearnedLog must pass.
package learntest

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/learn"
)

// Memory implements learn.PatternReader, learn.PatternWriter,
// learn.LabelSource and learn.LearnedLog in memory; its fields may be set
// before use. Safe for concurrent use; Fail, when set, is returned by
// every method instead of doing anything.
type Memory struct {
	mu       sync.Mutex
	patterns []pomocore.CategoryPattern
	labels   []pomocore.CategorizedData // oldest first
	learned  []learn.Learned
	fail     error
	upserts  int
}

// NewMemory returns a store holding patterns, giving each without an id
// one.
func NewMemory(patterns []pomocore.CategoryPattern) *Memory {
	m := &Memory{}
	for i, p := range patterns {
		if p.ID.IsZero() {
			p.ID[0], p.ID[11] = 0xfe, byte(i+1)
			p.ID[10] = byte((i + 1) >> 8)
		}
		m.patterns = append(m.patterns, clonePattern(p))
	}
	return m
}

func clonePattern(p pomocore.CategoryPattern) pomocore.CategoryPattern {
	p.AppPatterns = slices.Clone(p.AppPatterns)
	p.DomainPatterns = slices.Clone(p.DomainPatterns)
	p.TitleRules = slices.Clone(p.TitleRules)
	return p
}

// SetFail makes every method return err (nil: work again).
func (m *Memory) SetFail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = err
}

// AddLabel appends a categorized_data document a pattern classified, in
// the category named (by its pattern document's id): the old service's,
// or pomocore's before a cut-over.
func (m *Memory) AddLabel(app, url, title, category string) {
	m.addLabel(app, url, title, category, false)
}

// AddLLMLabel appends a categorized_data document the LLM answered
// (IsLLMBased), in the category named.
func (m *Memory) AddLLMLabel(app, url, title, category string) {
	m.addLabel(app, url, title, category, true)
}

func (m *Memory) addLabel(app, url, title, category string, llm bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := pomocore.CategorizedData{App: app, URL: url, Title: title, LLMBased: llm}
	for _, p := range m.patterns {
		if p.Category == category {
			d.CategoryID = p.ID
		}
	}
	m.labels = append(m.labels, d)
}

// Upserts counts UpsertPattern calls.
func (m *Memory) Upserts() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.upserts
}

// LoadPatterns implements learn.PatternReader.
func (m *Memory) LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	out := make([]pomocore.CategoryPattern, len(m.patterns))
	for i, p := range m.patterns {
		out[i] = clonePattern(p)
	}
	return out, nil
}

// UpsertPattern implements learn.PatternWriter.
func (m *Memory) UpsertPattern(ctx context.Context, p pomocore.CategoryPattern) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.upserts++
	if i := slices.IndexFunc(m.patterns, func(x pomocore.CategoryPattern) bool { return x.ID == p.ID }); i >= 0 {
		m.patterns[i] = clonePattern(p)
		return nil
	}
	m.patterns = append(m.patterns, clonePattern(p))
	return nil
}

// TrustedLabels implements learn.LabelSource: the labels added, most
// recent first.
func (m *Memory) TrustedLabels(ctx context.Context, limit int) ([]pomocore.CategorizedData, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	var out []pomocore.CategorizedData
	for i := len(m.labels) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, m.labels[i])
	}
	return out, nil
}

// RecordLearned implements learn.LearnedLog.
func (m *Memory) RecordLearned(ctx context.Context, l learn.Learned) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.learned = slices.DeleteFunc(m.learned, func(x learn.Learned) bool { return sameLearned(x, l.Kind, l.Pattern) })
	m.learned = append(m.learned, l)
	return nil
}

// LearnedPatterns implements learn.LearnedLog.
func (m *Memory) LearnedPatterns(ctx context.Context) ([]learn.Learned, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	return slices.Clone(m.learned), nil
}

// ForgetLearned implements learn.LearnedLog.
func (m *Memory) ForgetLearned(ctx context.Context, kind learn.Kind, pattern string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.learned = slices.DeleteFunc(m.learned, func(x learn.Learned) bool { return sameLearned(x, kind, pattern) })
	return nil
}

func sameLearned(l learn.Learned, kind learn.Kind, pattern string) bool {
	return l.Kind == kind && strings.EqualFold(l.Pattern, pattern)
}

// Sink is a learn.ModelSink that keeps the last model.
type Sink struct {
	mu sync.Mutex
	m  *classify.Model
	n  int
}

// SetModel implements learn.ModelSink.
func (s *Sink) SetModel(m *classify.Model) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = m
	s.n++
}

// Model returns the last model set and how many were.
func (s *Sink) Model() (*classify.Model, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m, s.n
}

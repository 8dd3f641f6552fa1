package learn

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// PromoterDeps are what a Promoter reads from and writes to.
type PromoterDeps struct {
	// Editor edits the category_pattern documents (the process's one
	// Editor, so that promotion and the other edits are serialised); Log
	// records the promotions (both required).
	Editor *Editor
	Log    LearnedLog
	// Now is the clock (default time.Now); Logger logs (default discard).
	Now    func() time.Time
	Logger *slog.Logger
}

// Promoter turns domains and apps the model or the LLM answered
// consistently into patterns. Observe (classify.ChainConfig.OnAnswer)
// counts the answers; Promote adds the patterns whose answers passed
// Config.MinCount different activities, all with the same category at
// Config.MinConfidence or more, unless a pattern already decides that
// domain or app (an operator's pattern is never overridden) or the pattern
// would conflict with one. Each promotion is recorded (LearnedLog) with its
// origin, so that List shows it and Revert removes it. Safe for concurrent
// use.
type Promoter struct {
	cfg  Config
	deps PromoterDeps
	seed maphash.Seed

	edit sync.Mutex // held during Promote and Revert

	mu         sync.Mutex
	candidates map[candidateKey]*candidate
	untracked  int64
}

type candidateKey struct {
	kind    Kind
	pattern string
}

type candidate struct {
	category     string
	mixed        bool                // answered with two categories: never promoted
	keys         map[uint64]struct{} // the different activities, up to MinCount
	llm, model   int
	minConfident float64
}

// NewPromoter returns a promoter; the config must be valid. With
// Config.Promote off, Observe and Promote do nothing (List and Revert
// still work, to undo earlier promotions).
func NewPromoter(cfg Config, deps PromoterDeps) (*Promoter, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Editor == nil || deps.Log == nil {
		return nil, errors.New("learn: a promoter needs an Editor and a Log")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Promoter{cfg: cfg, deps: deps, seed: maphash.MakeSeed(),
		candidates: map[candidateKey]*candidate{}}, nil
}

// keyOf returns what an answer would be promoted as: its host as a domain
// pattern, or, without a URL, its app as an app pattern. A host without a
// dot ("newtab" of chrome://newtab, "localhost") is not: as a pattern, a
// bare word also matches URL path segments.
func keyOf(app, host string) (candidateKey, bool) {
	if host != "" {
		return candidateKey{KindDomain, host}, strings.Contains(host, ".")
	}
	if a := classify.AppPattern(app); a != "" {
		return candidateKey{KindApp, a}, true
	}
	return candidateKey{}, false
}

// Observe counts one answer; it is quick and does not block on I/O, so it
// can be the chain's OnAnswer. Answers below Config.MinConfidence are not
// counted.
func (p *Promoter) Observe(a classify.Answered) {
	if !p.cfg.Promote || a.Confidence < p.cfg.MinConfidence || a.Category == "" {
		return
	}
	k, ok := keyOf(a.App, a.Host)
	if !ok {
		return
	}
	h := maphash.String(p.seed, a.Key)
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.candidates[k]
	if c == nil {
		if len(p.candidates) >= p.cfg.MaxCandidates {
			p.untracked++
			return
		}
		c = &candidate{category: a.Category, keys: map[uint64]struct{}{}, minConfident: a.Confidence}
		p.candidates[k] = c
	}
	if c.category != a.Category {
		c.mixed, c.keys = true, nil // inconsistent: remembered so, to never promote it
		return
	}
	if c.mixed {
		return
	}
	if _, seen := c.keys[h]; seen || len(c.keys) >= p.cfg.MinCount {
		return
	}
	c.keys[h] = struct{}{}
	c.minConfident = min(c.minConfident, a.Confidence)
	if a.Source == pomocore.SourceModel {
		c.model++
	} else {
		c.llm++
	}
}

// Promote adds a pattern for each candidate ready for it and returns what
// it added, sorted by kind and pattern. Candidates a pattern already
// decides, or whose category has no category_pattern document, are
// dropped; a failure stops it (what was added stays).
func (p *Promoter) Promote(ctx context.Context) ([]Learned, error) {
	if !p.cfg.Promote {
		return nil, nil
	}
	p.edit.Lock()
	defer p.edit.Unlock()
	var ready []Learned
	p.mu.Lock()
	for k, c := range p.candidates {
		if !c.mixed && len(c.keys) >= p.cfg.MinCount {
			ready = append(ready, Learned{Kind: k.kind, Pattern: k.pattern, Category: c.category, Origin: OriginLearned,
				Answers: len(c.keys), LLMAnswers: c.llm, ModelAnswers: c.model, MinConfidence: c.minConfident})
		}
	}
	p.mu.Unlock()
	if len(ready) == 0 {
		return nil, nil
	}
	sort.Slice(ready, func(i, j int) bool {
		if ready[i].Kind != ready[j].Kind {
			return ready[i].Kind < ready[j].Kind
		}
		return ready[i].Pattern < ready[j].Pattern
	})
	records, err := p.records(ctx)
	if err != nil {
		return nil, err
	}
	reverted := map[candidateKey]bool{}
	for _, r := range records {
		if r.Origin == OriginReverted {
			reverted[candidateKey{r.Kind, strings.ToLower(r.Pattern)}] = true
		}
	}
	var added []Learned
	for _, l := range ready {
		p.forget(candidateKey{l.Kind, l.Pattern})
		if reverted[candidateKey{l.Kind, strings.ToLower(l.Pattern)}] {
			p.deps.Logger.Info("learn: not promoted", "kind", l.Kind, "pattern", l.Pattern, "category", l.Category, "why", "an operator reverted it")
			continue
		}
		l, err := p.promote(ctx, l)
		var np notPromoted
		switch {
		case errors.As(err, &np):
			p.deps.Logger.Info("learn: not promoted", "kind", l.Kind, "pattern", l.Pattern, "category", l.Category, "why", string(np))
			continue
		case err != nil:
			return added, err
		}
		added = append(added, l)
		p.deps.Logger.Info("learn: promoted", "kind", l.Kind, "pattern", l.Pattern, "category", l.Category, "answers", l.Answers)
	}
	return added, nil
}

// notPromoted is why a candidate is not promoted (not a failure).
type notPromoted string

func (n notPromoted) Error() string { return string(n) }

// promote adds l's pattern through the editor, recording it first (a
// failed write forgets the record), and returns l as recorded. A pattern
// that already decides l, a missing document or a change the editor's
// check refuses is a notPromoted.
func (p *Promoter) promote(ctx context.Context, l Learned) (Learned, error) {
	recorded := false
	_, err := p.deps.Editor.Apply(ctx, Update{
		Change: func(current []pomocore.CategoryPattern, _ func() pomocore.ObjectID) ([]pomocore.CategoryPattern, []pomocore.ObjectID, error) {
			return p.promotion(current, l)
		},
		BeforeWrite: func(ctx context.Context, c Change) error {
			l.CategoryID, l.At = c.Written[0].ID, p.deps.Now()
			if err := p.deps.Log.RecordLearned(ctx, l); err != nil {
				return fmt.Errorf("learn: recording %s %q: %w", l.Kind, l.Pattern, err)
			}
			recorded = true
			return nil
		},
	})
	switch {
	case err == nil:
		return l, nil
	case recorded:
		if ferr := p.deps.Log.ForgetLearned(ctx, l.Kind, l.Pattern); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return l, fmt.Errorf("learn: adding %s %q to %s: %w", l.Kind, l.Pattern, l.Category, err)
	case errors.Is(err, classify.ErrNewConflict) || errors.Is(err, classify.ErrBadEdit):
		return l, notPromoted(err.Error())
	case errors.As(err, new(notPromoted)):
		return l, err
	default:
		return l, fmt.Errorf("learn: %w", err)
	}
}

// promotion returns the pattern set with l added and the id of the edited
// document, or why l is not promoted (a notPromoted).
func (p *Promoter) promotion(patterns []pomocore.CategoryPattern, l Learned) ([]pomocore.CategoryPattern, []pomocore.ObjectID, error) {
	m, err := classify.Build(patterns, pomocore.Uncategorized)
	if err != nil {
		return nil, nil, fmt.Errorf("patterns: %w", err)
	}
	if why := decided(patterns, m, l); why != "" {
		return nil, nil, notPromoted(why)
	}
	if !slices.ContainsFunc(patterns, func(cp pomocore.CategoryPattern) bool { return cp.Category == l.Category }) {
		return nil, nil, notPromoted("no category_pattern document for the category")
	}
	e := classify.PatternEdit{Category: l.Category}
	if l.Kind == KindApp {
		e.Apps = []string{l.Pattern}
	} else {
		e.Domains = []string{l.Pattern}
	}
	next, id, err := e.Apply(patterns, func() pomocore.ObjectID { return pomocore.ObjectID{} })
	if err != nil {
		return nil, nil, notPromoted(err.Error())
	}
	return next, []pomocore.ObjectID{id}, nil
}

// decided reports why a pattern already decides l's domain or app: the
// same pattern in any category, or any pattern of m matching it.
func decided(patterns []pomocore.CategoryPattern, m *classify.Matcher, l Learned) string {
	for _, cp := range patterns {
		list := cp.DomainPatterns
		if l.Kind == KindApp {
			list = cp.AppPatterns
		}
		for _, x := range list {
			same := strings.EqualFold(x, l.Pattern)
			if l.Kind == KindApp {
				same = classify.NormalizeApp(x) == l.Pattern
			}
			if same {
				return fmt.Sprintf("a pattern for it exists in %s", cp.Category)
			}
		}
	}
	probe := m.Classify(l.Pattern, "", "")
	if l.Kind == KindDomain {
		probe = m.Classify("", "https://"+l.Pattern+"/", "")
	}
	if probe.Source != pomocore.SourceDefault {
		return fmt.Sprintf("a pattern already classifies it as %s", probe.Category)
	}
	return ""
}

func (p *Promoter) forget(k candidateKey) {
	p.mu.Lock()
	delete(p.candidates, k)
	p.mu.Unlock()
}

// ErrNotLearned is returned by Revert for a pattern promotion did not add.
var ErrNotLearned = errors.New("not a learned pattern")

// List returns the patterns promotion added and no operator reverted,
// oldest first.
func (p *Promoter) List(ctx context.Context) ([]Learned, error) {
	ls, err := p.records(ctx)
	return slices.DeleteFunc(ls, func(l Learned) bool { return l.Origin == OriginReverted }), err
}

// records returns every record of the learned log, reverted ones included.
func (p *Promoter) records(ctx context.Context) ([]Learned, error) {
	ls, err := p.deps.Log.LearnedPatterns(ctx)
	if err != nil {
		return nil, fmt.Errorf("learn: learned patterns: %w", err)
	}
	return ls, nil
}

// ErrAmbiguousLearned is returned by Revert for a pattern learned both as
// an app and as a domain pattern when no kind is given.
var ErrAmbiguousLearned = errors.New("learned both as an app and as a domain pattern: name the kind")

// Revert removes a learned pattern (of kind, or of either kind when kind
// is empty: an app pattern is then found by the app's name too) from its
// category's document and its record, and returns the record. Other
// patterns (the operator's, other learned ones) stay; a pattern promotion
// did not add is refused with ErrNotLearned.
func (p *Promoter) Revert(ctx context.Context, kind Kind, pattern string) (Learned, error) {
	p.edit.Lock()
	defer p.edit.Unlock()
	ls, err := p.List(ctx)
	if err != nil {
		return Learned{}, err
	}
	if kind == "" {
		for _, l := range ls {
			if !strings.EqualFold(l.Pattern, pattern) && l.Pattern != classify.AppPattern(pattern) {
				continue
			}
			if kind != "" && kind != l.Kind {
				return Learned{}, fmt.Errorf("learn: %q: %w", pattern, ErrAmbiguousLearned)
			}
			kind = l.Kind
			if l.Kind == KindApp {
				pattern = l.Pattern
			}
		}
		if kind == "" {
			return Learned{}, fmt.Errorf("learn: %q: %w", pattern, ErrNotLearned)
		}
	}
	i := slices.IndexFunc(ls, func(l Learned) bool { return l.Kind == kind && strings.EqualFold(l.Pattern, pattern) })
	if i < 0 {
		return Learned{}, fmt.Errorf("learn: %s %q: %w", kind, pattern, ErrNotLearned)
	}
	l := ls[i]
	_, err = p.deps.Editor.Apply(ctx, Update{Change: func(patterns []pomocore.CategoryPattern, _ func() pomocore.ObjectID) ([]pomocore.CategoryPattern, []pomocore.ObjectID, error) {
		j := slices.IndexFunc(patterns, func(cp pomocore.CategoryPattern) bool {
			return cp.Category == l.Category && (l.CategoryID.IsZero() || cp.ID == l.CategoryID)
		})
		if j < 0 {
			return patterns, nil, nil
		}
		next := slices.Clone(patterns)
		doc := &next[j]
		if l.Kind == KindApp {
			doc.AppPatterns = slices.DeleteFunc(slices.Clone(doc.AppPatterns), func(x string) bool { return classify.NormalizeApp(x) == l.Pattern })
		} else {
			doc.DomainPatterns = slices.DeleteFunc(slices.Clone(doc.DomainPatterns), func(x string) bool { return strings.EqualFold(x, l.Pattern) })
		}
		if len(doc.AppPatterns) == len(patterns[j].AppPatterns) && len(doc.DomainPatterns) == len(patterns[j].DomainPatterns) {
			return patterns, nil, nil
		}
		return next, []pomocore.ObjectID{doc.ID}, nil
	}, AllowConflicts: true})
	if err != nil {
		return Learned{}, fmt.Errorf("learn: removing %s %q from %s: %w", l.Kind, l.Pattern, l.Category, err)
	}
	// The record stays, as reverted: promotion does not add it again.
	r := l
	r.Origin, r.At = OriginReverted, p.deps.Now()
	if err := p.deps.Log.RecordLearned(ctx, r); err != nil {
		return Learned{}, fmt.Errorf("learn: recording the revert of %s %q: %w", l.Kind, l.Pattern, err)
	}
	return l, nil
}

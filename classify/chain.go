package classify

import (
	"container/list"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/backoff"
)

// Query is what a Fallback is asked about one unknown activity: the app,
// the URL's host and the (sanitised) title; the URL's path only when the
// chain is configured to send it (ChainConfig.SendPath), never the query.
type Query struct {
	App, Host, Path, Title string
}

// Fallback categorises activities the patterns do not know, e.g. with an
// LLM. Categorize answers one category per query, in order; an answer that
// is not one of the chain's categories is treated as the default. It is
// called from the chain's workers only, with a deadline on ctx.
type Fallback interface {
	Categorize(ctx context.Context, queries []Query) ([]string, error)
}

// ChainConfig tunes a Chain. Zero values take the defaults.
type ChainConfig struct {
	// Categories are the answers a fallback may give (the taxonomy's).
	Categories []string
	// Default is the category while an answer is unknown (Uncategorized).
	Default string
	// CacheSize bounds the remembered answers (LRU, default 100,000).
	CacheSize int
	// Workers bounds concurrent fallback calls (default 4).
	Workers int
	// Batch is the most queries per fallback call (default 20).
	Batch int
	// Queue bounds the unknowns waiting for a worker (default 10,000); more
	// are dropped and asked about when seen again.
	Queue int
	// Timeout bounds one fallback call (default 10s).
	Timeout time.Duration
	// Retries is how many times a failed call is retried (default 2), with
	// exponential backoff from RetryBackoff (default 500ms) and jitter.
	Retries      int
	RetryBackoff time.Duration
	// BreakerFailures consecutive failed calls open the circuit breaker for
	// BreakerCooldown (defaults 5 and 30s): no calls while it is open.
	BreakerFailures int
	BreakerCooldown time.Duration
	// TitleRunes caps the title sent (default 200 runes).
	TitleRunes int
	// SendPath also sends the URL's path (without query or fragment); by
	// default only the host leaves the process.
	SendPath bool
	// ModelThreshold is the least confidence at which the model (SetModel)
	// answers an unknown activity the cache does not, instead of the
	// fallback (default 0.9; above 1 it never answers). The model answers
	// only Categories, never Default.
	ModelThreshold float64
	// OnAnswer, when set, is told each answer of the model and each fresh
	// answer of the fallback (not those from the cache), e.g. to promote
	// answers given consistently into patterns. It is called on the
	// Classify path and from the workers, concurrently: it must be quick
	// and must not block. SetOnAnswer replaces it.
	OnAnswer func(Answered)
	// Now is the clock (default time.Now); Sleep waits (default a timer).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

func (c ChainConfig) withDefaults() ChainConfig {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.CacheSize, 100000)
	def(&c.Workers, 4)
	def(&c.Batch, 20)
	def(&c.Queue, 10000)
	def(&c.Retries, 2)
	def(&c.BreakerFailures, 5)
	def(&c.TitleRunes, 200)
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = 500 * time.Millisecond
	}
	if c.BreakerCooldown == 0 {
		c.BreakerCooldown = 30 * time.Second
	}
	if c.Default == "" {
		c.Default = pomocore.Uncategorized
	}
	if c.ModelThreshold == 0 {
		c.ModelThreshold = 0.9
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = backoff.Sleep
	}
	return c
}

// ChainStats counts what a Chain did.
type ChainStats struct {
	Calls, Failures, Answered, CacheHits, Dropped int64
	// ModelAnswers counts unknowns the model answered (confident enough);
	// ModelAbstained those it was asked about and left to the cache or
	// the fallback (below ModelThreshold, or the default category).
	ModelAnswers, ModelAbstained int64
	BreakerOpen                  bool
}

// Answered is one answer of the model or the fallback, as ChainConfig's
// OnAnswer is told it.
type Answered struct {
	// Key identifies the activity asked about (app, host, path and title
	// as the chain compares them): answers with the same key are one
	// activity seen again.
	Key string
	// App is the activity's app name (sanitised), Host its URL's host
	// (lower case, without "www."; empty without a URL).
	App, Host string
	Category  string
	// Source is pomocore.SourceModel or pomocore.SourceLLM.
	Source pomocore.Source
	// Confidence is the model's probability; 1 for the fallback.
	Confidence float64
}

// Chain classifies with the Matcher first; an activity it does not know is
// answered from a bounded cache of earlier fallback answers, or else given
// the default category at once while the fallback is asked in the
// background (off the hot path: Classify never waits for it). Each unknown
// key is asked about once at a time; concurrent sightings share the call.
// Safe for concurrent use; Close stops the workers.
type Chain struct {
	cfg      ChainConfig
	matcher  atomic.Pointer[Matcher]
	model    atomic.Pointer[Model]
	onAnswer atomic.Pointer[func(Answered)]
	fallback Fallback
	known    map[string]bool

	mu       sync.Mutex
	cache    map[string]*list.Element
	lru      *list.List
	inflight map[string]bool

	queue  chan queued
	stop   context.CancelFunc
	ctx    context.Context
	wg     sync.WaitGroup
	failed int   // consecutive failed calls, under mu
	openAt int64 // unix nanos the breaker closes again; 0 when closed

	calls, failures, answered, hits, dropped atomic.Int64
	modelAnswers, modelAbstained             atomic.Int64
}

type queued struct {
	key string
	q   Query
}

type cacheEntry struct {
	key, category string
}

// NewChain starts a chain over m with fallback f (nil: patterns only).
func NewChain(m *Matcher, f Fallback, cfg ChainConfig) *Chain {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Chain{
		cfg: cfg, fallback: f, known: map[string]bool{},
		cache: map[string]*list.Element{}, lru: list.New(), inflight: map[string]bool{},
		queue: make(chan queued, cfg.Queue), ctx: ctx, stop: cancel,
	}
	for _, cat := range cfg.Categories {
		c.known[cat] = true
	}
	c.matcher.Store(m)
	if cfg.OnAnswer != nil {
		c.onAnswer.Store(&cfg.OnAnswer)
	}
	if f != nil {
		for i := 0; i < cfg.Workers; i++ {
			c.wg.Add(1)
			go c.work()
		}
	}
	return c
}

// SetMatcher swaps the pattern matcher (after a pattern reload).
func (c *Chain) SetMatcher(m *Matcher) { c.matcher.Store(m) }

// SetModel swaps the model that answers unknown activities before the
// fallback (nil: none), atomically: a Classify sees the old or the new one.
func (c *Chain) SetModel(m *Model) { c.model.Store(m) }

// SetOnAnswer replaces ChainConfig.OnAnswer (nil: none), e.g. once the
// learning loop that observes the answers has started; safe for
// concurrent use with Classify.
func (c *Chain) SetOnAnswer(f func(Answered)) {
	if f == nil {
		c.onAnswer.Store(nil)
		return
	}
	c.onAnswer.Store(&f)
}

// Close stops the workers and waits for them; unanswered keys are dropped.
func (c *Chain) Close() {
	c.stop()
	c.wg.Wait()
}

// Stats returns the chain's counters.
func (c *Chain) Stats() ChainStats {
	return ChainStats{Calls: c.calls.Load(), Failures: c.failures.Load(), Answered: c.answered.Load(),
		CacheHits: c.hits.Load(), Dropped: c.dropped.Load(), BreakerOpen: c.breakerOpen(),
		ModelAnswers: c.modelAnswers.Load(), ModelAbstained: c.modelAbstained.Load()}
}

// Remember stores an answer learnt elsewhere (e.g. a categorized_data
// document with isLLMBased), so that it is not asked again.
func (c *Chain) Remember(app, url, title, category string) {
	key, _ := c.key(app, url, title)
	c.put(key, category)
}

// Classify implements the pipeline's Classifier: the patterns, then the
// remembered fallback answers, then the model when it is confident enough,
// then the default while the fallback is asked in the background.
func (c *Chain) Classify(app, url, title string) pomocore.Classification {
	cls := c.matcher.Load().Classify(app, url, title)
	if cls.Source != pomocore.SourceDefault {
		return cls
	}
	model := c.model.Load()
	if c.fallback == nil && model == nil {
		return cls
	}
	key, q := c.key(app, url, title)
	if c.fallback == nil {
		if mc, ok := c.askModel(model, key, q, app, url, title); ok {
			return mc
		}
		return cls
	}
	c.mu.Lock()
	if el, ok := c.cache[key]; ok {
		c.lru.MoveToFront(el)
		cat := el.Value.(*cacheEntry).category
		c.mu.Unlock()
		c.hits.Add(1)
		return pomocore.Classification{Category: cat, Source: pomocore.SourceCache}
	}
	c.mu.Unlock()
	if mc, ok := c.askModel(model, key, q, app, url, title); ok {
		return mc
	}
	c.mu.Lock()
	if c.inflight[key] {
		c.mu.Unlock()
		return cls
	}
	c.inflight[key] = true
	c.mu.Unlock()
	select {
	case c.queue <- queued{key, q}:
	default:
		c.dropped.Add(1)
		c.mu.Lock()
		delete(c.inflight, key)
		c.mu.Unlock()
	}
	return cls
}

// askModel asks the model (when there is one) about an unknown activity
// and returns its answer when it is confident enough and one of the
// chain's categories other than the default.
func (c *Chain) askModel(m *Model, key string, q Query, app, url, title string) (pomocore.Classification, bool) {
	if m == nil {
		return pomocore.Classification{}, false
	}
	p := m.Predict(app, url, title)
	if p.Confidence < c.cfg.ModelThreshold || !c.known[p.Category] || p.Category == c.cfg.Default {
		c.modelAbstained.Add(1)
		return pomocore.Classification{}, false
	}
	c.modelAnswers.Add(1)
	if on := c.onAnswer.Load(); on != nil {
		(*on)(Answered{Key: key, App: q.App, Host: q.Host, Category: p.Category,
			Source: pomocore.SourceModel, Confidence: p.Confidence})
	}
	return pomocore.Classification{Category: p.Category, Source: pomocore.SourceModel}, true
}

func (c *Chain) key(app, url, title string) (string, Query) {
	host, path := splitURL(url)
	q := Query{App: pomocore.SanitizeText(app, 100), Host: strings.ToLower(host), Title: pomocore.SanitizeText(title, c.cfg.TitleRunes)}
	if c.cfg.SendPath {
		q.Path = pomocore.SanitizeText(path, 200)
	}
	return NormalizeApp(q.App) + "\x00" + q.Host + "\x00" + q.Path + "\x00" + strings.ToLower(q.Title), q
}

func (c *Chain) put(key, category string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.cache[key]; ok {
		el.Value.(*cacheEntry).category = category
		c.lru.MoveToFront(el)
		return
	}
	c.cache[key] = c.lru.PushFront(&cacheEntry{key: key, category: category})
	for c.lru.Len() > c.cfg.CacheSize {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.cache, old.Value.(*cacheEntry).key)
	}
}

func (c *Chain) breakerOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.openAt != 0 && c.cfg.Now().UnixNano() < c.openAt
}

// work takes batches of unknowns and asks the fallback about them.
func (c *Chain) work() {
	defer c.wg.Done()
	for {
		var batch []queued
		select {
		case <-c.ctx.Done():
			return
		case first := <-c.queue:
			batch = append(batch, first)
		}
	fill:
		for len(batch) < c.cfg.Batch {
			select {
			case more := <-c.queue:
				batch = append(batch, more)
			default:
				break fill
			}
		}
		c.ask(batch)
	}
}

func (c *Chain) ask(batch []queued) {
	defer func() {
		c.mu.Lock()
		for _, b := range batch {
			delete(c.inflight, b.key)
		}
		c.mu.Unlock()
	}()
	if c.breakerOpen() {
		c.dropped.Add(int64(len(batch)))
		return // asked again when seen after the cooldown
	}
	queries := make([]Query, len(batch))
	for i, b := range batch {
		queries[i] = b.q
	}
	var answers []string
	var err error
	for attempt := 0; attempt <= c.cfg.Retries; attempt++ {
		if attempt > 0 {
			wait := backoff.Policy{Min: c.cfg.RetryBackoff, Max: c.cfg.RetryBackoff << c.cfg.Retries}.Wait(attempt)
			if c.cfg.Sleep(c.ctx, wait) != nil {
				return
			}
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Timeout)
		c.calls.Add(1)
		answers, err = c.fallback.Categorize(ctx, queries)
		cancel()
		if err == nil && len(answers) != len(queries) {
			err = errors.New("fallback answered a different number of queries")
		}
		if err == nil {
			break
		}
		c.failures.Add(1)
		if c.recordFailure() || c.ctx.Err() != nil {
			c.dropped.Add(int64(len(batch)))
			return
		}
	}
	if err != nil {
		c.dropped.Add(int64(len(batch)))
		return
	}
	c.mu.Lock()
	c.failed, c.openAt = 0, 0
	c.mu.Unlock()
	for i, b := range batch {
		cat := strings.TrimSpace(answers[i])
		if !c.known[cat] {
			cat = c.cfg.Default // only ever a configured category
		}
		c.put(b.key, cat)
		c.answered.Add(1)
		if on := c.onAnswer.Load(); on != nil && cat != c.cfg.Default {
			(*on)(Answered{Key: b.key, App: b.q.App, Host: b.q.Host, Category: cat,
				Source: pomocore.SourceLLM, Confidence: 1})
		}
	}
}

// recordFailure counts a failed call and reports whether the breaker is
// now open.
func (c *Chain) recordFailure() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed++
	if c.failed >= c.cfg.BreakerFailures {
		c.openAt = c.cfg.Now().Add(c.cfg.BreakerCooldown).UnixNano()
		c.failed = 0
		return true
	}
	return false
}

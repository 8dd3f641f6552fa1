package classify

import (
	"cmp"
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

// ChainConfig tunes a Chain. DefaultChainConfig returns the defaults, the
// one place they are written; Validate checks a config as it is. NewChain
// takes a zero field of a partial ChainConfig as DefaultChainConfig's
// value, but Linger, whose zero means no wait.
type ChainConfig struct {
	// Categories are the answers a fallback may give (the taxonomy's).
	Categories []string
	// Default is the category while an answer is unknown (Uncategorized).
	Default string
	// CacheSize bounds the remembered answers (LRU, default 100,000).
	CacheSize int
	// Workers bounds concurrent fallback calls (default 4).
	Workers int
	// Batch is the most queries per fallback call (default 30).
	Batch int
	// Linger is how long a worker that has one unknown waits for more to
	// fill its call (default 200ms, at most 5s): unknowns seen within it
	// share one call, up to Batch. 0: no wait (a call takes what is
	// queued).
	Linger time.Duration
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
	// Keep, when set, is given the fallback's answers of each call as soon
	// as they arrive (those that are one of Categories, the default
	// included), e.g. to store them so that a restarted or another
	// instance knows them without asking again. It is called from the
	// workers, after the waiters were told: it may block for a while (the
	// worker waits), never forever.
	Keep func([]Answered)
	// Now is the clock (default time.Now); Sleep waits (default a timer).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultChainConfig returns the chain's defaults.
func DefaultChainConfig() ChainConfig {
	return ChainConfig{
		Default:         pomocore.Uncategorized,
		CacheSize:       100000,
		Workers:         4,
		Batch:           30,
		Linger:          200 * time.Millisecond,
		Queue:           10000,
		Timeout:         10 * time.Second,
		Retries:         2,
		RetryBackoff:    500 * time.Millisecond,
		BreakerFailures: 5,
		BreakerCooldown: 30 * time.Second,
		TitleRunes:      200,
		ModelThreshold:  0.9,
	}
}

// withDefaults fills the zero fields of a partial ChainConfig (see
// ChainConfig) from DefaultChainConfig, and the clock and wait (time.Now,
// a timer).
func (c ChainConfig) withDefaults() ChainConfig {
	d := DefaultChainConfig()
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.CacheSize, d.CacheSize)
	def(&c.Workers, d.Workers)
	def(&c.Batch, d.Batch)
	def(&c.Queue, d.Queue)
	def(&c.Retries, d.Retries)
	def(&c.BreakerFailures, d.BreakerFailures)
	def(&c.TitleRunes, d.TitleRunes)
	c.Timeout = cmp.Or(c.Timeout, d.Timeout)
	c.RetryBackoff = cmp.Or(c.RetryBackoff, d.RetryBackoff)
	c.BreakerCooldown = cmp.Or(c.BreakerCooldown, d.BreakerCooldown)
	c.Default = cmp.Or(c.Default, d.Default)
	c.ModelThreshold = cmp.Or(c.ModelThreshold, d.ModelThreshold)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = backoff.Sleep
	}
	return c
}

// Validate reports the settings of the fallback's calls that cannot work,
// as they are, each as a *pomocore.ConfigError naming the field (joined).
func (c ChainConfig) Validate() error {
	var errs pomocore.ConfigErrors
	bad := errs.Add
	if c.CacheSize < 1 {
		bad("CacheSize", "%d: want >= 1", c.CacheSize)
	}
	if c.Workers < 1 || c.Workers > 64 {
		bad("Workers", "%d: want 1..64", c.Workers)
	}
	if c.Batch < 1 || c.Batch > 100 {
		bad("Batch", "%d: want 1..100", c.Batch)
	}
	if c.Linger < 0 || c.Linger > 5*time.Second {
		bad("Linger", "%v: want 0..5s", c.Linger)
	}
	if c.Timeout <= 0 {
		bad("Timeout", "%v: want > 0", c.Timeout)
	}
	return errors.Join(errs...)
}

// ChainStats counts what a Chain did.
type ChainStats struct {
	Calls, Failures, Answered, CacheHits, Dropped int64
	// ModelAnswers counts unknowns the model answered (confident enough);
	// ModelAbstained those it was asked about and left to the cache or
	// the fallback (below ModelThreshold, or the default category).
	ModelAnswers, ModelAbstained int64
	// Awaiting is how many unknown activities are being asked about now.
	Awaiting    int64
	BreakerOpen bool
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
	// Reported is the activity as it was reported (unsanitised), the key
	// under which a store remembers the answer (see Chain.Remember).
	Reported Reported
}

// Reported is an activity's app, URL and title as the client reported
// them.
type Reported struct {
	App, URL, Title string
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
	inflight map[string]*Pending // the keys queued or being asked about

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
	key      string
	q        Query
	reported Reported
	pending  *Pending
}

// Pending is the fallback's answer for one unknown activity, on its way
// (it implements pomocore.Awaited). Every sighting of the activity while
// it is asked about shares it.
type Pending struct {
	done chan struct{}
	cls  pomocore.Classification
	ok   bool
}

// Done is closed once the answer is known or the chain gave up asking.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Result returns, after Done, the fallback's answer (Source llm) and true,
// or the default category and false when the chain gave up (failed calls,
// an open breaker, Close).
func (p *Pending) Result() (pomocore.Classification, bool) {
	select {
	case <-p.done:
		return p.cls, p.ok
	default:
		return pomocore.Classification{}, false
	}
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
		cache: map[string]*list.Element{}, lru: list.New(), inflight: map[string]*Pending{},
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

// Close stops the workers and waits for them; the activities still asked
// about are given up (their Pending is done, with the default).
func (c *Chain) Close() {
	c.stop()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, p := range c.inflight {
		c.resolveLocked(key, p, pomocore.Classification{Category: c.cfg.Default, Source: pomocore.SourceDefault}, false)
	}
}

// Stats returns the chain's counters.
func (c *Chain) Stats() ChainStats {
	return ChainStats{Calls: c.calls.Load(), Failures: c.failures.Load(), Answered: c.answered.Load(),
		CacheHits: c.hits.Load(), Dropped: c.dropped.Load(), BreakerOpen: c.breakerOpen(),
		ModelAnswers: c.modelAnswers.Load(), ModelAbstained: c.modelAbstained.Load(), Awaiting: c.awaiting()}
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
	cls, _ := c.Decide(app, url, title)
	return cls
}

// Decide is Classify for a caller that can wait for the fallback: when the
// fallback is being asked about the activity (now, or already for an
// earlier sighting), it returns the default classification and the answer
// on its way; otherwise the classification and nil. An activity is not
// asked about (and nil returned) when there is no fallback, while the
// circuit breaker is open, or when the queue is full.
func (c *Chain) Decide(app, url, title string) (pomocore.Classification, pomocore.Awaited) {
	cls := c.matcher.Load().Classify(app, url, title)
	if cls.Source != pomocore.SourceDefault {
		return cls, nil
	}
	model := c.model.Load()
	if c.fallback == nil && model == nil {
		return cls, nil
	}
	key, q := c.key(app, url, title)
	if c.fallback == nil {
		if mc, ok := c.askModel(model, key, q, app, url, title); ok {
			return mc, nil
		}
		return cls, nil
	}
	c.mu.Lock()
	if el, ok := c.cache[key]; ok {
		c.lru.MoveToFront(el)
		cat := el.Value.(*cacheEntry).category
		c.mu.Unlock()
		c.hits.Add(1)
		return pomocore.Classification{Category: cat, Source: pomocore.SourceCache}, nil
	}
	c.mu.Unlock()
	if mc, ok := c.askModel(model, key, q, app, url, title); ok {
		return mc, nil
	}
	if c.breakerOpen() {
		c.dropped.Add(1)
		return cls, nil
	}
	c.mu.Lock()
	if p, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		return cls, p
	}
	p := &Pending{done: make(chan struct{})}
	c.inflight[key] = p
	c.mu.Unlock()
	select {
	case c.queue <- queued{key: key, q: q, reported: Reported{App: app, URL: url, Title: title}, pending: p}:
		return cls, p
	default:
		c.dropped.Add(1)
		c.mu.Lock()
		c.resolveLocked(key, p, cls, false)
		c.mu.Unlock()
		return cls, nil
	}
}

// resolveLocked tells the waiters of key their answer and forgets the key
// as asked about; c.mu is held.
func (c *Chain) resolveLocked(key string, p *Pending, cls pomocore.Classification, ok bool) {
	if c.inflight[key] == p {
		delete(c.inflight, key)
	}
	select {
	case <-p.done:
	default:
		p.cls, p.ok = cls, ok
		close(p.done)
	}
}

func (c *Chain) awaiting() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int64(len(c.inflight))
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
		batch = c.fill(batch)
		c.ask(batch)
	}
}

// fill adds queued unknowns to batch until it holds Batch of them, waiting
// up to Linger from now for more to arrive.
func (c *Chain) fill(batch []queued) []queued {
	var deadline <-chan time.Time
	if c.cfg.Linger > 0 {
		t := time.NewTimer(c.cfg.Linger)
		defer t.Stop()
		deadline = t.C
	}
	for len(batch) < c.cfg.Batch {
		select {
		case more := <-c.queue:
			batch = append(batch, more)
			continue
		default:
		}
		if deadline == nil {
			return batch
		}
		select {
		case more := <-c.queue:
			batch = append(batch, more)
		case <-deadline:
			return batch
		case <-c.ctx.Done():
			return batch
		}
	}
	return batch
}

// ask asks the fallback about batch and tells each activity's waiters the
// answer, or the default when the call fails for good.
func (c *Chain) ask(batch []queued) {
	var answers []string
	// Every waiter is told, answered or not: those told already (below)
	// are left alone by resolveLocked.
	defer c.resolve(batch, nil)
	if c.breakerOpen() {
		c.dropped.Add(int64(len(batch)))
		return // asked again when seen after the cooldown
	}
	queries := make([]Query, len(batch))
	for i, b := range batch {
		queries[i] = b.q
	}
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
	kept := make([]Answered, 0, len(batch))
	got := make([]*pomocore.Classification, len(batch))
	for i, b := range batch {
		cat := strings.TrimSpace(answers[i])
		if cat == "" {
			continue // this one unanswered (the others were): asked again when seen
		}
		if !c.known[cat] {
			cat = c.cfg.Default // only ever a configured category
		}
		got[i] = &pomocore.Classification{Category: cat, Source: pomocore.SourceLLM}
		c.put(b.key, cat)
		c.answered.Add(1)
		a := Answered{Key: b.key, App: b.q.App, Host: b.q.Host, Category: cat,
			Source: pomocore.SourceLLM, Confidence: 1, Reported: b.reported}
		kept = append(kept, a)
		if on := c.onAnswer.Load(); on != nil && cat != c.cfg.Default {
			(*on)(a)
		}
	}
	// The waiters need not wait for the store: tell them first.
	c.resolve(batch, got)
	if c.cfg.Keep != nil && len(kept) > 0 {
		c.cfg.Keep(kept)
	}
}

// resolve tells the waiters of batch their answers (got[i], nil for none:
// the default, not ok).
func (c *Chain) resolve(batch []queued, got []*pomocore.Classification) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, b := range batch {
		if got != nil && got[i] != nil {
			c.resolveLocked(b.key, b.pending, *got[i], true)
		} else {
			c.resolveLocked(b.key, b.pending, pomocore.Classification{Category: c.cfg.Default, Source: pomocore.SourceDefault}, false)
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

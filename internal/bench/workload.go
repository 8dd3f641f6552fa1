package bench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/pipeline"
)

// workloadConfig shapes the benchmark's synthetic activity events.
type workloadConfig struct {
	Users   int     // distinct userIds
	Keys    int     // distinct (app, url, title) keys
	Zipf    float64 // skew of key popularity (s > 1)
	Days    int     // timestamps spread over this many days before Now (0: live, see Clock)
	EndRate float64 // share of events that end a session
	BadRate float64 // share of malformed events (dead-lettered, never counted)
	GivenID bool    // events name pre-created documents (categorizedDataId, pomodoroUsageLogId)
	// KnownOnly: no unknown apps or sites; the patterns decide every key.
	KnownOnly bool
	Seed      uint64
	Now       time.Time
	// Clock, with Days 0, stamps each event with the time it is made minus
	// up to a minute, as live clients report what they just did.
	Clock func() time.Time
}

// workKey is one distinct (app, url, title) of the workload.
type workKey struct {
	app, url, title string
	cdID            pomocore.ObjectID // the pre-created categorized_data (GivenID)
}

// event is one generated activity.
type event struct {
	user     int
	key      int
	duration int // seconds, 1..300
	ts       int64
	session  int
	end, bad bool
	logID    pomocore.ObjectID // the pre-created usage log (GivenID)
}

// workload generates events deterministically from its seed.
type workload struct {
	cfg  workloadConfig
	keys []workKey
	rng  *rand.Rand
	zipf *rand.Zipf
	seq  uint32
}

// apps and domains are recognisable names the built-in patterns
// classify; a share of keys use unknown apps, which fall to the default.
var (
	apps    = []string{"Xcode", "Visual Studio Code", "Figma", "Slack", "Notion", "Microsoft Excel", "Zoom", "Spotify", "Steam", "Terminal", "Finder", "Final Cut Pro", "IntelliJ IDEA", "Discord", "Keynote"}
	domains = []string{"github.com", "stackoverflow.com", "youtube.com", "twitter.com", "instagram.com", "chatgpt.com", "docs.google.com", "netflix.com", "coursera.org", "amazon.com", "figma.com", "reddit.com", "news.ycombinator.com", "linkedin.com", "notion.so"}
	browser = "Google Chrome"
)

func newWorkload(cfg workloadConfig) *workload {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	w := &workload{cfg: cfg, rng: rng, zipf: rand.NewZipf(rng, cfg.Zipf, 1, uint64(cfg.Keys-1))}
	w.keys = make([]workKey, cfg.Keys)
	for i := range w.keys {
		k := &w.keys[i]
		switch r := rng.IntN(10); {
		case r < 5: // a browser on a known or unknown site
			d := domains[rng.IntN(len(domains))]
			if rng.IntN(8) == 0 && !cfg.KnownOnly {
				d = "site" + strconv.Itoa(i) + ".example"
			}
			k.app, k.url, k.title = browser, "https://"+d+"/page/"+strconv.Itoa(i), "Page "+strconv.Itoa(i)
		case r < 9:
			k.app, k.title = apps[rng.IntN(len(apps))], "Document "+strconv.Itoa(i)
		default:
			k.app, k.title = "Tool"+strconv.Itoa(i), "Window "+strconv.Itoa(i)
			if cfg.KnownOnly {
				k.app = apps[rng.IntN(len(apps))]
			}
		}
		k.cdID = objectID(cfg.Now, 1, uint32(i))
	}
	return w
}

// objectID returns a deterministic id of kind (1 categorized_data, 2
// usage log) and number n.
func objectID(t time.Time, kind byte, n uint32) pomocore.ObjectID {
	var id pomocore.ObjectID
	s := uint32(t.Unix())
	id[0], id[1], id[2], id[3] = byte(s>>24), byte(s>>16), byte(s>>8), byte(s)
	id[4], id[5], id[6], id[7] = 0xbe, 0x4c, kind, 0
	id[8], id[9], id[10], id[11] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return id
}

// next returns the next event.
func (w *workload) timestamp() int64 {
	if w.cfg.Days == 0 {
		return w.cfg.Clock().Unix() - w.rng.Int64N(60)
	}
	return w.cfg.Now.Unix() - w.rng.Int64N(int64(w.cfg.Days)*86400)
}

func (w *workload) next() event {
	w.seq++
	e := event{
		user:     w.rng.IntN(w.cfg.Users),
		key:      int(w.zipf.Uint64()),
		duration: 1 + w.rng.IntN(300),
		ts:       w.timestamp(),
		session:  1 + w.rng.IntN(8),
		end:      w.rng.Float64() < w.cfg.EndRate,
		bad:      w.rng.Float64() < w.cfg.BadRate,
	}
	if w.cfg.GivenID && !e.bad {
		e.logID = objectID(w.cfg.Now, 2, w.seq)
	}
	return e
}

// fields returns the event as stream entry fields (the CONTRACT's).
func (w *workload) fields(e event, loc *time.Location, buf []any) []any {
	k := &w.keys[e.key]
	dur := strconv.Itoa(e.duration)
	if e.bad {
		dur = "not-a-number"
	}
	buf = append(buf[:0],
		"userId", "u"+strconv.Itoa(e.user), "app", k.app, "title", k.title, "url", k.url,
		"duration", dur, "timestamp", strconv.FormatInt(e.ts, 10), "session", strconv.Itoa(e.session),
		"sessionDate", time.Unix(e.ts, 0).In(loc).Format(time.DateOnly), "sessionMinutes", "25",
		"isEnd", strconv.FormatBool(e.end))
	if w.cfg.GivenID && !e.bad {
		buf = append(buf, "categorizedDataId", k.cdID.Hex(), "pomodoroUsageLogId", e.logID.Hex())
	}
	return buf
}

// precreated returns the records that create the documents a GivenID event
// names, without a category (as the main server creates them).
func (w *workload) precreated(e event, loc *time.Location) pipeline.Record {
	k := &w.keys[e.key]
	return pipeline.Record{
		Activity: pomocore.Activity{
			UserID: "u" + strconv.Itoa(e.user), App: k.app, URL: k.url, Title: k.title,
			Duration: float64(e.duration), Timestamp: float64(e.ts), Session: e.session,
			SessionDate: time.Unix(e.ts, 0).In(loc).Format(time.DateOnly), SessionMinutes: 25,
			CategorizedDataID: k.cdID, UsageLogID: e.logID,
		},
		UsageLogID: e.logID,
	}
}

// expectation is what a correct run leaves behind, accumulated while the
// events are produced.
type expectation struct {
	classifier pipeline.Classifier
	tax        *pomocore.Taxonomy
	loc        *time.Location
	prefix     string

	category map[int]string // key index -> category
	sums     map[string]float64
	events   int
	valid    int
	ends     int
	bad      int
	keysUsed map[int]bool
	// perCategory counts valid events by category.
	perCategory map[string]int
}

func newExpectation(c pipeline.Classifier, tax *pomocore.Taxonomy, loc *time.Location, prefix string) *expectation {
	return &expectation{classifier: c, tax: tax, loc: loc, prefix: prefix,
		category: map[int]string{}, sums: map[string]float64{}, keysUsed: map[int]bool{}, perCategory: map[string]int{}}
}

// add accounts for one produced event.
func (x *expectation) add(w *workload, e event) {
	x.events++
	if e.end {
		x.ends++ // a malformed duration still ends the session
	}
	if e.bad {
		x.bad++
		return
	}
	x.valid++
	x.keysUsed[e.key] = true
	cat, ok := x.category[e.key]
	if !ok {
		k := &w.keys[e.key]
		cat = x.classifier.Classify(k.app, k.url, k.title).Category
		if !x.tax.Has(cat) {
			cat = x.tax.Default
		}
		x.category[e.key] = cat
	}
	x.perCategory[cat]++
	per := pomocore.PeriodsAt(time.Unix(e.ts, 0), x.loc).All()
	for _, p := range per {
		x.sums[pomocore.LeaderboardKey(x.prefix, cat, p)] += float64(e.duration)
	}
	if x.tax.IsWork(cat) {
		for _, p := range per {
			x.sums[pomocore.LeaderboardKey(x.prefix, x.tax.WorkAggregate, p)] += float64(e.duration)
		}
	}
}

func (x *expectation) String() string {
	return fmt.Sprintf("%d events (%d valid, %d malformed, %d session ends), %d distinct keys, %d leaderboard keys",
		x.events, x.valid, x.bad, x.ends, len(x.keysUsed), len(x.sums))
}

// Package accuracy measures whether the leaderboards carry the right
// category (issue 24 item 6): production-shaped traffic drawn from the
// repository's labelled activities, a fake OpenAI-compatible endpoint that
// answers with the ground truth after a realistic latency, the real
// pipeline (internal/app) and a simulation of the deployed data server over
// the same traffic, and the share of leaderboard seconds in the right
// category for both.
//
// It is a measuring tool, like internal/bench: only its tests import it
// (TestAccuracySmall in CI; the full measurement with -accuracy.full, see
// BENCHMARKS.md "Right category before it counts").
package accuracy

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/eval"
)

// Row is one labelled activity of the repository's data.
type Row struct {
	App, URL, Title string
	// Category is its category in production's semantics (docs/categories.md).
	Category string
	// Source is the file it comes from, without its extension.
	Source string
}

// Subject is what a user comes back to: a browser site (its host) or an
// app (its lower-cased name); the rows are the labelled activities on it.
func (r Row) Subject() string {
	if h := Host(r.URL); h != "" {
		return "site:" + h
	}
	return "app:" + strings.ToLower(r.App)
}

// Host is the lower-cased host of rawURL without "www.", or "" when it has
// none.
func Host(rawURL string) string {
	if rawURL == "" {
		return ""
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(strings.ToLower(u.Hostname()), "www.")
}

// DefaultSources are the labelled files of testdata/ and the share of
// sightings each contributes: the blind and hand-labelled sets (real
// titles of real tools and sites, a third or more unknown to production's
// patterns) most, production-derived (each production pattern as an
// activity: what production's patterns know) the rest.
var DefaultSources = map[string]float64{"blind": 0.45, "labeled": 0.30, "production-derived": 0.25}

// LoadRows reads the labelled rows of the named files (JSON lines, "//"
// comment lines skipped) from dir. A row that appears in more than one file
// is kept once, with its first label in the order blind, labeled,
// production-derived, then the rest by name.
func LoadRows(dir string, sources []string) ([]Row, error) {
	order := func(s string) int {
		switch s {
		case "blind":
			return 0
		case "labeled":
			return 1
		case "production-derived":
			return 2
		}
		return 3
	}
	sources = slices.Clone(sources)
	slices.SortFunc(sources, func(a, b string) int { return cmp.Or(cmp.Compare(order(a), order(b)), strings.Compare(a, b)) })
	seen := map[[3]string]bool{}
	var rows []Row
	for _, src := range sources {
		raw, err := os.ReadFile(filepath.Join(dir, src+".jsonl"))
		if err != nil {
			return nil, fmt.Errorf("accuracy: %w", err)
		}
		var kept [][]byte
		for _, l := range bytes.Split(raw, []byte("\n")) {
			if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("//")) {
				kept = append(kept, l)
			}
		}
		err = eval.EachLine(bytes.NewReader(bytes.Join(kept, []byte("\n"))), func(n int, l eval.Line) error {
			if l.Category == "" {
				return fmt.Errorf("line %d: no category", n)
			}
			k := [3]string{l.App, l.URL, l.Title}
			if !seen[k] {
				seen[k] = true
				rows = append(rows, Row{App: l.App, URL: l.URL, Title: l.Title, Category: l.Category, Source: src})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("accuracy: %s: %w", src, err)
		}
	}
	return rows, nil
}

// TrafficConfig shapes the generated traffic. Zero values take the
// defaults (see Defaults).
type TrafficConfig struct {
	// Entries is how many activities to generate (at least; the last
	// session is completed).
	Entries int
	// Users is how many users produce them.
	Users int
	// Seed makes the traffic; the same seed gives the same traffic.
	Seed uint64
	// Start is when the first session starts.
	Start time.Time
	// Sources weighs the labelled files by share of the subjects users
	// visit (default DefaultSources).
	Sources map[string]float64
	// WorkingSet is how many subjects (sites, apps) each user comes back to.
	WorkingSet int
	// Repeat is the share of sightings whose title (and URL) are those of
	// an earlier sighting exactly; the others vary (a file name, a count,
	// a number in the title and the URL).
	Repeat float64
}

// Defaults fills in the zero fields.
func (c TrafficConfig) Defaults() TrafficConfig {
	c.Entries = cmp.Or(c.Entries, 5000)
	c.Users = cmp.Or(c.Users, 40)
	c.Seed = cmp.Or(c.Seed, 24)
	if c.Start.IsZero() {
		c.Start = time.Date(2025, 10, 20, 8, 0, 0, 0, seoul)
	}
	if c.Sources == nil {
		c.Sources = DefaultSources
	}
	c.WorkingSet = cmp.Or(c.WorkingSet, 40)
	if c.Repeat == 0 {
		c.Repeat = 0.25
	}
	return c
}

// Entry is one activity of the traffic, with its ground truth.
type Entry struct {
	UserID                  string
	App, URL, Title         string
	Duration                int     // seconds
	Timestamp               float64 // unix seconds
	Session, SessionMinutes int
	SessionDate             string
	IsEnd                   bool
	UsageLogID, CatDataID   pomocore.ObjectID
	// Truth is the category the activity has in production's semantics.
	Truth  string
	Source string
}

// Fields returns the entry as the main server XADDs it: the 12 fields of
// PomodoroPatternClassifyMessage as Jackson writes them (timestamp
// "1.7570520005E9", duration "12.0", a missing URL as "").
func (e Entry) Fields() []any {
	return []any{
		"userId", e.UserID, "categorizedDataId", e.CatDataID.Hex(), "pomodoroUsageLogId", e.UsageLogID.Hex(),
		"url", e.URL, "title", e.Title, "app", e.App, "session", strconv.Itoa(e.Session),
		"sessionDate", e.SessionDate, "sessionMinutes", strconv.Itoa(e.SessionMinutes),
		"duration", JavaDouble(float64(e.Duration)), "timestamp", JavaDouble(e.Timestamp),
		"isEnd", strconv.FormatBool(e.IsEnd),
	}
}

// JavaDouble formats v as Java's Double.toString does for the values of
// the stream: "12.0", "1.7570520005E9".
func JavaDouble(v float64) string {
	if v != 0 && (math.Abs(v) >= 1e7 || math.Abs(v) < 1e-3) {
		s := strconv.FormatFloat(v, 'E', -1, 64)
		mant, exp, _ := strings.Cut(s, "E")
		if !strings.Contains(mant, ".") {
			mant += ".0"
		}
		e, _ := strconv.Atoi(exp)
		return mant + "E" + strconv.Itoa(e)
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// Upload is what the main server sends at once: one session's activities,
// the last with isEnd.
type Upload []Entry

// Traffic is the generated traffic, uploads in the order they are sent.
type Traffic struct {
	Uploads []Upload
	// Variants counts the distinct (app, url, title) sent.
	Variants int
}

// Entries returns every entry in the order sent.
func (t *Traffic) Entries() []Entry {
	var out []Entry
	for _, u := range t.Uploads {
		out = append(out, u...)
	}
	return out
}

var seoul = func() *time.Location {
	l, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		return time.FixedZone("KST", 9*3600)
	}
	return l
}()

// Seoul is the time zone of the leaderboard periods.
func Seoul() *time.Location { return seoul }

type subject struct {
	rows   []Row
	weight float64
}

type userState struct {
	id      string
	set     []int // subject indexes, most visited first
	zipf    *rand.Zipf
	clock   time.Time
	session int
	seen    map[int][]variant // by row index: the variants sent before
}

type variant struct{ url, title string }

// Generate makes the traffic of cfg from rows, deterministically. Rows
// with neither an app nor a URL are left out: the pipeline rejects such an
// entry (a dead letter), so it has no place on a leaderboard.
func Generate(rows []Row, cfg TrafficConfig) (*Traffic, error) {
	cfg = cfg.Defaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	bySubject := map[string]int{}
	var subjects []subject
	perSource := map[string]int{}
	for i, r := range rows {
		if r.App == "" && r.URL == "" {
			continue // not an activity the main server sends (and pomocore dead-letters it)
		}
		k := r.Source + "|" + r.Subject()
		j, ok := bySubject[k]
		if !ok {
			j = len(subjects)
			bySubject[k] = j
			subjects = append(subjects, subject{})
			perSource[r.Source]++
		}
		subjects[j].rows = append(subjects[j].rows, rows[i])
	}
	var total float64
	for i := range subjects {
		src := subjects[i].rows[0].Source
		// Popularity: the source's share spread over its subjects, with a
		// heavy tail (some sites and apps are everyone's).
		subjects[i].weight = cfg.Sources[src] / float64(perSource[src]) * math.Pow(1-rng.Float64(), -0.7)
		total += subjects[i].weight
	}
	if total == 0 {
		return nil, fmt.Errorf("accuracy: no rows of the sources %v", cfg.Sources)
	}
	users := make([]*userState, cfg.Users)
	for i := range users {
		u := &userState{id: "u" + strconv.Itoa(i+1), seen: map[int][]variant{}}
		u.set = weightedDistinct(rng, subjects, min(cfg.WorkingSet, len(subjects)))
		u.zipf = rand.NewZipf(rng, 1.3, 2, uint64(len(u.set)-1))
		u.clock = cfg.Start.Add(time.Duration(rng.IntN(3*3600)) * time.Second)
		users[i] = u
	}
	type pending struct {
		end time.Time
		up  Upload
	}
	var ups []pending
	variants := map[[3]string]bool{}
	seq := uint32(0)
	n := 0
	for n < cfg.Entries {
		for _, u := range users {
			if n >= cfg.Entries {
				break
			}
			u.session++
			minutes := []int{25, 25, 25, 50}[rng.IntN(4)]
			start := u.clock
			budget := minutes * 60
			var up Upload
			t := start
			for budget > 0 {
				d := min(budget, activitySeconds(rng))
				budget -= d
				si := u.set[int(u.zipf.Uint64())]
				s := subjects[si]
				ri := rng.IntN(len(s.rows))
				row := s.rows[ri]
				v := u.sighting(rng, si*1000+ri, row, cfg.Repeat)
				variants[[3]string{row.App, v.url, v.title}] = true
				seq++
				up = append(up, Entry{
					UserID: u.id, App: row.App, URL: v.url, Title: v.title, Duration: d,
					Timestamp: float64(t.Unix()) + float64(rng.IntN(10))/10, Session: u.session,
					SessionMinutes: minutes, SessionDate: start.In(seoul).Format(time.DateOnly),
					UsageLogID: objectID(cfg.Start, 1, seq), CatDataID: objectID(cfg.Start, 2, seq),
					Truth: row.Category, Source: row.Source,
				})
				t = t.Add(time.Duration(d) * time.Second)
			}
			up[len(up)-1].IsEnd = true
			n += len(up)
			ups = append(ups, pending{end: t, up: up})
			u.clock = t.Add(time.Duration(5+rng.IntN(40)) * time.Minute)
		}
	}
	slices.SortStableFunc(ups, func(a, b pending) int { return a.end.Compare(b.end) })
	tr := &Traffic{Variants: len(variants)}
	for _, p := range ups {
		tr.Uploads = append(tr.Uploads, p.up)
	}
	return tr, nil
}

// activitySeconds draws how long one foreground activity lasts: mostly
// seconds to a few minutes, now and then much longer.
func activitySeconds(rng *rand.Rand) int {
	return max(3, min(1500, int(math.Exp(3.5+1.2*rng.NormFloat64()))))
}

// weightedDistinct draws k distinct subjects by weight.
func weightedDistinct(rng *rand.Rand, subjects []subject, k int) []int {
	// Efraimidis-Spirakis: the k largest u^(1/w).
	type key struct {
		i int
		k float64
	}
	keys := make([]key, len(subjects))
	for i, s := range subjects {
		keys[i] = key{i, math.Pow(rng.Float64(), 1/s.weight)}
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Compare(b.k, a.k) })
	out := make([]int, k)
	for i := range out {
		out[i] = keys[i].i
	}
	return out
}

// sighting returns the URL and title of one sighting of row: one sent
// before (a share repeat), or a new variant.
func (u *userState) sighting(rng *rand.Rand, key int, row Row, repeat float64) variant {
	prev := u.seen[key]
	if len(prev) > 0 && rng.Float64() < repeat {
		return prev[rng.IntN(len(prev))]
	}
	var v variant
	if len(prev) == 0 && rng.Float64() < 0.5 {
		v = variant{row.URL, row.Title} // the labelled activity as it is
	} else {
		v = variant{varyURL(rng, row.URL), varyTitle(rng, row)}
	}
	u.seen[key] = append(u.seen[key], v)
	return v
}

var (
	fileRe   = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_-]*\.(go|kt|java|ts|tsx|js|jsx|py|md|yml|yaml|json|swift|rs|c|cpp|h|sql|txt|html|css|scss|sh|toml|xml|gradle|ipynb|pdf|docx|xlsx|pptx|key|numbers|pages|fig|psd|png|jpg|mov|mp4)\b`)
	digitsRe = regexp.MustCompile(`[0-9]+`)
	stems    = []string{"main", "index", "utils", "handler", "service", "config", "README", "api", "model", "test", "app", "report", "notes", "draft", "final", "v2", "schema", "routes", "store", "page"}
)

// varyTitle changes what varies between sightings of the same activity and
// never its category: a file name's stem, the numbers (issue, lecture,
// page), a notification or tab count.
func varyTitle(rng *rand.Rand, row Row) string {
	t := row.Title
	switch {
	case fileRe.MatchString(t) && rng.IntN(4) != 0:
		return fileRe.ReplaceAllStringFunc(t, func(f string) string {
			_, ext, _ := strings.Cut(f, ".")
			return stems[rng.IntN(len(stems))] + strconv.Itoa(rng.IntN(10)) + "." + ext
		})
	case digitsRe.MatchString(t) && rng.IntN(3) != 0:
		return digitsRe.ReplaceAllStringFunc(t, func(d string) string { return strconv.Itoa(1 + rng.IntN(9999)) })
	case row.URL != "":
		return "(" + strconv.Itoa(1+rng.IntN(99)) + ") " + t
	case t == "":
		return t
	default:
		return t + " — " + strconv.Itoa(2+rng.IntN(30))
	}
}

// varyURL changes the numbers in a URL's path and query, or adds a page
// number to its query; the host stays.
func varyURL(rng *rand.Rand, raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	if digitsRe.MatchString(u.Path) {
		u.Path = digitsRe.ReplaceAllStringFunc(u.Path, func(string) string { return strconv.Itoa(1 + rng.IntN(99999)) })
		u.RawPath = ""
		return u.String()
	}
	q := u.RawQuery
	if q != "" {
		q += "&"
	}
	u.RawQuery = q + "p=" + strconv.Itoa(1+rng.IntN(999))
	return u.String()
}

// objectID is a deterministic id: the start time, a kind, a sequence.
func objectID(t time.Time, kind byte, n uint32) pomocore.ObjectID {
	var id pomocore.ObjectID
	s := uint32(t.Unix())
	id[0], id[1], id[2], id[3] = byte(s>>24), byte(s>>16), byte(s>>8), byte(s)
	id[4], id[5], id[6], id[7] = 0xac, 0xc0, kind, 0
	id[8], id[9], id[10], id[11] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return id
}

package classify

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/net/publicsuffix"

	"github.com/pomocore/pomocore"
)

// Example is one labelled activity the Model learns from: a category
// pattern turned into an activity (ExamplesFromPatterns) or a stored
// classification the pipeline trusts (a pattern hit, an LLM answer, an
// operator's edit).
type Example struct {
	App, URL, Title, Category string
	// Weight scales the example's say in training (0 counts as 1).
	Weight float64
}

// Prediction is a Model's answer: the most probable category and its
// probability.
type Prediction struct {
	Category   string
	Confidence float64
	// Novel is whether the activity is new to the model (Model.Novel).
	Novel bool
}

// TrainOptions tune Train. Zero values take the defaults.
type TrainOptions struct {
	// Epochs is the number of passes over the examples (default 30).
	Epochs int
	// LearningRate is the first step size of the stochastic gradient
	// descent, decaying by epoch (default 0.5).
	LearningRate float64
	// L2 is the weight decay (default 1e-5).
	L2 float64
	// Seed makes the shuffling reproducible (default 1).
	Seed uint64
}

func (o TrainOptions) withDefaults() TrainOptions {
	if o.Epochs == 0 {
		o.Epochs = 30
	}
	if o.LearningRate == 0 {
		o.LearningRate = 0.5
	}
	if o.L2 == 0 {
		o.L2 = 1e-5
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Model is a multinomial logistic regression over sparse binary features of
// an activity (Features): the app name and its words (when there is no URL;
// a browser's name with a URL is a feature of its own), the URL's host, its
// parent domains and labels, the first path segment, the scheme when not
// http(s), and the title's words, all in the form NormalizeApp gives. Its
// probabilities are calibrated by a temperature fitted on held-out data
// (Calibrate). Pure: no I/O. Read-only once trained, so safe for
// concurrent use; a new model replaces an old one whole.
type Model struct {
	classes  []string
	features []string
	index    map[string]int32
	w        []float32 // len(features) * len(classes), row-major by feature
	b        []float32
	// groups is, per feature, how many groups (Group: sites and apps) it
	// was seen in, at most maxGroups; purity the percentage of those
	// groups in which it was seen with its most frequent category.
	groups []uint16
	purity []uint8
	temp   float64
	novel  float64 // the temperature of novel activities (Novel)
	// novelCap bounds the confidence of novel activities (1: none).
	novelCap float64
	examples int
}

// maxGroups bounds the group counts a Model keeps per feature.
const maxGroups = math.MaxUint16

// GenericGroups is how many groups (sites and apps, Group) a feature must
// have been seen in for a Model to use it on a novel activity (Novel): a
// word or path seen on one site only is that site's name, not evidence
// about another site.
const GenericGroups = 3

// GenericPurity is the percentage of its groups in which a feature must
// have been seen with one category for a Model to use it on a novel
// activity: "adobe" (Design, Video Editing, Documentation) says nothing
// about Adobe's next app.
const GenericPurity = 90

// ErrNoExamples is returned by Train without examples of two categories.
var ErrNoExamples = errors.New("model: examples of at least two categories are needed")

// Train fits a Model to the examples (in the given order, shuffled with
// opts.Seed: the result is reproducible).
func Train(examples []Example, opts TrainOptions) (*Model, error) {
	opts = opts.withDefaults()
	m := &Model{index: map[string]int32{}, temp: 1, novel: 1, novelCap: 1, examples: len(examples)}
	featureGroups := map[int32]map[string]map[string]bool{} // feature -> group -> categories
	classIdx := map[string]int{}
	type row struct {
		feats  []int32
		class  int
		weight float64
	}
	rows := make([]row, 0, len(examples))
	for _, ex := range examples {
		if ex.Category == "" {
			continue
		}
		c, ok := classIdx[ex.Category]
		if !ok {
			c = len(m.classes)
			classIdx[ex.Category] = c
			m.classes = append(m.classes, ex.Category)
		}
		fs := Features(ex.App, ex.URL, ex.Title)
		if len(fs) == 0 {
			continue
		}
		r := row{class: c, weight: ex.Weight}
		if r.weight <= 0 {
			r.weight = 1
		}
		g := Group(ex.App, ex.URL)
		for _, f := range fs {
			i, ok := m.index[f]
			if !ok {
				i = int32(len(m.features))
				m.index[f] = i
				m.features = append(m.features, f)
				featureGroups[i] = map[string]map[string]bool{}
			}
			if featureGroups[i][g] == nil {
				featureGroups[i][g] = map[string]bool{}
			}
			featureGroups[i][g][ex.Category] = true
			r.feats = append(r.feats, i)
		}
		rows = append(rows, r)
	}
	m.groups = make([]uint16, len(m.features))
	m.purity = make([]uint8, len(m.features))
	for i, gs := range featureGroups {
		m.groups[i] = uint16(min(len(gs), maxGroups))
		perCategory := map[string]int{}
		top := 0
		for _, cs := range gs {
			for c := range cs {
				perCategory[c]++
				top = max(top, perCategory[c])
			}
		}
		m.purity[i] = uint8(100 * top / len(gs))
	}
	if len(m.classes) < 2 || len(rows) == 0 {
		return nil, ErrNoExamples
	}
	k := len(m.classes)
	w := make([]float64, len(m.features)*k)
	b := make([]float64, k)
	p := make([]float64, k)
	rng := rand.New(rand.NewPCG(opts.Seed, 0x706f6d6f))
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	for epoch := 0; epoch < opts.Epochs; epoch++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		lr := opts.LearningRate / (1 + 0.2*float64(epoch))
		for _, o := range order {
			r := rows[o]
			copy(p, b)
			for _, f := range r.feats {
				for c, v := range w[int(f)*k : int(f)*k+k] {
					p[c] += v
				}
			}
			softmax(p, 1)
			for c := range p {
				g := p[c]
				if c == r.class {
					g--
				}
				g *= r.weight
				b[c] -= lr * g
				for _, f := range r.feats {
					i := int(f)*k + c
					w[i] -= lr * (g + opts.L2*w[i])
				}
			}
		}
	}
	m.w = make([]float32, len(w))
	for i, v := range w {
		m.w[i] = float32(v)
	}
	m.b = make([]float32, k)
	for i, v := range b {
		m.b[i] = float32(v)
	}
	return m, nil
}

// softmax turns logits into probabilities in place, dividing by temp.
func softmax(z []float64, temp float64) {
	mx := math.Inf(-1)
	for i := range z {
		z[i] /= temp
		mx = max(mx, z[i])
	}
	sum := 0.0
	for i, v := range z {
		z[i] = math.Exp(v - mx)
		sum += z[i]
	}
	for i := range z {
		z[i] /= sum
	}
}

// Classes returns the categories the model can answer.
func (m *Model) Classes() []string { return slices.Clone(m.classes) }

// Examples returns how many examples the model was trained on.
func (m *Model) Examples() int { return m.examples }

// Predict returns the most probable category of an activity and its
// probability. An activity with no feature the model knows gets the prior
// (the biases), which is far from confident. A novel activity (Novel: a
// site or app the model was never trained on) is judged by its generic
// features only (those seen in at least GenericGroups groups) at the
// temperature fitted on sites and apps held out of training, so that a
// brand word or a domain label seen on one other site does not decide.
func (m *Model) Predict(app, url, title string) Prediction {
	var buf [32]float64
	p, novel := m.probabilities(buf[:0], app, url, title, 0)
	best := 0
	for c := range p {
		if p[c] > p[best] {
			best = c
		}
	}
	conf := p[best]
	if novel {
		conf = min(conf, m.novelCap)
	}
	return Prediction{Category: m.classes[best], Confidence: conf, Novel: novel}
}

// probabilities returns the category probabilities of an activity and
// whether it is novel, at temp (0: the model's temperature for it).
func (m *Model) probabilities(dst []float64, app, url, title string, temp float64) ([]float64, bool) {
	k := len(m.classes)
	for _, v := range m.b {
		dst = append(dst, float64(v))
	}
	novel := m.Novel(app, url)
	for _, f := range Features(app, url, title) {
		i, ok := m.index[f]
		if !ok || (novel && !m.generic(i)) {
			continue
		}
		for c, v := range m.w[int(i)*k : int(i)*k+k] {
			dst[c] += float64(v)
		}
	}
	if temp == 0 {
		temp = m.temp
		if novel {
			temp = m.novel
		}
	}
	softmax(dst, temp)
	return dst, novel
}

// generic reports whether feature i is generic evidence, usable on a novel
// activity: seen in at least GenericGroups groups, and in at least
// GenericPurity percent of them with one category.
func (m *Model) generic(i int32) bool {
	return int(m.groups[i]) >= GenericGroups && int(m.purity[i]) >= GenericPurity
}

// Novel reports whether an activity is new to the model: an app it never
// saw (by AppPattern), or a URL whose host it never saw (nor a subdomain
// of it) on a site (Group) whose pages it saw in more than one category
// or never saw at all. A new page of a known host is not novel, nor a new
// subdomain of a site all of whose pages were in one category; a new
// subdomain of google.com (Browsing, Documentation, Email, ...) is.
func (m *Model) Novel(app, url string) bool {
	host, _ := Host(url)
	if host == "" {
		a := baseAppName(app)
		_, ok := m.index["a:"+a]
		return a == "" || !ok
	}
	host = strings.TrimPrefix(host, "m.")
	if _, ok := m.index["d:"+host]; ok {
		return false
	}
	reg := RegistrableDomain(host)
	if reg == "" || reg == host {
		return true
	}
	i, ok := m.index["d:"+reg]
	if !ok {
		return true
	}
	// One category: the site's feature carries it alone.
	k := len(m.classes)
	w := m.w[int(i)*k : int(i)*k+k]
	sum, top := 0.0, 0.0
	for _, v := range w {
		e := math.Exp(float64(v))
		sum += e
		top = max(top, e)
	}
	return top/sum < pureSite
}

// pureSite is the share of its weight's softmax a site's feature must give
// one category for a new subdomain of it to count as known (Novel).
const pureSite = 0.9

// Calibrate fits the model's temperatures to held-out examples (those of a
// category the model does not know are skipped): for the examples that
// are novel to it (Novel) and for the others separately, the value from a
// grid between 0.25 and 16 that minimises their negative log-likelihood.
// Without usable examples of a kind, its temperature stays. It must be
// called before the model is shared.
func (m *Model) Calibrate(held []Example) {
	idx := map[string]int{}
	for i, c := range m.classes {
		idx[c] = i
	}
	type row struct {
		logits []float64
		class  int
	}
	var known, novel []row
	for _, ex := range held {
		c, ok := idx[ex.Category]
		if !ok {
			continue
		}
		// probabilities at temperature 1 are the softmax of the logits;
		// their logarithms are the logits up to a constant.
		p, isNovel := m.probabilities(nil, ex.App, ex.URL, ex.Title, 1)
		for i := range p {
			p[i] = math.Log(max(p[i], 1e-300))
		}
		if isNovel {
			novel = append(novel, row{p, c})
		} else {
			known = append(known, row{p, c})
		}
	}
	fit := func(rows []row, t0 float64) float64 {
		if len(rows) == 0 {
			return t0
		}
		best, bestNLL := t0, math.Inf(1)
		z := make([]float64, len(m.classes))
		for t := 0.25; t <= 16; t *= 1.05 {
			nll := 0.0
			for _, r := range rows {
				copy(z, r.logits)
				softmax(z, t)
				nll -= math.Log(max(z[r.class], 1e-300))
			}
			if nll < bestNLL {
				best, bestNLL = t, nll
			}
		}
		return best
	}
	m.temp = fit(known, m.temp)
	m.novel = fit(novel, m.novel)
}

// minNovelEvidence is how many novel held-out examples a model must
// answer at the threshold for KeepPrecision to let it answer novel
// activities at all.
const minNovelEvidence = 5

// KeepPrecision makes the model keep precision on novel activities
// (Novel) at confidence >= threshold, judged on the novel held-out
// examples: it raises the novel temperature until those it answers are
// right at least precision of the time, counting two more wrong answers
// than seen (so that a few lucky answers do not make a small share look
// precise). When fewer than minNovelEvidence (5) are answered there, the
// held-out share cannot show that novel answers are right: their
// confidence is capped just below threshold (the model abstains on what
// it never saw). Call it after Calibrate, before the model is shared. It
// returns the share of novel held-out examples answered.
func (m *Model) KeepPrecision(held []Example, threshold, precision float64) float64 {
	type row struct {
		logits []float64
		class  string
	}
	var rows []row
	for _, ex := range held {
		p, novel := m.probabilities(nil, ex.App, ex.URL, ex.Title, 1)
		if !novel {
			continue
		}
		for i := range p {
			p[i] = math.Log(max(p[i], 1e-300))
		}
		rows = append(rows, row{p, ex.Category})
	}
	z := make([]float64, len(m.classes))
	for t := m.novel; ; t *= 1.05 {
		answered, right := 0, 0
		for _, r := range rows {
			copy(z, r.logits)
			softmax(z, t)
			best := 0
			for c := range z {
				if z[c] > z[best] {
					best = c
				}
			}
			if z[best] >= threshold {
				answered++
				if m.classes[best] == r.class {
					right++
				}
			}
		}
		if answered < minNovelEvidence {
			m.novelCap = math.Nextafter(threshold, 0)
			return 0
		}
		if float64(right)/float64(answered+2) >= precision {
			m.novel, m.novelCap = t, 1
			return float64(answered) / float64(len(rows))
		}
	}
}

// NovelCap returns the bound on the confidence of novel activities (1:
// none; KeepPrecision).
func (m *Model) NovelCap() float64 { return m.novelCap }

// Temperature returns the calibration temperature of activities the model
// knows (1 when uncalibrated).
func (m *Model) Temperature() float64 { return m.temp }

// NovelTemperature returns the calibration temperature of novel
// activities (Novel; 1 when uncalibrated).
func (m *Model) NovelTemperature() float64 { return m.novel }

// SetTemperature sets the calibration temperatures of known and of novel
// activities (those Calibrate fitted on a model trained without the
// held-out examples, given to the model trained on all of them); a value
// <= 0 is ignored. It must be called before the model is shared.
func (m *Model) SetTemperature(known, novel float64) {
	if known > 0 {
		m.temp = known
	}
	if novel > 0 {
		m.novel = novel
	}
}

// SetNovelCap sets the bound on the confidence of novel activities (that
// KeepPrecision set on a model trained without the held-out examples); a
// value outside (0, 1] is ignored. It must be called before the model is
// shared.
func (m *Model) SetNovelCap(c float64) {
	if c > 0 && c <= 1 {
		m.novelCap = c
	}
}

// modelJSON is the serialised form of a Model.
type modelJSON struct {
	Format           string    `json:"format"`
	Classes          []string  `json:"classes"`
	Features         []string  `json:"features"`
	Groups           []uint16  `json:"groups"`
	Purity           []uint8   `json:"purity"`
	Weights          []float32 `json:"weights"`
	Biases           []float32 `json:"biases"`
	Temperature      float64   `json:"temperature"`
	NovelTemperature float64   `json:"novelTemperature"`
	NovelCap         float64   `json:"novelCap"`
	Examples         int       `json:"examples"`
}

// modelFormat is the format of a model file: v2 has the features on the
// registrable domain, their group counts and the novel temperature.
const modelFormat = "pomocore-model-v2"

// ErrModelFormat is returned by UnmarshalJSON for a model of another
// format (e.g. one an older version wrote, with other features): it must
// be trained again.
var ErrModelFormat = errors.New("model: another format; train the model again")

// MarshalJSON encodes the model (its classes, features, weights and
// temperatures) in the format UnmarshalJSON reads.
func (m *Model) MarshalJSON() ([]byte, error) {
	return json.Marshal(modelJSON{Format: modelFormat, Classes: m.classes, Features: m.features, Groups: m.groups,
		Purity: m.purity, Weights: m.w, Biases: m.b, Temperature: m.temp, NovelTemperature: m.novel, NovelCap: m.novelCap, Examples: m.examples})
}

// UnmarshalJSON decodes a model MarshalJSON wrote, checking its shape; a
// model of another format is ErrModelFormat.
func (m *Model) UnmarshalJSON(b []byte) error {
	var j modelJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	switch {
	case j.Format != modelFormat:
		return fmt.Errorf("%w: %q, want %q", ErrModelFormat, j.Format, modelFormat)
	case len(j.Classes) < 2 || len(j.Biases) != len(j.Classes) || len(j.Weights) != len(j.Features)*len(j.Classes) ||
		len(j.Groups) != len(j.Features) || len(j.Purity) != len(j.Features):
		return errors.New("model: classes, features and weights do not fit together")
	case !(j.Temperature > 0) || !(j.NovelTemperature > 0):
		return errors.New("model: the temperatures must be positive")
	case !(j.NovelCap > 0 && j.NovelCap <= 1):
		return errors.New("model: the novel cap must be in (0, 1]")
	}
	*m = Model{classes: j.Classes, features: j.Features, groups: j.Groups, purity: j.Purity, w: j.Weights, b: j.Biases, temp: j.Temperature,
		novel: j.NovelTemperature, novelCap: j.NovelCap, examples: j.Examples, index: make(map[string]int32, len(j.Features))}
	for i, f := range j.Features {
		m.index[f] = int32(i)
	}
	return nil
}

// RegistrableDomain returns the part of a host under which its owner
// registered it, one label more than its public suffix (the public suffix
// list of golang.org/x/net/publicsuffix): "docs.github.com" ->
// "github.com", "shop.example.co.kr" -> "example.co.kr",
// "me.github.io" -> "me.github.io". An IP address or a name without a dot
// is itself; a bare public suffix ("co.kr", "github.io") or an empty host
// gives "".
func RegistrableDomain(host string) string {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	switch {
	case host == "":
		return ""
	case !strings.Contains(host, ".") || strings.HasPrefix(host, "[") || net.ParseIP(host) != nil:
		return host
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return ""
	}
	return reg
}

// Group returns the site or app an activity belongs to: "d:" and the
// registrable domain of its URL's host (RegistrableDomain), else "a:" and
// its app as AppPattern gives it. Held-out shares are split by group
// (SplitByGroup), so that no site or app is on both sides.
func Group(app, url string) string {
	if host, _ := Host(url); host != "" {
		if reg := RegistrableDomain(host); reg != "" {
			return "d:" + reg
		}
		return "d:" + host
	}
	return "a:" + baseAppName(app)
}

// Features returns the model's features of an activity, each prefixed by
// its kind: "a:" the app (without versions and edition words) and "w:" its
// words, when there is no URL; "b:" the app when there is one (a browser);
// "d:" the host and each parent domain down to the registrable domain
// (RegistrableDomain: "docs.github.com", "github.com"; never a public
// suffix such as "com" or "co.kr"), "l:" each label of the host above its
// public suffix, "p:" the first path segment and "dp:" it under the
// registrable domain, "s:" a scheme other than http(s); "t:" the title's
// words, and each again as "w:" (a title that names a known app or
// service, "Inbox – Gmail", says what the activity is). Words are in the
// form NormalizeApp gives, split at anything but letters and digits;
// numbers and one-letter words are dropped.
func Features(app, url, title string) []string {
	var fs []string
	host, path := Host(url)
	if host != "" {
		if i := strings.Index(url, "://"); i > 0 && i < 16 {
			if s := strings.ToLower(strings.TrimSpace(url[:i])); s != "http" && s != "https" {
				fs = append(fs, "s:"+s)
			}
		}
		reg := RegistrableDomain(host)
		if reg != "" {
			for h := host; ; {
				fs = append(fs, "d:"+h)
				if h == reg {
					break
				}
				i := strings.IndexByte(h, '.')
				if i < 0 {
					break
				}
				h = h[i+1:]
			}
			// The labels above the public suffix: those of the
			// registrable domain but its suffix, and the subdomain's.
			own := strings.TrimSuffix(host, reg) + reg[:strings.IndexByte(reg+".", '.')]
			for l := range strings.SplitSeq(own, ".") {
				if l != "" && l != "m" && l != "www" {
					fs = append(fs, "l:"+l)
				}
			}
		}
		if seg := firstSegment(path); seg != "" {
			fs = append(fs, "p:"+seg)
			if reg != "" {
				fs = append(fs, "dp:"+reg+"/"+seg)
			}
		}
		if a := baseAppName(app); a != "" {
			fs = append(fs, "b:"+a)
		}
	} else if a := baseAppName(app); a != "" {
		fs = append(fs, "a:"+a)
		fs = appendWords(fs, "w:", a)
	}
	if title != "" {
		fs = appendWords(fs, "t:", NormalizeApp(title))
		fs = appendWords(fs, "w:", NormalizeApp(title))
	}
	return fs
}

// firstSegment returns the first segment of a path when it looks like a
// word (not a number or an id), else "".
func firstSegment(path string) string {
	path = strings.TrimPrefix(path, "/")
	if i := strings.IndexByte(path, '/'); i >= 0 {
		path = path[:i]
	}
	if len(path) < 2 || len(path) > 30 || strings.Trim(path, "0123456789-_") == "" {
		return ""
	}
	return path
}

// appendWords appends prefix+word for each word of s (already normalised)
// with two or more runes and a letter, at most 40.
func appendWords(fs []string, prefix, s string) []string {
	n := 0
	for w := range strings.FieldsFuncSeq(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len([]rune(w)) < 2 || !strings.ContainsFunc(w, unicode.IsLetter) {
			continue
		}
		fs = append(fs, prefix+w)
		if n++; n == 40 {
			break
		}
	}
	return fs
}

// ExamplesFromPatterns turns category patterns into examples: an app
// pattern is an activity of that app, a domain pattern one at that URL
// ("https://" and the pattern), a title rule's keyword one with that title
// within the rule's scope. Categories in skip (e.g. the default) give none.
func ExamplesFromPatterns(ps []pomocore.CategoryPattern, skip ...string) []Example {
	var out []Example
	for _, p := range ps {
		if slices.Contains(skip, p.Category) {
			continue
		}
		for _, a := range p.AppPatterns {
			out = append(out, Example{App: a, Category: p.Category})
		}
		for _, d := range p.DomainPatterns {
			out = append(out, Example{URL: "https://" + d, Category: p.Category})
		}
		for _, r := range p.TitleRules {
			for _, kw := range r.Keywords {
				ex := Example{Title: kw, Category: p.Category}
				if app, ok := strings.CutPrefix(r.Scope, "app:"); ok {
					ex.App = app
				} else {
					ex.URL = "https://" + r.Scope
				}
				out = append(out, ex)
			}
		}
	}
	return out
}

// HeldOut is a split of examples (SplitByGroup): those to train on, and two
// held-out shares measured apart.
type HeldOut struct {
	Train []Example
	// Unseen are the examples of the groups (Group: sites and apps) held
	// out whole: none of their activities is in Train. How the model does
	// on them is how it does on a site or app it has never seen.
	Unseen []Example
	// Revisits are examples of groups that are also in Train, held out by
	// activity: a new title or page of a site or app the model knows.
	Revisits []Example
}

// SplitByGroup splits examples deterministically: the groups (Group) whose
// hash falls in percent are held out whole (Unseen); of the other
// examples, those whose activity's hash falls in percent are held out as
// Revisits when their group keeps an example in Train. An example and its
// duplicates are on one side; no group is both in Train and Unseen.
func SplitByGroup(examples []Example, percent int) HeldOut {
	var h HeldOut
	var maybe []Example
	inTrain := map[string]bool{}
	for _, ex := range examples {
		g := Group(ex.App, ex.URL)
		switch {
		case HashPercent("g\x00"+g) < percent:
			h.Unseen = append(h.Unseen, ex)
		case HashPercent("a\x00"+ex.App+"\x00"+ex.URL+"\x00"+ex.Title) < percent:
			maybe = append(maybe, ex)
		default:
			h.Train = append(h.Train, ex)
			inTrain[g] = true
		}
	}
	for _, ex := range maybe {
		if inTrain[Group(ex.App, ex.URL)] {
			h.Revisits = append(h.Revisits, ex)
		} else {
			h.Train = append(h.Train, ex)
		}
	}
	return h
}

// HashPercent maps s to 0..99 (FNV-1a), the hash SplitByGroup splits by.
func HashPercent(s string) int {
	h := fnv.New64a()
	h.Write([]byte(s))
	return int(h.Sum64() % 100)
}

// Evaluation is how a model does on labelled examples it was not trained
// on.
type Evaluation struct {
	// Examples is how many were predicted.
	Examples int
	// Accuracy is the share predicted as labelled.
	Accuracy float64
	// ECE is the expected calibration error over 10 equal-width confidence
	// bins: the mean of |accuracy - confidence| per bin, weighted by the
	// bin's share of the examples (0 is perfect).
	ECE float64
	// Threshold is the confidence Coverage and AccuracyAbove are measured at.
	Threshold float64
	// Coverage is the share predicted with a confidence >= Threshold (those
	// the model would answer), AccuracyAbove the share of those predicted
	// as labelled (0 when none).
	Coverage, AccuracyAbove float64
}

// String summarises the evaluation on one line.
func (e Evaluation) String() string {
	return fmt.Sprintf("examples %d, accuracy %.1f%%, ECE %.3f, at confidence >= %.2f: coverage %.1f%%, accuracy %.1f%%",
		e.Examples, 100*e.Accuracy, e.ECE, e.Threshold, 100*e.Coverage, 100*e.AccuracyAbove)
}

// Evaluate predicts each example and scores the predictions against the
// labels, at threshold.
func Evaluate(m *Model, examples []Example, threshold float64) Evaluation {
	var bins [10]struct {
		n, correct int
		conf       float64
	}
	ev := Evaluation{Threshold: threshold}
	correct, above, aboveCorrect := 0, 0, 0
	for _, ex := range examples {
		p := m.Predict(ex.App, ex.URL, ex.Title)
		ok := p.Category == ex.Category
		ev.Examples++
		b := &bins[min(int(p.Confidence*10), 9)]
		b.n++
		b.conf += p.Confidence
		if ok {
			correct++
			b.correct++
		}
		if p.Confidence >= threshold {
			above++
			if ok {
				aboveCorrect++
			}
		}
	}
	if ev.Examples == 0 {
		return ev
	}
	n := float64(ev.Examples)
	ev.Accuracy = float64(correct) / n
	for _, b := range bins {
		if b.n > 0 {
			ev.ECE += float64(b.n) / n * math.Abs(float64(b.correct)/float64(b.n)-b.conf/float64(b.n))
		}
	}
	ev.Coverage = float64(above) / n
	if above > 0 {
		ev.AccuracyAbove = float64(aboveCorrect) / float64(above)
	}
	return ev
}

// AppPattern returns the app pattern an app name would be learnt as: its
// normalised name without trailing versions and edition words
// ("IntelliJ IDEA 2024.2.1 Ultimate" -> "intellij idea").
func AppPattern(app string) string { return baseAppName(app) }

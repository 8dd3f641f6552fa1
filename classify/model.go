package classify

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode"

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
	temp     float64
	examples int
}

// ErrNoExamples is returned by Train without examples of two categories.
var ErrNoExamples = errors.New("model: examples of at least two categories are needed")

// Train fits a Model to the examples (in the given order, shuffled with
// opts.Seed: the result is reproducible).
func Train(examples []Example, opts TrainOptions) (*Model, error) {
	opts = opts.withDefaults()
	m := &Model{index: map[string]int32{}, temp: 1, examples: len(examples)}
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
		for _, f := range fs {
			i, ok := m.index[f]
			if !ok {
				i = int32(len(m.features))
				m.index[f] = i
				m.features = append(m.features, f)
			}
			r.feats = append(r.feats, i)
		}
		rows = append(rows, r)
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
// (the biases), which is far from confident.
func (m *Model) Predict(app, url, title string) Prediction {
	var buf [32]float64
	p := m.probabilities(buf[:0], app, url, title)
	best := 0
	for c := range p {
		if p[c] > p[best] {
			best = c
		}
	}
	return Prediction{Category: m.classes[best], Confidence: p[best]}
}

func (m *Model) probabilities(dst []float64, app, url, title string) []float64 {
	k := len(m.classes)
	for _, v := range m.b {
		dst = append(dst, float64(v))
	}
	for _, f := range Features(app, url, title) {
		i, ok := m.index[f]
		if !ok {
			continue
		}
		for c, v := range m.w[int(i)*k : int(i)*k+k] {
			dst[c] += float64(v)
		}
	}
	softmax(dst, m.temp)
	return dst
}

// Calibrate fits the model's temperature to held-out examples (those of a
// category the model does not know are skipped): the value, from a grid
// between 0.25 and 8, that minimises their negative log-likelihood. With
// none usable it leaves the model as it is. It must be called before the
// model is shared.
func (m *Model) Calibrate(held []Example) {
	idx := map[string]int{}
	for i, c := range m.classes {
		idx[c] = i
	}
	type row struct {
		logits []float64
		class  int
	}
	var rows []row
	for _, ex := range held {
		c, ok := idx[ex.Category]
		if !ok {
			continue
		}
		save := m.temp
		m.temp = 1
		// probabilities at temperature 1 are the softmax of the logits;
		// their logarithms are the logits up to a constant.
		p := m.probabilities(nil, ex.App, ex.URL, ex.Title)
		m.temp = save
		for i := range p {
			p[i] = math.Log(max(p[i], 1e-300))
		}
		rows = append(rows, row{p, c})
	}
	if len(rows) == 0 {
		return
	}
	best, bestNLL := 1.0, math.Inf(1)
	z := make([]float64, len(m.classes))
	for t := 0.25; t <= 8; t *= 1.05 {
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
	m.temp = best
}

// Temperature returns the calibration temperature (1 when uncalibrated).
func (m *Model) Temperature() float64 { return m.temp }

// SetTemperature sets the calibration temperature (one Calibrate fitted on
// a model trained without the held-out examples, given to the model
// trained on all of them); t <= 0 is ignored. It must be called before the
// model is shared.
func (m *Model) SetTemperature(t float64) {
	if t > 0 {
		m.temp = t
	}
}

// modelJSON is the serialised form of a Model.
type modelJSON struct {
	Format      string    `json:"format"`
	Classes     []string  `json:"classes"`
	Features    []string  `json:"features"`
	Weights     []float32 `json:"weights"`
	Biases      []float32 `json:"biases"`
	Temperature float64   `json:"temperature"`
	Examples    int       `json:"examples"`
}

const modelFormat = "pomocore-model-v1"

// MarshalJSON encodes the model (its classes, features, weights and
// temperature) in the format UnmarshalJSON reads.
func (m *Model) MarshalJSON() ([]byte, error) {
	return json.Marshal(modelJSON{Format: modelFormat, Classes: m.classes, Features: m.features,
		Weights: m.w, Biases: m.b, Temperature: m.temp, Examples: m.examples})
}

// UnmarshalJSON decodes a model MarshalJSON wrote, checking its shape.
func (m *Model) UnmarshalJSON(b []byte) error {
	var j modelJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	switch {
	case j.Format != modelFormat:
		return fmt.Errorf("model: format %q, want %q", j.Format, modelFormat)
	case len(j.Classes) < 2 || len(j.Biases) != len(j.Classes) || len(j.Weights) != len(j.Features)*len(j.Classes):
		return errors.New("model: classes, features and weights do not fit together")
	case !(j.Temperature > 0):
		return errors.New("model: the temperature must be positive")
	}
	*m = Model{classes: j.Classes, features: j.Features, w: j.Weights, b: j.Biases, temp: j.Temperature,
		examples: j.Examples, index: make(map[string]int32, len(j.Features))}
	for i, f := range j.Features {
		m.index[f] = int32(i)
	}
	return nil
}

// Features returns the model's features of an activity, each prefixed by
// its kind: "a:" the app (without versions and edition words) and "w:" its
// words, when there is no URL; "b:" the app when there is one (a browser);
// "d:" the host and each parent domain ("docs.github.com", "github.com"),
// "l:" each host label but the last, "p:" the first path segment and "dp:"
// it under the host's registrable part, "s:" a scheme other than http(s);
// "t:" the title's words, and each again as "w:" (a title that names a known
// app or service, "Inbox – Gmail", says what the activity is). Words are in
// the form NormalizeApp gives, split at anything but letters and digits;
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
		labels := strings.Split(host, ".")
		for i := 0; i < len(labels); i++ {
			if i == len(labels)-1 && len(labels) > 1 {
				break // a top-level domain alone says nothing
			}
			fs = append(fs, "d:"+strings.Join(labels[i:], "."))
		}
		for _, l := range labels[:max(len(labels)-1, 1)] {
			if l != "" && l != "m" && l != "www" {
				fs = append(fs, "l:"+l)
			}
		}
		if seg := firstSegment(path); seg != "" {
			reg := host
			if n := len(labels); n >= 2 {
				reg = labels[n-2] + "." + labels[n-1]
			}
			fs = append(fs, "p:"+seg, "dp:"+reg+"/"+seg)
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

// SplitHoldOut splits examples into those to train on and those held out
// (about percent of them), deterministically: by a hash of the activity, so
// the same activity is always on the same side, and its duplicates with it.
func SplitHoldOut(examples []Example, percent int) (train, held []Example) {
	for _, ex := range examples {
		h := fnv.New64a()
		h.Write([]byte(ex.App + "\x00" + ex.URL + "\x00" + ex.Title))
		if int(h.Sum64()%100) < percent {
			held = append(held, ex)
		} else {
			train = append(train, ex)
		}
	}
	return train, held
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

package learn

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/internal/eval"
)

// ReadExamples decodes labelled activities, one JSON object a line
// ({"app", "url", "title", "category"}, the format of `pomocore eval`),
// skipping blank lines and lines starting with "//"; a line without a
// category is an error naming it.
func ReadExamples(r io.Reader) ([]classify.Example, error) {
	var out []classify.Example
	err := eval.EachLine(r, func(n int, a eval.Line) error {
		if a.Category == "" {
			return fmt.Errorf("line %d: no category label", n)
		}
		out = append(out, classify.Example{App: a.App, URL: a.URL, Title: a.Title, Category: a.Category})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Replay is what the model does for the patterns on labelled activities:
// of those no pattern decides (the unknowns the LLM would be asked about),
// how many the model answers at the threshold and how many of those as
// labelled, and the accuracy of the whole set without and with it.
type Replay struct {
	Total, Unknowns                 int
	ModelAnswers, ModelRight        int
	CorrectModelOff, CorrectModelOn int
	// LLMQueriesSaved counts the different unknown activities the model
	// answers: the LLM is asked once per activity.
	LLMQueriesSaved int
}

// String summarises the replay.
func (r Replay) String() string {
	pct := func(a, b int) float64 {
		if b == 0 {
			return 0
		}
		return 100 * float64(a) / float64(b)
	}
	return fmt.Sprintf("%d activities, %d unknown to the patterns; the model answers %d of them (%.1f%%), %d as labelled (%.1f%%); LLM queries saved %d; accuracy model off %d (%.1f%%), model on %d (%.1f%%)",
		r.Total, r.Unknowns, r.ModelAnswers, pct(r.ModelAnswers, r.Unknowns), r.ModelRight, pct(r.ModelRight, r.ModelAnswers),
		r.LLMQueriesSaved, r.CorrectModelOff, pct(r.CorrectModelOff, r.Total), r.CorrectModelOn, pct(r.CorrectModelOn, r.Total))
}

// ReplayUnknowns classifies the examples with the patterns m, then the
// unknowns with model through a chain (LLM off) at threshold over the
// categories given, and scores both against the labels.
func ReplayUnknowns(m *classify.Matcher, model *classify.Model, threshold float64, categories []string, examples []classify.Example) (Replay, error) {
	if m == nil || model == nil {
		return Replay{}, errors.New("learn: a replay needs patterns and a model")
	}
	c := classify.NewChain(m, nil, classify.ChainConfig{Categories: categories, ModelThreshold: threshold})
	defer c.Close()
	c.SetModel(model)
	var r Replay
	seen := map[[3]string]bool{}
	for _, ex := range examples {
		r.Total++
		off := m.Classify(ex.App, ex.URL, ex.Title)
		on := c.Classify(ex.App, ex.URL, ex.Title)
		if off.Category == ex.Category {
			r.CorrectModelOff++
		}
		if on.Category == ex.Category {
			r.CorrectModelOn++
		}
		if off.Source != pomocore.SourceDefault {
			continue
		}
		r.Unknowns++
		if on.Source == pomocore.SourceModel {
			r.ModelAnswers++
			if on.Category == ex.Category {
				r.ModelRight++
			}
			if k := [3]string{ex.App, ex.URL, ex.Title}; !seen[k] {
				seen[k] = true
				r.LLMQueriesSaved++
			}
		}
	}
	return r, nil
}

// ReadModel reads a model file (`pomocore learn -o`, or a retraining of
// `pomocore run` with POMOCORE_MODEL_FILE).
func ReadModel(path string) (*classify.Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := DecodeModel(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// WriteModel writes m to path (the format ReadModel reads) aside and
// renames it over path, so that a reader never sees half a model; it
// returns the size written.
func WriteModel(path string, m *classify.Model) (int, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return 0, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	return len(b), nil
}

// DecodeModel reads a model `pomocore learn -o` wrote (classify.Model's
// JSON).
func DecodeModel(r io.Reader) (*classify.Model, error) {
	var m classify.Model
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("learn: %w", err)
	}
	return &m, nil
}

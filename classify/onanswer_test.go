package classify_test

import (
	"sync/atomic"
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// SetOnAnswer hooks the model's answers after the chain was built (the
// learning loop starts after the classifier); nil unhooks them.
func TestSetOnAnswerHooksTheModelsAnswersAfterTheChainIsBuilt(t *testing.T) {
	var examples []classify.Example
	for _, w := range []string{"alpha", "beta", "gamma", "delta"} {
		examples = append(examples, classify.Example{App: "qqzz " + w, Category: "Design"},
			classify.Example{App: "wwvv " + w, Category: "Game"})
	}
	model, err := classify.Train(examples, classify.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := classify.Build(nil, pomocore.Uncategorized)
	if err != nil {
		t.Fatal(err)
	}
	c := classify.NewChain(m, nil, classify.ChainConfig{Categories: []string{"Design", "Game"}, ModelThreshold: 0.5})
	defer c.Close()
	c.SetModel(model)
	var got atomic.Int64
	var last atomic.Value
	c.SetOnAnswer(func(a classify.Answered) { got.Add(1); last.Store(a) })
	if cls := c.Classify("qqzz epsilon", "", ""); cls.Source != pomocore.SourceModel {
		t.Fatalf("the model did not answer: %+v", cls)
	}
	if a, _ := last.Load().(classify.Answered); got.Load() != 1 || a.Source != pomocore.SourceModel || a.Category != "Design" {
		t.Fatalf("hook saw %d answers, last %+v", got.Load(), a)
	}
	c.SetOnAnswer(nil)
	c.Classify("qqzz zeta", "", "")
	if got.Load() != 1 {
		t.Errorf("unhooked, the hook still saw answers: %d", got.Load())
	}
}

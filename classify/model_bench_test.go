package classify_test

import (
	"testing"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// productionModel is the model trained on the built-in patterns and
// production's file.
func productionModel(tb testing.TB) *classify.Model {
	tb.Helper()
	m, err := classify.Train(classify.ExamplesFromPatterns(append(classify.DefaultPatterns(), productionPatterns(tb)...), pomocore.Uncategorized), classify.TrainOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func BenchmarkModelPredict(b *testing.B) {
	m := productionModel(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Predict("Google Chrome", "https://docs.confluent.io/kafka/design/consumer-design.html", "Kafka Consumer Design: Consumers, Consumer Groups, and Offsets")
	}
}

func BenchmarkModelPredictApp(b *testing.B) {
	m := productionModel(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Predict("Synology Drive Client", "", "Synology Drive Client")
	}
}

func BenchmarkModelTrainProduction(b *testing.B) {
	ex := classify.ExamplesFromPatterns(append(classify.DefaultPatterns(), productionPatterns(b)...), pomocore.Uncategorized)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := classify.Train(ex, classify.TrainOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func modelChain(tb testing.TB) *classify.Chain {
	c := classify.NewChain(defaultMatcher(tb), nil, classify.ChainConfig{Categories: pomocore.DefaultTaxonomy().Categories})
	c.SetModel(productionModel(tb))
	return c
}

// BenchmarkChainPatternHitWithModel is the hot path with a model set: a
// pattern hit never reaches the model.
func BenchmarkChainPatternHitWithModel(b *testing.B) {
	c := modelChain(b)
	defer c.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Classify("Xcode 15", "", "main.go")
	}
}

func BenchmarkChainModelAnswer(b *testing.B) {
	c := modelChain(b)
	defer c.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Classify("Synology Drive Client", "", "Synology Drive Client")
	}
}

func TestChainPatternHitsStayAllocationFreeWithAModel(t *testing.T) {
	c := modelChain(t)
	defer c.Close()
	for _, a := range [][3]string{{"Xcode 15", "", "main.go"}, {"Google Chrome", "https://github.com/pomocore/pipeline/pull/1", "PR"}} {
		if got := c.Classify(a[0], a[1], a[2]); got.Source == pomocore.SourceDefault || got.Source == pomocore.SourceModel {
			t.Fatalf("%q: %+v, want a pattern hit", a, got)
		}
		if n := testing.AllocsPerRun(200, func() { c.Classify(a[0], a[1], a[2]) }); n != 0 {
			t.Errorf("%q: %v allocations per pattern hit with a model set", a, n)
		}
	}
	if st := c.Stats(); st.ModelAnswers+st.ModelAbstained != 0 {
		t.Errorf("the model was asked about pattern hits: %+v", st)
	}
}

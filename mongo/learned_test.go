package mongo_test

import (
	"testing"

	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/learn/learntest"
	"github.com/pomocore/pomocore/mongo"
)

var (
	_ learn.LearnedLog    = (*mongo.Store)(nil)
	_ learn.LabelSource   = (*mongo.Store)(nil)
	_ learn.PatternWriter = (*mongo.Store)(nil)
)

// testLearnedLogContract runs learn's contract of the learned-pattern log
// against the store (in TestMongo, on FerretDB).
func testLearnedLogContract(t *testing.T) {
	learntest.RunLearnedLog(t, func(t *testing.T) learn.LearnedLog { return open(t, mongo.Config{}) })
}

// testTrustedLabelsLeaveOutModelAnswersAndTheDefault: the model is never
// trained on its own answers nor on what fell to the default; a document
// the LLM answered after the model keeps the LLM's trust; the main
// server's documents (no pomocoreSource) are trusted.
func testTrustedLabelsLeaveOutModelAnswersAndTheDefault(t *testing.T) {
	learntest.RunTrustedLabels(t, open(t, mongo.Config{}))
}

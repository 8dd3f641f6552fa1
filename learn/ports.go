// Package learn is the classifier's learning loop: it trains the local
// model (classify.Model) from the category patterns and the labels the
// pipeline trusts, reports its held-out accuracy and calibration, swaps it
// into the classifier chain, and promotes answers given consistently into
// patterns recorded with their origin, so that they can be listed and
// reverted.
//
// It declares the small ports it needs; the stores implement them and
// cmd/pomocore wires them. It imports no adapter.
package learn

import (
	"context"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
)

// PatternReader reads the category_pattern documents (the method of
// pipeline.Patterns). Safe for concurrent use.
type PatternReader interface {
	// LoadPatterns returns every category pattern document.
	LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error)
}

// PatternWriter writes one category_pattern document (the method of
// pipeline.PatternEditor); running pipelines pick the change up at their
// next pattern reload. Safe for concurrent use.
type PatternWriter interface {
	// UpsertPattern writes p under p.ID (p.ID is not zero).
	UpsertPattern(ctx context.Context, p pomocore.CategoryPattern) error
}

// LabelSource lists the classifications the pipeline trusts, to train on.
// Safe for concurrent use.
type LabelSource interface {
	// TrustedLabels returns up to limit categorized_data documents, most
	// recent first, whose category was given by a pattern, the LLM or an
	// operator: with a category set, and neither the default category nor
	// an answer of the model (training on its own answers would only
	// confirm them).
	TrustedLabels(ctx context.Context, limit int) ([]pomocore.CategorizedData, error)
}

// LearnedLog records the patterns promotion added, with their origin, so
// that they can be listed and reverted. Safe for concurrent use; each
// method is atomic on its own (a promotion records first, then edits the
// pattern document, so a failure leaves at most a record without its
// pattern, which Revert clears).
type LearnedLog interface {
	// RecordLearned stores l, replacing a record of the same Kind and
	// Pattern.
	RecordLearned(ctx context.Context, l Learned) error
	// LearnedPatterns returns every record, oldest first.
	LearnedPatterns(ctx context.Context) ([]Learned, error)
	// ForgetLearned removes the record of that kind and pattern (none is
	// not an error).
	ForgetLearned(ctx context.Context, kind Kind, pattern string) error
}

// ModelSink takes a newly trained model (classify.Chain.SetModel). It must
// swap it atomically and be safe for concurrent use.
type ModelSink interface {
	SetModel(m *classify.Model)
}

// Kind is the kind of a learned pattern.
type Kind string

// The kinds of learned patterns.
const (
	KindApp    Kind = "app"    // an app pattern (CategoryPattern.AppPatterns)
	KindDomain Kind = "domain" // a domain pattern (CategoryPattern.DomainPatterns)
)

// OriginLearned is the origin recorded for a promoted pattern.
const OriginLearned = "learned"

// OriginReverted is the origin a promoted pattern's record takes when an
// operator reverts it: the record stays, so that promotion never adds that
// pattern again.
const OriginReverted = "reverted"

// Learned is a pattern promotion added: what, where, why and when.
type Learned struct {
	Kind Kind `json:"kind"`
	// Pattern is the app pattern (as classify.AppPattern gives it) or the
	// domain pattern (a host).
	Pattern    string            `json:"pattern"`
	Category   string            `json:"category"`
	CategoryID pomocore.ObjectID `json:"-"`
	// Origin is OriginLearned, or OriginReverted once reverted.
	Origin string `json:"origin"`
	// Answers is how many different activities were answered with Category
	// (LLMAnswers by the LLM, ModelAnswers by the model), and MinConfidence
	// the least confidence among them.
	Answers       int       `json:"answers"`
	LLMAnswers    int       `json:"llmAnswers"`
	ModelAnswers  int       `json:"modelAnswers"`
	MinConfidence float64   `json:"minConfidence"`
	At            time.Time `json:"at"`
}

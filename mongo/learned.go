package mongo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/learn"
)

// LearnedPatternCollection records the patterns the learning loop's
// promotion added, with their origin (learn.LearnedLog): {_id: "kind:pattern"
// (pattern lower-cased), kind, pattern, category, categoryId, origin,
// answers, llmAnswers, modelAnswers, minConfidence, at}. The main server
// never reads it.
const LearnedPatternCollection = "learned_pattern"

// learnedDoc is a learned_pattern document.
type learnedDoc struct {
	ID            string        `bson:"_id"`
	Kind          string        `bson:"kind"`
	Pattern       string        `bson:"pattern"`
	Category      string        `bson:"category"`
	CategoryID    bson.ObjectID `bson:"categoryId"`
	Origin        string        `bson:"origin"`
	Answers       int           `bson:"answers"`
	LLMAnswers    int           `bson:"llmAnswers"`
	ModelAnswers  int           `bson:"modelAnswers"`
	MinConfidence float64       `bson:"minConfidence"`
	At            time.Time     `bson:"at"`
}

func learnedID(kind learn.Kind, pattern string) string {
	return string(kind) + ":" + strings.ToLower(pattern)
}

func (s *Store) learned() *mongo.Collection {
	return s.logs.Database().Collection(LearnedPatternCollection)
}

// RecordLearned implements learn.LearnedLog (one document per kind and
// pattern, compared case-insensitively; At is kept to the millisecond).
func (s *Store) RecordLearned(ctx context.Context, l learn.Learned) error {
	s.commands.Add(1)
	d := learnedDoc{ID: learnedID(l.Kind, l.Pattern), Kind: string(l.Kind), Pattern: l.Pattern, Category: l.Category,
		CategoryID: bson.ObjectID(l.CategoryID), Origin: l.Origin, Answers: l.Answers, LLMAnswers: l.LLMAnswers,
		ModelAnswers: l.ModelAnswers, MinConfidence: l.MinConfidence, At: l.At.UTC()}
	if _, err := s.learned().ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, d, options.Replace().SetUpsert(true)); err != nil {
		return fmt.Errorf("mongo: record learned %s %q: %w", l.Kind, l.Pattern, err)
	}
	return nil
}

// LearnedPatterns implements learn.LearnedLog: every document, oldest
// first.
func (s *Store) LearnedPatterns(ctx context.Context) ([]learn.Learned, error) {
	s.commands.Add(1)
	docs, err := findAll[learnedDoc](ctx, s.learned(), bson.D{}, options.Find().SetSort(bson.D{{Key: "at", Value: 1}, {Key: "_id", Value: 1}}), "learned patterns")
	if err != nil {
		return nil, err
	}
	out := make([]learn.Learned, len(docs))
	for i, d := range docs {
		out[i] = learn.Learned{Kind: learn.Kind(d.Kind), Pattern: d.Pattern, Category: d.Category,
			CategoryID: pomocore.ObjectID(d.CategoryID), Origin: d.Origin, Answers: d.Answers, LLMAnswers: d.LLMAnswers,
			ModelAnswers: d.ModelAnswers, MinConfidence: d.MinConfidence, At: d.At.UTC()}
	}
	return out, nil
}

// ForgetLearned implements learn.LearnedLog.
func (s *Store) ForgetLearned(ctx context.Context, kind learn.Kind, pattern string) error {
	s.commands.Add(1)
	if _, err := s.learned().DeleteOne(ctx, bson.D{{Key: "_id", Value: learnedID(kind, pattern)}}); err != nil {
		return fmt.Errorf("mongo: forget learned %s %q: %w", kind, pattern, err)
	}
	return nil
}

// TrustedLabels implements learn.LabelSource: the categorized_data
// documents with a category that the model did not give and that did not
// fall to the default, by this store's pomocoreSource; documents without
// one (the main server's, or written before sources were recorded) are
// trusted: a pattern or the LLM gave them. Most recent (largest _id) first.
func (s *Store) TrustedLabels(ctx context.Context, limit int) ([]pomocore.CategorizedData, error) {
	if limit <= 0 {
		return nil, nil
	}
	s.commands.Add(1)
	filter := bson.D{
		{Key: "categoryId", Value: bson.D{{Key: "$exists", Value: true}, {Key: "$ne", Value: bson.ObjectID{}}}},
		{Key: fieldSource, Value: bson.D{{Key: "$nin", Value: bson.A{string(pomocore.SourceModel), string(pomocore.SourceDefault)}}}},
	}
	docs, err := findAll[cdDoc](ctx, s.cd, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit)), "trusted labels")
	if err != nil {
		return nil, err
	}
	out := make([]pomocore.CategorizedData, 0, len(docs))
	for _, d := range docs {
		if d.CategoryID.IsZero() {
			continue
		}
		out = append(out, d.domain())
	}
	return out, nil
}

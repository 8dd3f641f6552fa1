package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/learn"
)

// learnedSchema adds what the learning loop needs: categorized_data.source
// (who decided the category: a pomocore.Source; empty for rows written before
// it existed or by another writer) and the learned_pattern table (the
// patterns promotion added, with their origin).
func learnedSchema(ctx context.Context, db execer) error {
	var has int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('categorized_data') WHERE name = 'source'`).Scan(&has); err != nil {
		return fmt.Errorf("categorized_data columns: %w", err)
	}
	if has == 0 {
		// Within the set-up's immediate transaction: no other process can
		// add it between the check and the ALTER.
		if _, err := db.ExecContext(ctx, `ALTER TABLE categorized_data ADD COLUMN source TEXT NOT NULL DEFAULT ''`); err != nil {
			return fmt.Errorf("add source to categorized_data: %w", err)
		}
	}
	if _, err := db.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS learned_pattern (
  kind TEXT NOT NULL,
  pattern_key TEXT NOT NULL,
  pattern TEXT NOT NULL,
  category TEXT NOT NULL,
  category_id TEXT NOT NULL,
  origin TEXT NOT NULL,
  answers INTEGER NOT NULL,
  llm_answers INTEGER NOT NULL,
  model_answers INTEGER NOT NULL,
  min_confidence REAL NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (kind, pattern_key)
)`); err != nil {
		return fmt.Errorf("learned_pattern: %w", err)
	}
	return nil
}

// untrusted are the sources whose categories are not trained on: the
// model's own answers and the default category.
var untrusted = []string{string(pomocore.SourceModel), string(pomocore.SourceDefault)}

// TrustedLabels implements learn.LabelSource: the categorized_data rows
// with a category that the model did not give and that did not fall to the
// default (by their source; rows without one, written by the main server
// or before sources were recorded, are trusted: a pattern or the LLM gave
// them), most recent (largest id) first.
func (s *Store) TrustedLabels(ctx context.Context, limit int) ([]pomocore.CategorizedData, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, app, url, title, category_id, is_llm_based FROM categorized_data
WHERE category_id != '' AND category_id != ? AND source NOT IN (?, ?) ORDER BY id DESC LIMIT ?`,
		pomocore.ObjectID{}.Hex(), untrusted[0], untrusted[1], limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: trusted labels: %w", err)
	}
	defer rows.Close()
	var out []pomocore.CategorizedData
	for rows.Next() {
		var id, cat string
		var d pomocore.CategorizedData
		if err := rows.Scan(&id, &d.App, &d.URL, &d.Title, &cat, &d.LLMBased); err != nil {
			return nil, fmt.Errorf("sqlite: trusted labels: %w", err)
		}
		d.ID, _ = pomocore.ParseObjectID(id)
		d.CategoryID, _ = pomocore.ParseObjectID(cat)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: trusted labels: %w", err)
	}
	return out, nil
}

// RecordLearned implements learn.LearnedLog with the table learned_pattern
// (one row per kind and pattern, compared case-insensitively).
func (s *Store) RecordLearned(ctx context.Context, l learn.Learned) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO learned_pattern
(kind, pattern_key, pattern, category, category_id, origin, answers, llm_answers, model_answers, min_confidence, at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(l.Kind), strings.ToLower(l.Pattern), l.Pattern, l.Category, l.CategoryID.Hex(), l.Origin,
		l.Answers, l.LLMAnswers, l.ModelAnswers, l.MinConfidence, l.At.UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite: record learned %s %q: %w", l.Kind, l.Pattern, err)
	}
	return nil
}

// LearnedPatterns implements learn.LearnedLog: every row, oldest first.
func (s *Store) LearnedPatterns(ctx context.Context) ([]learn.Learned, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, pattern, category, category_id, origin, answers, llm_answers,
model_answers, min_confidence, at FROM learned_pattern ORDER BY at, kind, pattern_key`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: learned patterns: %w", err)
	}
	defer rows.Close()
	var out []learn.Learned
	for rows.Next() {
		var l learn.Learned
		var kind, cat string
		var at int64
		if err := rows.Scan(&kind, &l.Pattern, &l.Category, &cat, &l.Origin, &l.Answers, &l.LLMAnswers,
			&l.ModelAnswers, &l.MinConfidence, &at); err != nil {
			return nil, fmt.Errorf("sqlite: learned patterns: %w", err)
		}
		l.Kind = learn.Kind(kind)
		l.CategoryID, _ = pomocore.ParseObjectID(cat)
		l.At = time.Unix(0, at).UTC()
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: learned patterns: %w", err)
	}
	return out, nil
}

// ForgetLearned implements learn.LearnedLog.
func (s *Store) ForgetLearned(ctx context.Context, kind learn.Kind, pattern string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM learned_pattern WHERE kind = ? AND pattern_key = ?`,
		string(kind), strings.ToLower(pattern)); err != nil {
		return fmt.Errorf("sqlite: forget learned %s %q: %w", kind, pattern, err)
	}
	return nil
}

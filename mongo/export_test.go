package mongo

import "go.mongodb.org/mongo-driver/v2/event"

// WithMonitor returns c with a command monitor, for tests that look at the
// commands sent.
func WithMonitor(c Config, m *event.CommandMonitor) Config {
	c.monitor = m
	return c
}

// Stats counts what a Store sent (its registered counters, read directly).
type Stats struct {
	// Commands is every command sent (finds, inserts, updates).
	Commands int64
	// UpdateStatements counts update statements.
	UpdateStatements int64
	// InsertedDocuments counts documents sent in inserts.
	InsertedDocuments int64
}

// Stats returns the counters of what was sent.
func (s *Store) Stats() Stats {
	return Stats{Commands: s.commands.Load(), UpdateStatements: s.updates.Load(), InsertedDocuments: s.ins.Load()}
}

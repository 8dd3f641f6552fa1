package mongo

import "go.mongodb.org/mongo-driver/v2/event"

// WithMonitor returns c with a command monitor, for tests that look at the
// commands sent.
func WithMonitor(c Config, m *event.CommandMonitor) Config {
	c.monitor = m
	return c
}

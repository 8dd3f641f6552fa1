// Package bounded is a map that never holds more than a set number of
// entries: when full, it forgets everything and fills again. Adapters use it
// for caches of values that never change (document ids by key), where a
// forgotten entry costs one lookup and a wrong one is impossible.
package bounded

import "sync"

// Map maps K to V, holding at most its max entries. The zero value holds
// nothing; make one with New. Safe for concurrent use.
type Map[K comparable, V any] struct {
	mu  sync.Mutex
	max int
	m   map[K]V
}

// New returns an empty Map of at most max entries.
func New[K comparable, V any](max int) *Map[K, V] { return &Map[K, V]{max: max} }

// Get returns the value of k, if the map holds it.
func (c *Map[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

// Put sets the value of k; a full map first forgets every entry.
func (c *Map[K, V]) Put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[K]V, min(c.max, 1024))
	}
	c.m[k] = v
}

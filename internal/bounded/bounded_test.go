package bounded

import "testing"

func TestMapForgetsEverythingWhenFull(t *testing.T) {
	m := New[string, int](2)
	m.Put("a", 1)
	m.Put("b", 2)
	if v, ok := m.Get("a"); !ok || v != 1 {
		t.Fatalf("a = %v, %v", v, ok)
	}
	m.Put("c", 3) // full: starts again
	if _, ok := m.Get("a"); ok {
		t.Error("a survived a full map")
	}
	if v, ok := m.Get("c"); !ok || v != 3 {
		t.Errorf("c = %v, %v", v, ok)
	}
}

package store

import (
	"io"
	"testing"
)

type closeCount struct{ closed int }

func (c *closeCount) Close() error { c.closed++; return nil }

func TestSharedCountsReferences(t *testing.T) {
	s := NewShared()
	builds := 0
	build := func() *closeCount { builds++; return &closeCount{} }
	a, relA := s.Acquire("k", func() io.Closer { return build() })
	b, relB := s.Acquire("k", func() io.Closer { return build() })
	if a != b || builds != 1 {
		t.Fatalf("two users of one key got %p and %p after %d builds; want one value", a, b, builds)
	}
	relA()
	relA()
	if a.(*closeCount).closed != 0 || s.Len() != 1 {
		t.Fatal("the value was closed while a user holds it (or a double release counted twice)")
	}
	relB()
	if a.(*closeCount).closed != 1 || s.Len() != 0 {
		t.Fatalf("closed %d times, %d values left; want 1 and 0", a.(*closeCount).closed, s.Len())
	}
	c, relC := s.Acquire("k", func() io.Closer { return build() })
	defer relC()
	if c == a || builds != 2 {
		t.Error("a key acquired after its last release should get a new value")
	}
}

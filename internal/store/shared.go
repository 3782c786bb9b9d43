package store

import (
	"io"
	"sync"
)

// Shared hands out values by key with reference counts, so that plugin
// instances with the same settings (of one configuration, and of the
// next after a reload) use one value: the log plugins' queues, keyed by
// plugin and queue settings as Kong keys its queues. The value is
// closed when its last user releases it.
type Shared struct {
	mu sync.Mutex
	m  map[string]*sharedValue
}

type sharedValue struct {
	v    io.Closer
	refs int
}

// NewShared makes a registry holding nothing.
func NewShared() *Shared { return &Shared{m: map[string]*sharedValue{}} }

// Acquire returns the value in use under key, or the one build makes,
// and the function that gives it back (once; later calls do nothing).
// The last release closes the value, outside the registry's lock, since
// closing may wait (a queue flushing).
func (s *Shared) Acquire(key string, build func() io.Closer) (v io.Closer, release func()) {
	s.mu.Lock()
	sv := s.m[key]
	if sv == nil {
		sv = &sharedValue{v: build()}
		s.m[key] = sv
	}
	sv.refs++
	s.mu.Unlock()
	var once sync.Once
	return sv.v, func() { once.Do(func() { s.release(key, sv) }) }
}

func (s *Shared) release(key string, sv *sharedValue) {
	s.mu.Lock()
	sv.refs--
	last := sv.refs == 0
	if last {
		delete(s.m, key)
	}
	s.mu.Unlock()
	if last {
		sv.v.Close()
	}
}

// Len is the number of values in use.
func (s *Shared) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

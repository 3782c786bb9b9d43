package upstream

import "sync"

// States hands out one TargetState per (upstream, target address) and keeps
// it across reloads, so health, in-flight counts and latency averages are
// not reset when the configuration changes around a target.
type States struct {
	mu     sync.Mutex
	states map[string]*TargetState
}

// NewStates makes an empty registry.
func NewStates() *States { return &States{states: map[string]*TargetState{}} }

// Get returns the state for key (upstream name and target address),
// creating it healthy.
func (s *States) Get(key string) *TargetState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[key]
	if !ok {
		st = &TargetState{}
		s.states[key] = st
	}
	return st
}

// Retain forgets every state whose key is not in keep.
func (s *States) Retain(keep map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.states {
		if !keep[k] {
			delete(s.states, k)
		}
	}
}

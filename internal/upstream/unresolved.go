package upstream

import (
	"errors"
	"fmt"
)

// ErrNameResolution is the pick error of a service whose host name has no
// address (Kong answers 503 "name resolution failed").
var ErrNameResolution = errors.New("name resolution failed")

// Unresolved is the balancer of a service whose host name has no address:
// every pick fails with ErrNameResolution (wrapping why).
type Unresolved struct{ err error }

// NewUnresolved makes the balancer; reason is the DNS error (may be nil).
func NewUnresolved(reason error) *Unresolved {
	if reason == nil {
		return &Unresolved{err: ErrNameResolution}
	}
	return &Unresolved{err: fmt.Errorf("%w: %v", ErrNameResolution, reason)}
}

// Pick always fails.
func (u *Unresolved) Pick(*PickRequest) (*Target, error) { return nil, u.err }

// Targets is empty.
func (u *Unresolved) Targets() []*Target { return nil }

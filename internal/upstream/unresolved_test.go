package upstream

import (
	"errors"
	"testing"

	"github.com/turnpikegw/turnpike/internal/resolver"
)

func TestUnresolvedBalancer(t *testing.T) {
	b := NewUnresolved(&resolver.DNSError{Name: "x.test", NotFound: true, Err: errors.New("name error (3): no such name")})
	if _, err := b.Pick(nil); !errors.Is(err, ErrNameResolution) || err.Error() != "name resolution failed: dns: x.test: name error (3): no such name" {
		t.Errorf("pick: %v", err)
	}
	if len(b.Targets()) != 0 {
		t.Error("targets")
	}
}

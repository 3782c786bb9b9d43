package transcode

import (
	"sync"
	"testing"
)

// TestConcurrentUse runs one Set from several goroutines, as every request of a route shares it;
// run with -race.
func TestConcurrentUse(t *testing.T) {
	s := userSet(t)
	wire := userWire(t, s)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				b, vars, ok := s.Match("GET", "/v1/users/42")
				if !ok {
					t.Error("no match")
					return
				}
				if _, err := b.Request(nil, vars, "x=1", nil); err != nil {
					t.Error(err)
				}
				cb, cvars, _ := s.Match("POST", "/v1/users")
				if _, err := cb.Request(nil, cvars, "", []byte(`{"name":"a","role":"ROLE_ADMIN"}`)); err != nil {
					t.Error(err)
				}
				if _, err := b.Response(nil, wire, Options{}); err != nil {
					t.Error(err)
				}
				s.ErrorJSON(nil, 5, "m", "", Options{})
			}
		})
	}
	wg.Wait()
}

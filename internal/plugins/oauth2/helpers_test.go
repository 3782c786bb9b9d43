package oauth2

import (
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/tokens"
	"github.com/turnpikegw/turnpike/internal/store"
)

// newTestStore is a fresh memory store of the test's own.
func newTestStore(t testing.TB) tokens.Store {
	m := tokens.NewMemory(0, 0, 0, func() time.Time { return clock })
	t.Cleanup(func() { m.Close() })
	return m
}

func storeProvider() *store.Provider { return store.NewProvider() }

// clock is the tests' time: the plugin's and the store's.
var clock = testNow

package oauth2

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/tokens"
)

// barrierStore holds every ByRefresh until all the test's requests have
// found the token: they then race for it.
type barrierStore struct {
	tokens.Store
	arrived sync.WaitGroup
}

func (b *barrierStore) ByRefresh(ctx context.Context, refreshToken string) (*tokens.Token, error) {
	t, err := b.Store.ByRefresh(ctx, refreshToken)
	b.arrived.Done()
	b.arrived.Wait()
	return t, err
}

// TestParallelRefresh: requests presenting one refresh token at once
// redeem it once; with reuse_refresh_token each may redeem it in turn,
// and only the last token issued stays valid.
func TestParallelRefresh(t *testing.T) {
	const parallel = 16
	d := directory(t)
	for _, reuse := range []bool{false, true} {
		k := kongInstance(t, func(c *Config) { c.ReuseRefreshToken = reuse })
		barrier := &barrierStore{Store: k.store}
		barrier.arrived.Add(parallel)
		k.store = barrier
		rt := k.tokenFor(t, d, form("client_id", "clientid456", "client_secret", "secret456", "grant_type", "password",
			"provision_key", "provision123", "authenticated_userid", "u1"))["refresh_token"].(string)
		f := form("client_id", "clientid456", "client_secret", "secret456", "grant_type", "refresh_token", "refresh_token", rt)
		var mu sync.Mutex
		var won []string
		var wg sync.WaitGroup
		for range parallel {
			wg.Go(func() {
				a := k.do(t, d, call{target: "/oauth2/token", form: f})
				switch {
				case a.status == 200:
					mu.Lock()
					won = append(won, a.body["access_token"].(string))
					mu.Unlock()
				case a.status != 400 || a.body["error_description"] != "Invalid refresh_token":
					t.Errorf("refresh: %d %v", a.status, a.body)
				}
			})
		}
		wg.Wait()
		if !reuse && len(won) != 1 {
			t.Fatalf("refresh token redeemed %d times", len(won))
		}
		valid := 0
		for _, tok := range won {
			if k.do(t, d, call{method: "GET", target: "/request", header: http.Header{"Authorization": {"Bearer " + tok}}}).status == 200 {
				valid++
			}
		}
		if len(won) == 0 || valid != 1 {
			t.Fatalf("reuse %v: %d redeemed, %d valid", reuse, len(won), valid)
		}
	}
}

// TestAuthorizeKongOrder ports two of Kong's rules: a redirect_uri given
// twice matches none (Kong reads a table), and the code challenge is read
// even when the client is unknown, its error answered last.
func TestAuthorizeKongOrder(t *testing.T) {
	d := directory(t)
	k := kongInstance(t, nil)
	v := url.Values{"provision_key": {"provision123"}, "authenticated_userid": {"id123"}, "client_id": {"clientid123"},
		"response_type": {"code"}, "redirect_uri": {"http://google.test/kong", "http://google.test/kong"}}
	wantBody(t, k.do(t, d, call{target: "/oauth2/authorize", values: v}), 400, map[string]any{
		"redirect_uri": "http://google.test/kong?error=invalid_request&error_description=" +
			escape("Invalid redirect_uri that does not match with any redirect_uri created with the application")})
	wantBody(t, k.do(t, d, call{target: "/oauth2/authorize", form: form("provision_key", "provision123",
		"authenticated_userid", "id123", "client_id", "nobody", "response_type", "code", "code_challenge_method", "S256")}),
		400, oauthErr("invalid_request", "code_challenge is required when code_method is present"))
}

// TestSecretWaitBounded: a token request whose hashed secret cannot be
// derived before its request ends (every derivation slot busy) is
// answered 503 rather than left waiting.
func TestSecretWaitBounded(t *testing.T) {
	d := directory(t)
	k := kongInstance(t, nil)
	for range cap(deriving) {
		deriving <- struct{}{}
	}
	defer func() {
		for range cap(deriving) {
			<-deriving
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := k.do(t, d, call{target: "/oauth2/token", ctx: ctx, form: form("client_id", "clientid123", "client_secret", "secret123",
		"grant_type", "client_credentials")})
	wantBody(t, a, 503, oauthErr("temporarily_unavailable", "The client could not be authenticated in time"))
	if a.header.Get("Retry-After") != "1" {
		t.Fatalf("headers %v", a.header)
	}
}

// TestCredentialReplaced: a token names its client by client_id, and
// stops working when that client_id now belongs to another credential
// entity (another id).
func TestCredentialReplaced(t *testing.T) {
	d := directory(t)
	k := kongInstance(t, nil)
	tok := k.tokenFor(t, d, form("client_id", "clientid456", "client_secret", "secret456",
		"grant_type", "client_credentials"))["access_token"].(string)
	h := http.Header{"Authorization": {"bearer " + tok}}
	wantBody(t, k.do(t, d, call{target: "/request", header: h}), 200, nil)
	_, next, err := load(t, strings.Replace(clients, "{name: testapp3,", "{id: 0b8a3bd6-1f4d-4a43-9d3e-6c1a8a3f0e11, name: testapp3,", 1))
	if err != nil {
		t.Fatal(err)
	}
	wantBody(t, k.do(t, next, call{target: "/request", header: h}), 401, oauthErr("invalid_token", "The access token is invalid or has expired"))
	wantBody(t, k.do(t, d, call{target: "/request", header: h}), 200, nil)
}

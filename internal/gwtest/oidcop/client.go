package oidcop

import (
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The example storage's lifetimes, kept as the defaults.
const (
	accessTokenLifetime  = 5 * time.Minute
	refreshTokenLifetime = 5 * time.Hour
	idTokenLifetime      = time.Hour
)

// Grant types a Client may list.
const (
	GrantAuthorizationCode = string(oidc.GrantTypeCode)
	GrantRefreshToken      = string(oidc.GrantTypeRefreshToken)
	GrantClientCredentials = string(oidc.GrantTypeClientCredentials)
)

// Client is an OAuth2 client registered at the provider.
type Client struct {
	ID string
	// Secret authenticates a confidential client (client_secret_basic or
	// client_secret_post). Empty: a public client, which must use PKCE and
	// cannot use client_credentials.
	Secret                 string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// GrantTypes defaults to authorization_code and refresh_token, plus
	// client_credentials for a confidential client.
	GrantTypes []string
	// JWTAccessTokens: access tokens are RS256 JWTs (iss, sub, aud = client,
	// exp, jti, client_id, scope, the user's Claims) verifiable with the JWKS,
	// instead of opaque strings only introspection can check.
	JWTAccessTokens bool
	// Lifetimes; zero means 5 minutes, 5 hours and 1 hour.
	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
	IDTokenLifetime      time.Duration
	// Introspect marks a resource server: it may introspect tokens issued to
	// any client (others only tokens whose audience they are).
	Introspect bool
}

// client adapts a Client to op.Client over the example's client, which
// supplies the login URL, response types and clock skew.
type client struct {
	*storage.Client
	cfg Client
}

func newClient(c Client) *client {
	base := storage.WebClient(c.ID, c.Secret, c.RedirectURIs...)
	if c.Secret == "" {
		base = storage.NativeClient(c.ID, c.RedirectURIs...)
	}
	return &client{Client: base, cfg: c}
}

func (c *client) RedirectURIs() []string           { return c.cfg.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.cfg.PostLogoutRedirectURIs }

// DevMode lets web clients use the tests' http:// loopback redirect URIs.
func (c *client) DevMode() bool { return true }

// IsScopeAllowed accepts any scope, so tests can use API scopes of their own.
func (c *client) IsScopeAllowed(string) bool { return true }

// IDTokenUserinfoClaimsAssertion puts email, profile and the extra claims in
// the ID token even when an access token is issued, as most providers do.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.cfg.Secret == "" {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *client) GrantTypes() []oidc.GrantType {
	names := c.cfg.GrantTypes
	if names == nil {
		names = []string{GrantAuthorizationCode, GrantRefreshToken}
		if c.cfg.Secret != "" {
			names = append(names, GrantClientCredentials)
		}
	}
	grants := make([]oidc.GrantType, len(names))
	for i, n := range names {
		grants[i] = oidc.GrantType(n)
	}
	return grants
}

func (c *client) AccessTokenType() op.AccessTokenType {
	if c.cfg.JWTAccessTokens {
		return op.AccessTokenTypeJWT
	}
	return op.AccessTokenTypeBearer
}

func (c *client) IDTokenLifetime() time.Duration {
	return orDefault(c.cfg.IDTokenLifetime, idTokenLifetime)
}

func (c *client) accessTokenLifetime() time.Duration {
	return orDefault(c.cfg.AccessTokenLifetime, accessTokenLifetime)
}

func (c *client) refreshTokenLifetime() time.Duration {
	return orDefault(c.cfg.RefreshTokenLifetime, refreshTokenLifetime)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// User is an end user who logs in through the provider's login form.
type User struct {
	Username, Password string
	// Subject is the `sub` claim; it defaults to Username.
	Subject       string
	Email         string
	EmailVerified bool
	// Claims go into ID tokens, userinfo, introspection answers and JWT
	// access tokens whatever the scopes, e.g. {"groups": []string{"admins"}}.
	Claims map[string]any
}

func (u *User) sub() string {
	if u.Subject != "" {
		return u.Subject
	}
	return u.Username
}

// fill sets the standard claims the scopes grant and the extra claims.
func (u *User) fill(info *oidc.UserInfo, scopes []string) {
	for _, s := range scopes {
		switch s {
		case oidc.ScopeOpenID:
			info.Subject = u.sub()
		case oidc.ScopeEmail:
			info.Email = u.Email
			info.EmailVerified = oidc.Bool(u.EmailVerified)
		case oidc.ScopeProfile:
			info.PreferredUsername = u.Username
		}
	}
	for k, v := range u.Claims {
		info.AppendClaims(k, v)
	}
}

// userStore is the example storage's storage.UserStore over the test's users
// (the login form checks passwords through it).
type userStore struct {
	mu     sync.Mutex
	byName map[string]*User
}

func (s *userStore) add(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byName[u.Username] = &u
}

func (s *userStore) byID(id string) (*User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.byName {
		if u.sub() == id {
			return u, true
		}
	}
	return nil, false
}

func (s *userStore) GetUserByID(id string) *storage.User {
	u, ok := s.byID(id)
	if !ok {
		return nil
	}
	return u.example()
}

func (s *userStore) GetUserByUsername(name string) *storage.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.byName[name]
	if !ok {
		return nil
	}
	return u.example()
}

// ExampleClientID names the example's JWT-profile service, unused here.
func (s *userStore) ExampleClientID() string { return storage.ServiceUserID }

func (u *User) example() *storage.User {
	return &storage.User{ID: u.sub(), Username: u.Username, Password: u.Password, Email: u.Email, EmailVerified: u.EmailVerified}
}

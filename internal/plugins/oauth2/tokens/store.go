// Package tokens keeps the oauth2 plugin's issued tokens and
// authorization codes: in process on one node, in Redis when the plugin
// has Redis settings, so every node accepts a token any node issued and
// a revocation reaches all. Tokens and codes are stored under the
// SHA-256 of their value, never in the clear; expiry is by TTL.
package tokens

import (
	"context"
	"time"
)

// Token is an issued access token's record (Kong's oauth2_tokens entity).
type Token struct {
	// ID is the admin API's id (a UUID).
	ID string
	// CredentialID is the id of the oauth2_credentials entity the token
	// was issued to (the admin API shows it); ClientID that credential's
	// client_id, which finds it in the configuration in force; ConsumerID
	// its consumer.
	CredentialID string
	ClientID     string
	ConsumerID   string
	// ServiceID is the service the token is valid for; empty with
	// global_credentials (valid on every global_credentials route).
	ServiceID           string
	AuthenticatedUserID string
	// Scope is the space-separated granted scopes.
	Scope     string
	TokenType string
	// ExpiresIn is the access token's lifetime in seconds; 0 never expires.
	ExpiresIn int
	CreatedAt time.Time
	// HasRefresh says a refresh token was issued with it; RefreshTTL is
	// that refresh token's lifetime (0: forever).
	HasRefresh bool
	RefreshTTL time.Duration
}

// Expired says the access token has expired at now. A store's lookups
// never return an expired token; the endpoints that read a token found by
// its refresh token ask this.
func (t *Token) Expired(now time.Time) bool {
	return t.ExpiresIn > 0 && !now.Before(t.CreatedAt.Add(time.Duration(t.ExpiresIn)*time.Second))
}

// Code is an authorization code's record.
type Code struct {
	CredentialID        string
	ConsumerID          string
	ServiceID           string
	AuthenticatedUserID string
	Scope               string
	// Challenge and ChallengeMethod are PKCE's (RFC 7636); empty without.
	Challenge       string
	ChallengeMethod string
	CreatedAt       time.Time
}

// Store keeps tokens and codes. Lookups of an unknown, expired or
// revoked value return (nil, nil); an error means the store could not
// answer (Redis down), which the plugin reports as a 500, never as an
// unknown token.
type Store interface {
	// Put stores t under the hashes of accessToken and, when not empty,
	// refreshToken; ErrFull when the store has no room for it (the caller
	// answers 503: room comes back as tokens expire).
	Put(ctx context.Context, t *Token, accessToken, refreshToken string) error
	// ByAccess finds the token by its access token: the request path,
	// kept cheap (a node-local cache in front of Redis, invalidated on
	// every node by Delete).
	ByAccess(ctx context.Context, accessToken string) (*Token, error)
	// ByRefresh finds the token a refresh token was issued with.
	ByRefresh(ctx context.Context, refreshToken string) (*Token, error)
	// TakeRefresh finds the token a refresh token was issued with and
	// revokes it (access and refresh token, on every node), atomically:
	// of two requests with one refresh token, one gets the token, the
	// other nil.
	TakeRefresh(ctx context.Context, refreshToken string) (*Token, error)
	// Get finds a token by its ID (the admin API).
	Get(ctx context.Context, id string) (*Token, error)
	// Delete revokes a token and its refresh token, on every node;
	// false when there was none.
	Delete(ctx context.Context, id string) (bool, error)
	// List returns up to size tokens from offset ("" is the start) and the
	// offset of the next page ("" at the end): the admin API's paging.
	List(ctx context.Context, offset string, size int) (page []*Token, next string, err error)
	// PutCode stores an authorization code for ttl.
	PutCode(ctx context.Context, code string, c *Code, ttl time.Duration) error
	// TakeCode returns a code's record and deletes it, atomically: a code
	// is used once, on any node.
	TakeCode(ctx context.Context, code string) (*Code, error)
}

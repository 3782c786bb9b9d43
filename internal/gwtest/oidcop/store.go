package oidcop

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// store is zitadel's example storage with the parts a test must configure
// replaced: the example keeps the authorization requests, codes, the login
// form's password check and the device flow; clients, users, tokens and
// signing keys are this package's, because the example hard-codes them
// (one key, 5-minute tokens, a fixed service user for client_credentials,
// an introspection that needs a user behind every token).
type store struct {
	*storage.Storage

	mu      sync.Mutex
	clients map[string]*client
	users   *userStore
	keys    []*signingKey // the last one signs; all are published
	tokens  map[string]*accessToken
	refresh map[string]*storage.RefreshToken
}

type accessToken struct {
	id, clientID, subject, refresh string
	audience, scopes               []string
	issued, exp                    time.Time
}

func newStore() (*store, error) {
	users := &userStore{byName: map[string]*User{}}
	key, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	return &store{
		Storage: storage.NewStorageWithClients(users, map[string]*storage.Client{}),
		clients: map[string]*client{},
		users:   users,
		keys:    []*signingKey{key},
		tokens:  map[string]*accessToken{},
		refresh: map[string]*storage.RefreshToken{},
	}, nil
}

func (s *store) client(id string) (*client, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	return c, ok
}

// GetClientByClientID implements op.Storage.
func (s *store) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	c, ok := s.client(id)
	if !ok {
		return nil, errors.New("client not found")
	}
	return c, nil
}

// AuthorizeClientIDSecret implements op.Storage (token, introspection and
// revocation requests of confidential clients).
func (s *store) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	c, ok := s.client(id)
	if !ok || c.cfg.Secret == "" || subtle.ConstantTimeCompare([]byte(c.cfg.Secret), []byte(secret)) != 1 {
		return errors.New("invalid client or secret")
	}
	return nil
}

// ClientCredentials implements op.ClientCredentialsStorage for every
// registered confidential client (the example knows one fixed service user).
func (s *store) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	if err := s.AuthorizeClientIDSecret(ctx, id, secret); err != nil {
		return nil, err
	}
	c, _ := s.client(id)
	return c, nil
}

// ClientCredentialsTokenRequest implements op.ClientCredentialsStorage: the
// client is the token's subject and audience.
func (s *store) ClientCredentialsTokenRequest(_ context.Context, id string, scopes []string) (op.TokenRequest, error) {
	if _, ok := s.client(id); !ok {
		return nil, errors.New("client not found")
	}
	return &oidc.JWTTokenRequest{Subject: id, Audience: []string{id}, Scopes: scopes}, nil
}

// requestInfo is who a token request is for: the client and, for a user's
// login or its refresh, when and how the user authenticated.
func requestInfo(req op.TokenRequest) (clientID string, authTime time.Time, amr []string) {
	switch r := req.(type) {
	case *storage.AuthRequest:
		return r.ApplicationID, r.GetAuthTime(), r.GetAMR()
	case *storage.RefreshTokenRequest:
		return r.ApplicationID, r.AuthTime, r.AMR
	case op.TokenExchangeRequest:
		return r.GetClientID(), r.GetAuthTime(), nil
	case *oidc.JWTTokenRequest:
		return r.Subject, time.Time{}, nil
	}
	return "", time.Time{}, nil
}

// newAccessToken records an access token; s.mu is held.
func (s *store) newAccessToken(req op.TokenRequest, refresh string) *accessToken {
	clientID, _, _ := requestInfo(req)
	now := time.Now()
	t := &accessToken{
		id: uuid.NewString(), clientID: clientID, subject: req.GetSubject(), refresh: refresh,
		audience: req.GetAudience(), scopes: req.GetScopes(), issued: now, exp: now.Add(accessTokenLifetime),
	}
	if c, ok := s.clients[clientID]; ok {
		t.exp = now.Add(c.accessTokenLifetime())
	}
	s.tokens[t.id] = t
	return t
}

// CreateAccessToken implements op.Storage.
func (s *store) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.newAccessToken(req, "")
	return t.id, t.exp, nil
}

// CreateAccessAndRefreshTokens implements op.Storage. A refresh rotates: the
// presented refresh token and the access token issued with it stop working.
func (s *store) CreateAccessAndRefreshTokens(_ context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	clientID, authTime, amr := requestInfo(req)
	refreshLifetime := refreshTokenLifetime
	if c, ok := s.clients[clientID]; ok {
		refreshLifetime = c.refreshTokenLifetime()
	}
	if current != "" {
		old, ok := s.refresh[current]
		if !ok || time.Now().After(old.Expiration) {
			return "", "", time.Time{}, errors.New("invalid refresh token")
		}
		delete(s.refresh, current)
		delete(s.tokens, old.AccessToken)
	}
	next := uuid.NewString()
	t := s.newAccessToken(req, next)
	s.refresh[next] = &storage.RefreshToken{
		ID: next, Token: next, AuthTime: authTime, AMR: amr, Audience: t.audience,
		UserID: t.subject, ApplicationID: t.clientID, Expiration: time.Now().Add(refreshLifetime),
		Scopes: t.scopes, AccessToken: t.id,
	}
	return t.id, next, t.exp, nil
}

// TokenRequestByRefreshToken implements op.Storage.
func (s *store) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refresh[token]
	if !ok || time.Now().After(rt.Expiration) {
		return nil, errors.New("invalid refresh_token")
	}
	cp := *rt
	return storage.RefreshTokenRequestFromBusiness(&cp), nil
}

// GetRefreshTokenInfo implements op.Storage (revocation of a refresh token).
func (s *store) GetRefreshTokenInfo(_ context.Context, _ string, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refresh[token]
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.UserID, rt.ID, nil
}

// TerminateSession implements op.Storage (end_session): every token of the
// user at that client stops working.
func (s *store) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.tokens {
		if t.clientID == clientID && t.subject == userID {
			delete(s.tokens, id)
			delete(s.refresh, t.refresh)
		}
	}
	return nil
}

// RevokeToken implements op.Storage (RFC 7009). Only the client a token was
// issued to may revoke it; an unknown token is not an error (RFC 7009 2.2).
// Revoking a refresh token also revokes the access token issued with it.
func (s *store) RevokeToken(_ context.Context, token, _ string, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[token]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued for this client")
		}
		delete(s.tokens, token)
		return nil
	}
	rt, ok := s.refresh[token]
	if !ok {
		return nil
	}
	if rt.ApplicationID != clientID {
		return oidc.ErrInvalidClient().WithDescription("token was not issued for this client")
	}
	delete(s.refresh, token)
	delete(s.tokens, rt.AccessToken)
	return nil
}

// liveToken returns the access token if it exists and has not expired.
func (s *store) liveToken(id string) (accessToken, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[id]
	if !ok || !time.Now().Before(t.exp) {
		return accessToken{}, false
	}
	return *t, true
}

// SetIntrospectionFromToken implements op.Storage (RFC 7662). The token is
// active for a client in its audience and for a client registered with
// Introspect (a resource server), which sees aud and client_id and checks
// the audience itself.
func (s *store) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	t, ok := s.liveToken(tokenID)
	if !ok || t.subject != subject {
		return errors.New("token is invalid or expired")
	}
	c, _ := s.client(clientID)
	if !slices.Contains(t.audience, clientID) && (c == nil || !c.cfg.Introspect) {
		return errors.New("token is not valid for this client")
	}
	if u, ok := s.users.byID(t.subject); ok {
		info := new(oidc.UserInfo)
		u.fill(info, t.scopes)
		resp.SetUserInfo(info)
	}
	resp.Subject = t.subject
	resp.Scope = t.scopes
	resp.ClientID = t.clientID
	resp.Audience = t.audience
	resp.TokenType = oidc.BearerToken
	resp.Expiration = oidc.FromTime(t.exp)
	resp.IssuedAt = oidc.FromTime(t.issued)
	resp.JWTID = t.id
	return nil
}

// SetUserinfoFromScopes implements op.Storage; SetUserinfoFromRequest does
// the work, as in the example.
func (s *store) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest (ID tokens).
func (s *store) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	u, ok := s.users.byID(req.GetSubject())
	if !ok {
		return errors.New("user not found")
	}
	u.fill(info, scopes)
	return nil
}

// SetUserinfoFromToken implements op.Storage (the userinfo endpoint).
func (s *store) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	t, ok := s.liveToken(tokenID)
	if !ok || t.subject != subject {
		return errors.New("token is invalid or expired")
	}
	u, ok := s.users.byID(subject)
	if !ok {
		return errors.New("user not found")
	}
	u.fill(info, t.scopes)
	return nil
}

// GetPrivateClaimsFromRequest implements op.CanGetPrivateClaimsFromRequest:
// a JWT access token carries all its scopes (`scope`, as RFC 9068; the
// library would drop profile and email) and the user's extra claims.
func (s *store) GetPrivateClaimsFromRequest(ctx context.Context, req op.TokenRequest, _ []string) (map[string]any, error) {
	return s.GetPrivateClaimsFromScopes(ctx, req.GetSubject(), "", req.GetScopes())
}

// GetPrivateClaimsFromScopes implements op.Storage.
func (s *store) GetPrivateClaimsFromScopes(_ context.Context, userID, _ string, scopes []string) (map[string]any, error) {
	claims := map[string]any{}
	if len(scopes) > 0 {
		claims["scope"] = oidc.SpaceDelimitedArray(scopes).String()
	}
	if u, ok := s.users.byID(userID); ok {
		for k, v := range u.Claims {
			claims[k] = v
		}
	}
	return claims, nil
}

// signingKey is one RS256 key pair; it serves as op.SigningKey and, through
// publicKey, as op.Key.
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func newSigningKey() (*signingKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &signingKey{id: uuid.NewString(), key: k}, nil
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ *signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

// SigningKey implements op.Storage: the newest key signs.
func (s *store) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[len(s.keys)-1], nil
}

// SignatureAlgorithms implements op.Storage.
func (s *store) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet implements op.Storage: the JWKS publishes every key not retired.
func (s *store) KeySet(context.Context) ([]op.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]op.Key, len(s.keys))
	for i, k := range s.keys {
		keys[i] = publicKey{k}
	}
	return keys, nil
}

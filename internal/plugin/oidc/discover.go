package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
)

// Metadata is what an authorization server's discovery document says
// (OpenID Connect Discovery, RFC 8414).
type Metadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	IntrospectionEndpoint string   `json:"introspection_endpoint"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	SigningAlgs           []string `json:"id_token_signing_alg_values_supported"`
}

// Well-known paths of discovery documents: OpenID Connect's, then RFC
// 8414's.
var wellKnown = []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"}

// DiscoveryURLs are the documents to ask for the metadata of the server
// at base (an issuer, or the origin of a token endpoint), in order.
func DiscoveryURLs(base string) []string {
	base = strings.TrimSuffix(base, "/")
	out := make([]string, len(wellKnown))
	for i, p := range wellKnown {
		out[i] = base + p
	}
	return out
}

// Discover asks for the server's metadata (once it succeeded, again is a
// no-op) and readies the verifier: its key set, its introspection
// endpoint. It returns the first document's error when none answers.
func (v *Verifier) Discover(ctx context.Context) error {
	if v.state.Load() != nil {
		return nil
	}
	var first error
	for _, u := range v.opts.DiscoveryURLs {
		m, err := v.fetchMetadata(ctx, u)
		if err == nil {
			return v.ready(m)
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func (v *Verifier) fetchMetadata(ctx context.Context, u string) (*Metadata, error) {
	ctx, cancel := context.WithTimeout(ctx, v.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d", u, resp.StatusCode)
	}
	var m Metadata
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if m.Issuer == "" {
		return nil, fmt.Errorf("%s: no issuer in the document", u)
	}
	// A configured issuer must be the one the document names, or tokens
	// of another server could pass (OpenID Connect Discovery 4.3).
	if v.opts.Issuer != "" && strings.TrimSuffix(m.Issuer, "/") != strings.TrimSuffix(v.opts.Issuer, "/") {
		return nil, fmt.Errorf("%s: issuer %q, not the configured %q", u, m.Issuer, v.opts.Issuer)
	}
	return &m, nil
}

// ready makes the verifier check tokens with what m says.
func (v *Verifier) ready(m *Metadata) error {
	st := &state{meta: m, introspection: v.opts.IntrospectionEndpoint}
	// A discovered endpoint is asked only with client credentials: RFC
	// 7662 has the caller authenticate, and a server refusing an
	// anonymous call would make every token a 503.
	if st.introspection == "" && v.opts.ClientID != "" {
		st.introspection = m.IntrospectionEndpoint
	}
	if m.JWKSURI != "" {
		v.transport.jwksURL.Store(&m.JWKSURI)
		pc := gooidc.ProviderConfig{
			IssuerURL: m.Issuer, AuthURL: m.AuthorizationEndpoint, TokenURL: m.TokenEndpoint,
			UserInfoURL: m.UserinfoEndpoint, JWKSURL: m.JWKSURI, Algorithms: asymmetric(m.SigningAlgs),
		}
		ctx := gooidc.ClientContext(context.Background(), v.client)
		st.provider = pc.NewProvider(ctx)
		// Access tokens name no client id of the gateway's; exp and nbf
		// are checked with the configured leeway in checkClaims.
		st.verifier = st.provider.VerifierContext(ctx, &gooidc.Config{SkipClientIDCheck: true, SkipExpiryCheck: true})
	}
	if st.verifier == nil && st.introspection == "" {
		return fmt.Errorf("%s publishes neither a key set (jwks_uri) nor an introspection endpoint: no token can be checked", m.Issuer)
	}
	v.state.Store(st)
	return nil
}

// asymmetric keeps the public-key algorithms of algs (RS*, PS*, ES*,
// EdDSA): with a symmetric one (HS*) a key the server publishes would
// sign tokens for anyone, and "none" signs nothing. None left: go-oidc
// takes RS256, the one OpenID Connect requires.
func asymmetric(algs []string) []string {
	out := make([]string, 0, len(algs))
	for _, a := range algs {
		switch a {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA":
			out = append(out, a)
		}
	}
	return out
}

// Start discovers the server's metadata in the background, retrying with
// backoff (1 s doubling to 30 s) until it succeeds or the verifier is
// closed; every failure is logged. Until then Verify answers
// ErrNotReady.
func (v *Verifier) Start() {
	if v.state.Load() != nil || len(v.opts.DiscoveryURLs) == 0 {
		return
	}
	go v.discoverLoop()
}

func (v *Verifier) discoverLoop() {
	wait := time.Second
	for {
		err := v.Discover(context.Background())
		if err == nil {
			v.log.Info("authorization server discovered", "issuer", v.state.Load().meta.Issuer)
			return
		}
		v.log.Error("authorization server discovery failed: tokens are refused until it succeeds",
			"error", err.Error(), "retry_in", wait.String())
		select {
		case <-v.done:
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

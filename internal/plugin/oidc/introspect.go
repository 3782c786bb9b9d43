package oidc

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// introspect asks the server about token (RFC 7662), authenticating as
// the gateway's client (client_secret_basic: RFC 6749 2.3.1 form-encodes
// the id and secret inside Basic).
func (v *Verifier) introspect(ctx context.Context, endpoint, token string) (*Claims, error) {
	form := "token=" + url.QueryEscape(token) + "&token_type_hint=access_token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if v.opts.ClientID != "" {
		req.SetBasicAuth(url.QueryEscape(v.opts.ClientID), url.QueryEscape(v.opts.ClientSecret))
	}
	resp, err := v.client.Do(req)
	if err != nil {
		v.warn("token introspection failed", "endpoint", endpoint, "error", err.Error())
		return nil, ErrUnavailable
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		v.warn("token introspection failed", "endpoint", endpoint, "status", resp.StatusCode)
		return nil, ErrUnavailable
	}
	c, act, err := parseClaims(body)
	switch {
	case err != nil || act == activeAbsent:
		v.warn("token introspection answer malformed", "endpoint", endpoint)
		return nil, ErrUnavailable
	case act == activeFalse:
		return nil, invalid("the token is not active")
	}
	return c, nil
}

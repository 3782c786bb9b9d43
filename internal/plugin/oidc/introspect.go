package oidc

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
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
		v.log.Warn("token introspection failed", "endpoint", endpoint, "error", err.Error())
		return nil, ErrUnavailable
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		v.log.Warn("token introspection failed", "endpoint", endpoint, "status", resp.StatusCode)
		return nil, ErrUnavailable
	}
	var a struct {
		Active *bool       `json:"active"`
		NBF    json.Number `json:"nbf"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Active == nil {
		v.log.Warn("token introspection answer malformed", "endpoint", endpoint)
		return nil, ErrUnavailable
	}
	if !*a.Active {
		return nil, invalid("the token is not active")
	}
	c, err := parseClaims(body)
	if err != nil {
		return nil, ErrUnavailable
	}
	now := v.opts.Now()
	if !c.Expiry.IsZero() && now.After(c.Expiry.Add(v.opts.Leeway)) {
		return nil, invalid("the token has expired")
	}
	if nbf, err := a.NBF.Int64(); err == nil && now.Add(v.opts.Leeway).Before(time.Unix(nbf, 0)) {
		return nil, invalid("the token is not valid yet")
	}
	return c, nil
}

package oidc

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Claims are the claims of a checked token: a verified JWT's payload or
// an introspection answer. They are rendered to text once, when the token
// is checked, so that the many requests a cached token serves read them
// without work.
type Claims struct {
	// Subject is `sub` (an introspection answer's `username` when it has
	// no `sub`).
	Subject string
	// ClientID is `client_id` (a JWT's `azp` when it has no `client_id`).
	ClientID string
	// Scope is the space-separated `scope` (`scp` when it is an array).
	Scope string
	// Scopes are Scope's words.
	Scopes []string
	// Audience is `aud`, one value or several.
	Audience []string
	// Expiry is `exp` (zero when the token has none).
	Expiry time.Time
	// NotBefore is `nbf` (zero when the token has none).
	NotBefore time.Time
	text      map[string]string
	// sub, cid and scope are Subject, ClientID and Scope as header
	// values (nil when empty), made once for every request to share.
	sub, cid, scope []string
	// size is about the bytes the claims hold, for the cache's weight.
	size int
}

// HeaderValues are Subject, ClientID and Scope as header values, nil
// when empty. The slices are shared by every request the token serves:
// read-only, of length and capacity 1 (an Add copies rather than writes
// into them).
func (c *Claims) HeaderValues() (subject, clientID, scope []string) {
	return c.sub, c.cid, c.scope
}

// HeaderValue is s as a header value; a value a header cannot carry
// (control characters: a server's answer is not trusted to be one) is
// left out rather than sent.
func HeaderValue(s string) []string {
	if s == "" {
		return nil
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' && b != '\t' || b == 0x7f {
			return nil
		}
	}
	return []string{s}
}

// Claim implements plugin.Claims: a string as is, a number or boolean in
// its JSON form, an array of strings joined with ", ", any other value as
// JSON.
func (c *Claims) Claim(name string) (string, bool) {
	v, ok := c.text[name]
	return v, ok
}

// HasScope reports whether the token carries scope s.
func (c *Claims) HasScope(s string) bool {
	for _, t := range c.Scopes {
		if t == s {
			return true
		}
	}
	return false
}

// hasAudience reports whether aud names one of want (OR).
func (c *Claims) hasAudience(want []string) bool {
	for _, a := range c.Audience {
		for _, w := range want {
			if a == w {
				return true
			}
		}
	}
	return false
}

// ParseClaims reads the payload of a token verified elsewhere
// (openid-connect's ID tokens, verified when its session began).
func ParseClaims(payload []byte) (*Claims, error) {
	c, _, err := parseClaims(payload)
	return c, err
}

// active is an introspection answer's `active` member.
type active int8

const (
	activeAbsent active = iota
	activeFalse
	activeTrue
)

// parseClaims decodes a JSON object of claims, and the `active` member
// an introspection answer has. UseNumber keeps numbers in their JSON
// form, as the plugin SDK's Claim promises.
func parseClaims(payload []byte) (*Claims, active, error) {
	var raw map[string]any
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&raw); err != nil {
		return nil, activeAbsent, err
	}
	act := activeAbsent
	if a, ok := raw["active"].(bool); ok {
		act = activeFalse
		if a {
			act = activeTrue
		}
	}
	c := &Claims{text: make(map[string]string, len(raw))}
	for k, v := range raw {
		t := claimText(v)
		c.text[k] = t
		c.size += len(k) + len(t) + 32
	}
	c.Subject = str(raw["sub"])
	if c.Subject == "" {
		c.Subject = str(raw["username"])
	}
	c.ClientID = str(raw["client_id"])
	if c.ClientID == "" {
		c.ClientID = str(raw["azp"])
	}
	switch s := raw["scope"].(type) {
	case string:
		c.Scope = s
	case []any:
		c.Scope = strings.Join(strs(s), " ")
	default:
		if scp, ok := raw["scp"].([]any); ok {
			c.Scope = strings.Join(strs(scp), " ")
		}
	}
	c.Scopes = strings.Fields(c.Scope)
	c.sub, c.cid, c.scope = HeaderValue(c.Subject), HeaderValue(c.ClientID), HeaderValue(c.Scope)
	switch a := raw["aud"].(type) {
	case string:
		c.Audience = []string{a}
	case []any:
		c.Audience = strs(a)
	}
	c.size += len(c.Scope) + 24*(len(c.Scopes)+len(c.Audience))
	// An exp or nbf that is there but no usable date (0, negative, not a
	// number) must not read as absent: the token would never expire.
	c.Expiry = unixTime(raw, "exp", time.Unix(1, 0))
	c.NotBefore = unixTime(raw, "nbf", time.Unix(1<<40, 0))
	return c, act, nil
}

// unixTime is the NumericDate claim name: zero when absent, unusable
// when present but not a date from 1970 to 36812.
func unixTime(raw map[string]any, name string, unusable time.Time) time.Time {
	v, ok := raw[name]
	if !ok {
		return time.Time{}
	}
	if n, ok := v.(json.Number); ok {
		if f, err := n.Float64(); err == nil && f > 0 && f < 1<<40 {
			return time.Unix(int64(f), 0)
		}
	}
	return unusable
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strs(vs []any) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func claimText(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case []any:
		if s := strs(t); len(s) == len(t) {
			return strings.Join(s, ", ")
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

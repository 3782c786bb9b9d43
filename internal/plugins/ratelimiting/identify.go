package ratelimiting

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// maxIdentifier is the longest identifier used as is in a counter key;
// longer ones (a header value, a claim) are replaced by their SHA-256, so a
// client cannot make the gateway hold kilobyte-long keys.
const maxIdentifier = 128

// identify returns the value the request is counted under, Kong's
// get_identifier: the limit_by entity, or the client IP when the request
// has none (no consumer, no such header, another path...).
func (in *Instance) identify(c *plugin.Ctx) string {
	var id string
	switch in.s.limitBy {
	case byConsumer:
		if c.Consumer != nil {
			id = c.Consumer.ID
		} else {
			id = c.Credential
		}
	case byCredential:
		id = c.Credential
	case byService:
		if c.Service != nil {
			id = c.Service.ID
		}
	case byHeader:
		id, _ = in.s.header.First(c.Req.Header)
	case byPath:
		if c.ClientPath == in.s.path {
			id = c.ClientPath
		}
	case byJWTClaim:
		id = jwtClaim(c, in.s.claim)
	case byConsumerGroup:
		id = consumerGroup(c)
	}
	if id == "" {
		// Kong counts by kong.client.get_forwarded_ip().
		id = c.ForwardedIP
		if id == "" {
			id = c.ClientIP
		}
	}
	return boundIdentifier(id)
}

// boundIdentifier replaces an over-long identifier by its digest.
func boundIdentifier(id string) string {
	if len(id) <= maxIdentifier {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// consumerGroup is the first of the consumer's ACL groups, in
// configuration order: every consumer whose first group is "gold" shares
// the gold counter. A consumer without groups has no identifier.
func consumerGroup(c *plugin.Ctx) string {
	if c.Consumer == nil || c.Directory == nil {
		return ""
	}
	if gs := c.Directory.Groups(c.Consumer.ID); len(gs) > 0 {
		return gs[0]
	}
	return ""
}

// jwtClaim is the claim's value. The claims the jwt plugin verified are
// used when it ran before and accepted the token. Otherwise, when an auth
// plugin did run (a consumer or credential is known: another plugin
// authenticated the request, or the jwt plugin refused the token and let
// it go on as the anonymous consumer), the token is not to be trusted and
// there is no claim: the request is counted by IP. Only on a request no
// auth plugin touched is the claim read, unverified, from the payload of
// the bearer token (the jwt query argument, then the Authorization
// header): it then only chooses the counter, and a client that forges it
// gets a counter of its own, as docs/rate-limiting.md warns.
func jwtClaim(c *plugin.Ctx, name string) string {
	if c.Claims != nil {
		// Verified by the jwt plugin.
		v, _ := c.Claims.Claim(name)
		return v
	}
	if c.Consumer != nil || c.Credential != "" {
		return ""
	}
	token := bearerToken(c)
	if token == "" {
		return ""
	}
	_, rest, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return ""
	}
	var claims map[string]any
	if json.Unmarshal(raw, &claims) != nil {
		return ""
	}
	return claimString(claims[name])
}

// bearerToken finds the token as Kong's jwt plugin does by default: the
// `jwt` query argument, else `Authorization: Bearer <token>`.
func bearerToken(c *plugin.Ctx) string {
	if c.RawQuery != "" {
		for q := c.RawQuery; q != ""; {
			var arg string
			arg, q, _ = strings.Cut(q, "&")
			if k, v, ok := strings.Cut(arg, "="); ok && k == "jwt" && v != "" {
				return plugin.UnescapeArg(v)
			}
		}
	}
	for _, h := range c.Req.Header["Authorization"] {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
	}
	return ""
}

// claimString renders a claim as a counter identifier: strings as they
// are, numbers without exponent noise, anything else as JSON.
func claimString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

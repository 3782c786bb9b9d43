package openapi

import (
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// authorizer is x-amazon-apigateway-authorizer, the fields imported.
type authorizer struct {
	Type             string `json:"type"`
	IdentitySource   string `json:"identitySource"`
	JWTConfiguration struct {
		Issuer   string   `json:"issuer"`
		Audience []string `json:"audience"`
	} `json:"jwtConfiguration"`
	ProviderARNs []string `json:"providerARNs"`
}

const authorizerKey = "x-amazon-apigateway-authorizer"

// cognitoARN is a user pool's ARN: region and pool id make its issuer.
var cognitoARN = regexp.MustCompile(`^arn:aws[\w-]*:cognito-idp:([a-z0-9-]+):\d+:userpool/([\w-]+)$`)

// security maps the operation's security requirement (its own, else the
// document's) to authentication plugins. Of several alternatives only
// the first is imported (stricter than the document, never looser); an
// operation whose scheme cannot be mapped is not imported at all, so
// that no API protected in the source is left open.
func (c *conv) security(obj string, op *openapi3.Operation) ([]*importer.Plugin, bool) {
	reqs := c.doc.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	var nonEmpty []openapi3.SecurityRequirement
	for _, r := range reqs {
		if len(r) > 0 {
			nonEmpty = append(nonEmpty, r)
		}
	}
	if len(nonEmpty) == 0 {
		return nil, true
	}
	if len(nonEmpty) < len(reqs) {
		c.warn(obj, "security", "an empty requirement makes authentication optional: Turnpike requires the first scheme listed")
	}
	if len(nonEmpty) > 1 {
		c.warn(obj, "security", "%d alternatives: only the first is imported; clients using another are refused", len(nonEmpty))
	}
	var out []*importer.Plugin
	for _, name := range slices.Sorted(maps.Keys(nonEmpty[0])) {
		p, ok := c.scheme(obj, name)
		if !ok {
			return nil, false
		}
		out = append(out, p)
	}
	return out, true
}

func (c *conv) scheme(obj, name string) (*importer.Plugin, bool) {
	field := "security." + name
	var ref *openapi3.SecuritySchemeRef
	if c.doc.Components != nil {
		ref = c.doc.Components.SecuritySchemes[name]
	}
	if ref == nil || ref.Value == nil {
		c.warn(obj, field, "no such security scheme: operation not imported")
		return nil, false
	}
	s := ref.Value
	if v, ok := s.Extensions[authorizerKey]; ok {
		var a authorizer
		if err := ext(v, &a); err != nil {
			c.warn(obj, field, "%s is not an authorizer object: operation not imported", authorizerKey)
			return nil, false
		}
		return c.jwtAuthorizer(obj, name, a)
	}
	switch authType, _ := s.Extensions["x-amazon-apigateway-authtype"].(string); {
	case s.Type == "apiKey" && authType != "" && !strings.EqualFold(authType, "api_key"):
		// AWS's own schemes (awsSigv4: IAM) are apiKey-typed in the
		// document but are no API key.
		c.warn(obj, field, "x-amazon-apigateway-authtype %q is not an API key: operation not imported", authType)
		return nil, false
	case s.Type == "apiKey":
		return c.keyAuth(obj, field, s)
	case s.Type == "http" && strings.EqualFold(s.Scheme, "basic"):
		c.consumersNeeded("basic-auth", "basicauth_credentials")
		return &importer.Plugin{Name: "basic-auth", Tags: c.tags()}, true
	}
	c.warn(obj, field, "type %q (scheme %q) is not imported: operation not imported (only apiKey, http basic and AWS JWT/Cognito authorizers)", s.Type, s.Scheme)
	return nil, false
}

// keyAuth maps an apiKey scheme: the key's name and where it is read.
func (c *conv) keyAuth(obj, field string, s *openapi3.SecurityScheme) (*importer.Plugin, bool) {
	if !token.MatchString(s.Name) {
		c.warn(obj, field, "key name %q is not an HTTP token: operation not imported", s.Name)
		return nil, false
	}
	cfg := map[string]any{"key_names": []any{s.Name}}
	switch s.In {
	case "header":
		cfg["key_in_query"] = false
	case "query":
		cfg["key_in_header"] = false
	default:
		c.warn(obj, field, "an API key in %q: key-auth reads headers and the query string; operation not imported", s.In)
		return nil, false
	}
	c.consumersNeeded("key-auth", "keyauth_credentials")
	return &importer.Plugin{Name: "key-auth", Config: cfg, Tags: c.tags()}, true
}

// consumersNeeded warns once per document and kind that the credentials
// are not in it (AWS keeps API keys and users outside the document).
func (c *conv) consumersNeeded(plugin, kind string) {
	c.warnOnce("consumers "+kind, c.at(""), "security", "%s refuses every request until consumers with %s are added: the document holds no credentials", plugin, kind)
}

// jwtAuthorizer maps an HTTP API JWT authorizer or a Cognito user pool
// authorizer to the jwt plugin, and the issuer to a consumer whose
// credential names the issuer's JWK Set.
func (c *conv) jwtAuthorizer(obj, name string, a authorizer) (*importer.Plugin, bool) {
	field := "components.securitySchemes." + name + "." + authorizerKey
	var issuer, jwks string
	audience := a.JWTConfiguration.Audience
	switch strings.ToLower(a.Type) {
	case "jwt":
		// The issuer stays as written: it is compared with the tokens' iss.
		issuer = a.JWTConfiguration.Issuer
		if !strings.HasPrefix(issuer, "https://") {
			c.warn(obj, field, "jwtConfiguration.issuer %q is not an https URL: operation not imported", issuer)
			return nil, false
		}
		jwks = strings.TrimSuffix(issuer, "/") + "/.well-known/jwks.json"
		c.warnOnce(field+"jwks", c.at(field), "jwtConfiguration.issuer", "the JWK Set is taken to be %s (where Auth0, Cognito and Okta publish it): check it against the issuer's discovery document", jwks)
	case "cognito_user_pools":
		if len(a.ProviderARNs) == 0 {
			c.warn(obj, field, "no providerARNs: operation not imported")
			return nil, false
		}
		m := cognitoARN.FindStringSubmatch(a.ProviderARNs[0])
		if m == nil {
			c.warn(obj, field+".providerARNs[0]", "%q is not a Cognito user pool ARN: operation not imported", a.ProviderARNs[0])
			return nil, false
		}
		issuer = "https://cognito-idp." + m[1] + ".amazonaws.com/" + m[2]
		jwks = issuer + "/.well-known/jwks.json"
	default:
		c.warn(obj, field+".type", "%q (a Lambda authorizer) cannot be imported: operation not imported", a.Type)
		return nil, false
	}
	cfg := map[string]any{"claims_to_verify": []any{"exp"}}
	h, ok := strings.CutPrefix(a.IdentitySource, "$request.header.")
	if !ok {
		h, ok = strings.CutPrefix(a.IdentitySource, "method.request.header.")
	}
	switch {
	case a.IdentitySource == "" || (ok && strings.EqualFold(h, "Authorization")):
	case ok && token.MatchString(h):
		cfg["header_names"] = []any{strings.ToLower(h)}
	default:
		c.warn(obj, field+".identitySource", "%q: only one request header is imported: operation not imported", a.IdentitySource)
		return nil, false
	}
	c.issuerConsumer(field, name, issuer, jwks, audience)
	return &importer.Plugin{Name: "jwt", Config: cfg, Tags: c.tags()}, true
}

// issuerConsumer adds, once per scheme, the consumer that the issuer's
// tokens authenticate as. Without an audience (Cognito's authorizer
// declares none) there is none: Turnpike requires one with a JWK Set,
// since the issuer signs tokens for every application it serves.
func (c *conv) issuerConsumer(field, scheme, issuer, jwks string, audience []string) {
	username := joinName(c.name, slug(scheme))
	for _, u := range c.cfg.Consumers {
		if u.Username == username {
			return
		}
	}
	if len(audience) == 0 {
		c.warnOnce(field+"aud", c.at(field), "audience", "none declared: no consumer imported, so every token is refused until one with jwt_secrets (key %s, jwks_uri, audience: your app client id) is added", issuer)
		return
	}
	aud := make([]any, len(audience))
	for i, a := range audience {
		aud[i] = a
	}
	c.cfg.Consumers = append(c.cfg.Consumers, &importer.Consumer{
		Username: username,
		Tags:     c.tags(),
		Credentials: map[string][]importer.Fields{"jwt_secrets": {{
			"key": issuer, "algorithm": "RS256", "jwks_uri": jwks, "issuer": issuer, "audience": aud, "tags": c.tags(),
		}}},
	})
}

// warnOnce records a warning the first time key is seen in the document.
func (c *conv) warnOnce(key, object, field, format string, args ...any) {
	if c.once == nil {
		c.once = map[string]bool{}
	}
	if c.once[key] {
		return
	}
	c.once[key] = true
	c.warn(object, field, format, args...)
}

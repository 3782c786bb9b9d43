package oauth2

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/external"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/tokens"
)

// codeTTL is how long an authorization code lives (Kong's).
const codeTTL = 300 * time.Second

// client is the oauth2 credential a request names by client_id.
func client(c *plugin.Ctx, clientID string) *plugin.Credential {
	if clientID == "" || c.Directory == nil {
		return nil
	}
	cred, ok := c.Directory.Credential(kindName, clientID)
	if !ok || cred.Consumer == nil {
		return nil
	}
	return cred
}

func fieldsOf(cred *plugin.Credential) *Credential { return cred.Fields.(*Credential) }

// provisionKeyOK compares the request's provision_key in constant time.
func (k *kong) provisionKeyOK(p *external.Params) bool {
	v, ok := p.Get("provision_key")
	return ok && subtle.ConstantTimeCompare([]byte(v), []byte(k.provisionKey)) == 1
}

// binding is what a code or token is bound to: the service, or with
// global_credentials nothing (a token) or the plugin entry (a code: Kong
// refuses a code another global plugin issued).
func (k *kong) binding(c *plugin.Ctx, code bool) string {
	switch {
	case !k.global && c.Service != nil:
		return c.Service.ID
	case k.global && code:
		return "plugin:" + k.pluginID
	}
	return ""
}

// scope is Kong's retrieve_scope: every requested scope must be one of
// the configured ones; with mandatory_scope one must be requested.
func (k *kong) scope(p *external.Params) (string, *oauthError) {
	v, isString, present := p.Value("scope")
	if k.scopes != nil && present {
		if !isString {
			return "", &oauthError{code: "invalid_scope", desc: "scope must be a string"}
		}
		words := strings.Fields(v)
		for _, w := range words {
			if _, ok := k.scopes[w]; !ok {
				return "", &oauthError{code: "invalid_scope", desc: `"` + w + `" is an invalid scope`}
			}
		}
		return strings.Join(words, " "), nil
	}
	if !present && k.mandatory {
		return "", &oauthError{code: "invalid_scope", desc: "You must specify a scope"}
	}
	return "", nil
}

// requiresPKCE is Kong's rule: a code issued with a challenge, a public
// client unless pkce is none, a confidential one when pkce is strict.
func (k *kong) requiresPKCE(f *Credential, usedPKCE bool) bool {
	public := f.Public()
	return usedPKCE || public && k.pkce != "none" || !public && k.pkce == "strict"
}

// challenge is Kong's retrieve_code_challenge: the challenge normalised
// to unpadded base64url, and its method (S256, the only one supported).
func challenge(p *external.Params) (ch, method string, e *oauthError) {
	ch, hasCh := p.Get("code_challenge")
	method, hasMethod := p.Get("code_challenge_method")
	if p.Has("code_challenge_method") && !p.Has("code_challenge") {
		return "", "", &oauthError{code: "invalid_request", desc: "code_challenge is required when code_method is present"}
	}
	if !hasCh {
		return "", "", nil
	}
	if raw, err := base64.URLEncoding.DecodeString(padded(ch)); err == nil {
		ch = base64.RawURLEncoding.EncodeToString(raw)
	}
	if hasMethod && method != "S256" && method != "s256" {
		return "", "", &oauthError{code: "invalid_request", desc: "code_challenge_method is not supported, must be S256"}
	}
	return ch, "S256", nil
}

func padded(s string) string {
	s = strings.TrimRight(s, "=")
	if n := len(s) % 4; n != 0 {
		s += strings.Repeat("=", 4-n)
	}
	return s
}

// authorize is Kong's authorize: the web application, having logged the
// user in, asks for a code (or, implicit grant, a token) for a client,
// and gets the client's redirect_uri with it to send the browser to.
func (k *kong) authorize(c *plugin.Ctx, p *external.Params) *plugin.Exit {
	state := p.Str("state")
	var (
		perr        *oauthError
		cred        *plugin.Credential
		redirect    *url.URL
		result      []field
		implicit    bool
		scope       string
		ch, chMeth  string
		responseTyp = p.Str("response_type")
	)
	if ok, msg := k.isHTTPS(c); !ok {
		perr = &oauthError{code: "access_denied", desc: msg}
	} else if !k.provisionKeyOK(p) {
		perr = &oauthError{code: "invalid_provision_key", desc: "Invalid provision_key"}
	} else if strings.TrimSpace(p.Str("authenticated_userid")) == "" {
		perr = &oauthError{code: "invalid_authenticated_userid", desc: "Missing authenticated_userid parameter"}
	} else {
		if !(responseTyp == "code" && k.enableCode || responseTyp == "token" && k.enableImplict) {
			perr = &oauthError{code: "unsupported_response_type", desc: "Invalid response_type"}
		}
		var e *oauthError
		if scope, e = k.scope(p); e != nil {
			perr = e
		}
		cred = client(c, p.Str("client_id"))
		if cred == nil {
			perr = errInvalidClient(false)
		} else {
			uris := fieldsOf(cred).RedirectURIs
			uri, _ := p.Get("redirect_uri")
			if !p.Has("redirect_uri") && len(uris) > 0 {
				uri = uris[0]
			}
			if !slices.Contains(uris, uri) {
				perr = &oauthError{code: "invalid_request",
					desc: "Invalid redirect_uri that does not match with any redirect_uri created with the application"}
				uri = ""
				if len(uris) > 0 {
					uri = uris[0]
				}
			}
			if uri != "" {
				redirect, _ = url.Parse(uri)
			}
		}
		// Kong reads the challenge whether or not the client was found.
		if ch, chMeth, e = challenge(p); e != nil {
			perr = e
		} else if cred != nil && ch == "" && k.requiresPKCE(fieldsOf(cred), false) {
			perr = &oauthError{code: "invalid_request",
				desc: "code_challenge is required for " + fieldsOf(cred).ClientType + " clients"}
		}
		if perr == nil {
			var e *oauthError
			if result, implicit, e = k.grantAuthorization(c, p, cred, responseTyp, scope, ch, chMeth, state); e != nil {
				// The store failed: the gateway's fault, not the
				// client's to be told at its redirect URI.
				return errorExit(e, state)
			}
		}
	}
	status := http.StatusOK
	if perr != nil {
		status = http.StatusBadRequest
		result = []field{{name: "error", value: perr.code}, {name: "error_description", value: perr.desc}}
	}
	result = append(result, field{name: "state", value: state})
	if redirect == nil {
		return endpointExit(status, object(result...))
	}
	withParams(redirect, result, implicit)
	return endpointExit(status, object(field{name: "redirect_uri", value: redirect.String()}))
}

// grantAuthorization stores a code, or issues an implicit grant's token.
func (k *kong) grantAuthorization(c *plugin.Ctx, p *external.Params, cred *plugin.Credential,
	responseType, scope, ch, chMethod, state string) ([]field, bool, *oauthError) {
	ctx, cancel := storeCtx(c)
	defer cancel()
	userID := p.Str("authenticated_userid")
	if responseType == "code" {
		code := randomToken(32)
		err := k.store.PutCode(ctx, code, &tokens.Code{
			CredentialID: cred.ID, ConsumerID: cred.Consumer.ID, ServiceID: k.binding(c, true),
			AuthenticatedUserID: userID, Scope: scope, Challenge: ch, ChallengeMethod: chMethod,
			CreatedAt: k.now(),
		}, codeTTL)
		if err != nil {
			return nil, false, storeError(err)
		}
		return []field{{name: "code", value: code}}, false, nil
	}
	t, err := k.issue(ctx, c, cred, userID, scope, false, nil)
	if err != nil {
		return nil, false, storeError(err)
	}
	exp := ""
	if t.expiresIn > 0 {
		exp = strconv.Itoa(t.expiresIn)
	}
	return []field{{name: "access_token", value: t.access}, {name: "token_type", value: "bearer"},
		{name: "expires_in", value: exp}}, true, nil
}

// withParams adds the answer's parameters to the redirect URI's query
// (its fragment for an implicit grant), over any already there, sorted
// and escaped as Kong's encode_args does.
func withParams(u *url.URL, fields []field, fragment bool) {
	existing := u.RawQuery
	if fragment {
		existing = u.Fragment
	}
	vals, _ := url.ParseQuery(existing)
	if vals == nil {
		vals = url.Values{}
	}
	for _, f := range fields {
		if f.value != "" {
			vals.Set(f.name, f.value)
		}
	}
	keys := slices.Sorted(maps.Keys(vals))
	var b strings.Builder
	for _, key := range keys {
		for _, v := range vals[key] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(escape(key))
			b.WriteByte('=')
			b.WriteString(escape(v))
		}
	}
	if fragment {
		u.Fragment = b.String()
		return
	}
	u.RawQuery = b.String()
}

// escape percent-encodes all but RFC 3986's unreserved characters.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// verifierOK is Kong's validate_pkce_verifier.
func verifierOK(p *external.Params, code *tokens.Code) *oauthError {
	v, isString := p.Get("code_verifier")
	switch {
	case !p.Has("code_verifier"):
		return &oauthError{code: "invalid_request", desc: "code_verifier is required for PKCE authorization requests"}
	case !isString:
		return &oauthError{code: "invalid_request", desc: "code_verifier is not a string"}
	case len(v) < 43 || len(v) > 128:
		return &oauthError{code: "invalid_request", desc: "code_verifier must be between 43 and 128 characters"}
	}
	sum := sha256.Sum256([]byte(v))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	if code.Challenge == "" || subtle.ConstantTimeCompare([]byte(got), []byte(code.Challenge)) != 1 {
		return &oauthError{code: "invalid_grant", desc: "Invalid code"}
	}
	return nil
}

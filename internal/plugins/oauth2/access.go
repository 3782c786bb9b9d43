package oauth2

import (
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/tokens"
)

// accessTokenParam is the query and body argument a token may be sent in.
const accessTokenParam = "access_token"

// secrets are the names logs redact: the token's header and argument,
// and the endpoints' secrets.
func secrets(cfg any) (headers, query []string) {
	c := cfg.(*Config)
	if c.Config.Enabled() {
		return []string{c.AuthHeaderName}, []string{accessTokenParam}
	}
	return []string{c.AuthHeaderName}, []string{accessTokenParam, "client_secret", "refresh_token", "code",
		"code_verifier", "provision_key", "token"}
}

// credIndex finds a configuration's oauth2 credentials by id: a token
// names the credential it was issued to by id, the directory finds
// credentials by client_id.
type credIndex struct {
	dir  plugin.Directory
	byID map[string]*plugin.Credential
}

// credential finds the credential a token was issued to in the
// configuration in force; an index is built once per configuration.
func (k *kong) credential(dir plugin.Directory, id string) *plugin.Credential {
	idx := k.creds.Load()
	if idx == nil || idx.dir != dir {
		list := dir.Credentials(kindName)
		idx = &credIndex{dir: dir, byID: make(map[string]*plugin.Credential, len(list))}
		for _, cr := range list {
			idx.byID[cr.ID] = cr
		}
		k.creds.Store(idx)
	}
	return idx.byID[id]
}

// CheckCredentials is Kong's do_authentication: it finds the access
// token, checks it was issued for this service and is not expired, and
// authenticates the consumer of the credential it was issued to.
func (k *kong) CheckCredentials(c *plugin.Ctx) *plugin.Exit {
	token := k.accessToken(c)
	if token == "" {
		return k.missing
	}
	tok, err := k.store.ByAccess(c.Req.Context(), token)
	if err != nil {
		return plugin.NewExit(http.StatusInternalServerError, msgUnexpected)
	}
	if tok == nil {
		return k.invalid
	}
	svc := ""
	if c.Service != nil {
		svc = c.Service.ID
	}
	switch {
	case !k.global && tok.ServiceID == "":
		return k.globalOnly
	case tok.ServiceID != "" && tok.ServiceID != svc:
		return k.invalid
	case tok.ExpiresIn > 0 && k.now().Sub(tok.CreatedAt).Seconds() > float64(tok.ExpiresIn):
		return k.invalid
	}
	if c.Directory == nil {
		return k.invalid
	}
	cred := k.credential(c.Directory, tok.CredentialID)
	if cred == nil || cred.Consumer == nil {
		// The credential left the configuration: its tokens go with it.
		return k.invalid
	}
	fields := cred.Fields.(*Credential)
	plugin.Authenticate(c, cred)
	h := c.Req.Header
	// Kong identifies an oauth2 credential by its client_id.
	h["X-Credential-Identifier"] = []string{fields.ClientID}
	if tok.Scope != "" {
		h["X-Authenticated-Scope"] = []string{tok.Scope}
	}
	if tok.AuthenticatedUserID != "" {
		h["X-Authenticated-Userid"] = []string{tok.AuthenticatedUserID}
	}
	c.Claims = &claims{tok: tok, clientID: fields.ClientID}
	return nil
}

// accessToken is Kong's parse_access_token: the auth header's Bearer (or
// Token) value, else the access_token argument of the query or body;
// removed from the upstream request with hide_credentials.
func (k *kong) accessToken(c *plugin.Ctx) string {
	key, vs := k.authHeader.Values(c.Req.Header)
	if len(vs) > 0 {
		v := vs[0]
		token, ok := bearer(v)
		if !ok {
			// Kong looks the whole value up, which finds nothing.
			return v
		}
		if k.hide {
			delete(c.Req.Header, key)
		}
		return token
	}
	p := readParams(c)
	token, ok := p.get(accessTokenParam)
	if !ok {
		return ""
	}
	if k.hide {
		c.RawQuery = removeArg(c.RawQuery, accessTokenParam)
		if p.form && c.Req.Method != http.MethodGet {
			if removeFormArg(c.Req, accessTokenParam) != nil {
				return ""
			}
		}
	}
	return token
}

// bearer splits "Bearer <token>" (or "Token <token>", any case, any
// blanks) into its token: exactly two words, as Kong requires.
func bearer(v string) (string, bool) {
	f := strings.TrimLeft(v, " \t")
	i := strings.IndexAny(f, " \t")
	if i < 0 {
		return "", false
	}
	scheme, rest := f[:i], strings.TrimLeft(f[i:], " \t")
	rest = strings.TrimRight(rest, " \t")
	if rest == "" || strings.ContainsAny(rest, " \t") {
		return "", false
	}
	if !strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token") {
		return "", false
	}
	return rest, true
}

// claims are a gateway-issued token's claims for later plugins.
type claims struct {
	tok      *tokens.Token
	clientID string
}

// Claim answers scope, sub (the authenticated user) and client_id.
func (cl *claims) Claim(name string) (string, bool) {
	switch name {
	case "scope":
		return cl.tok.Scope, cl.tok.Scope != ""
	case "sub":
		return cl.tok.AuthenticatedUserID, cl.tok.AuthenticatedUserID != ""
	case "client_id":
		return cl.clientID, true
	}
	return "", false
}

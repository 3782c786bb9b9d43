package oauth2

import (
	"net/http"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/external"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/tokens"
)

// secrets are the names logs redact: the token's header and argument,
// and the endpoints' secrets (left out: code and token, names too common
// on other routes for every route's logs to hide them).
func secrets(cfg any) (headers, query []string) {
	c := cfg.(*Config)
	if c.Config.Enabled() {
		return []string{c.AuthHeaderName}, []string{external.AccessTokenParam}
	}
	return []string{c.AuthHeaderName}, []string{external.AccessTokenParam, "client_secret", "refresh_token", "code_verifier",
		"provision_key"}
}

// CheckCredentials is Kong's do_authentication: it finds the access
// token, checks it was issued for this service and is not expired, and
// authenticates the consumer of the credential it was issued to (the
// store never returns an expired token).
func (k *kong) CheckCredentials(c *plugin.Ctx) *plugin.Exit {
	token, _ := external.AccessToken(c, k.authHeader, k.hide)
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
	if e := k.usableHere(c, tok); e != nil {
		return e
	}
	cred := client(c, tok.ClientID)
	if cred == nil || cred.ID != tok.CredentialID {
		// The credential left the configuration (or its client_id went
		// to another): its tokens go with it.
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

// usableHere is nil for a token usable on this route (issued for its
// service, or global on a global_credentials route), else the answer.
func (k *kong) usableHere(c *plugin.Ctx, t *tokens.Token) *plugin.Exit {
	switch {
	case t.ServiceID == "" && !k.global:
		return k.globalOnly
	case t.ServiceID != "" && (c.Service == nil || t.ServiceID != c.Service.ID):
		return k.invalid
	}
	return nil
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

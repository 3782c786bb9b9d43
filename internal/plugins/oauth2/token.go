package oauth2

import (
	"context"
	"encoding/base64"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/external"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/tokens"
)

// basicRE is Kong's reading of a Basic header: anything before the
// scheme and blanks around it ignored.
var basicRE = regexp.MustCompile(`^\s*[Bb]asic\s*(.+)`)

// clientAuth is how a token request names its client: client_id and
// client_secret arguments, else a Basic header, else client_id alone.
type clientAuth struct {
	id, secret string
	// hasSecret: Basic credentials without ':' have none.
	hasSecret  bool
	fromHeader bool
}

func (k *kong) clientAuth(c *plugin.Ctx, p *external.Params) clientAuth {
	if p.Has("client_id") && p.Has("client_secret") {
		s, ok := p.Get("client_secret")
		return clientAuth{id: p.Str("client_id"), secret: s, hasSecret: ok}
	}
	if _, vs := k.authHeader.Values(c.Req.Header); len(vs) > 0 {
		a := clientAuth{fromHeader: true}
		if m := basicRE.FindStringSubmatch(vs[0]); m != nil {
			if raw, err := base64.StdEncoding.DecodeString(m[1]); err == nil {
				a.id, a.secret, a.hasSecret = strings.Cut(string(raw), ":")
			}
		}
		return a
	}
	return clientAuth{id: p.Str("client_id")}
}

// checkClient is Kong's client authentication of the token endpoint: a
// confidential client's secret must match, a public client must send
// none.
func checkClient(ctx context.Context, cred *plugin.Credential, auth clientAuth) *oauthError {
	f := fieldsOf(cred)
	if f.Public() {
		if strings.TrimSpace(auth.secret) != "" {
			return &oauthError{code: "invalid_request", desc: "client_secret is disallowed for public clients"}
		}
		return nil
	}
	if !auth.hasSecret {
		return errInvalidClient(auth.fromHeader)
	}
	ok, err := f.CheckSecret(ctx, auth.secret)
	switch {
	case err != nil:
		return errBusy
	case !ok:
		return errInvalidClient(auth.fromHeader)
	}
	return nil
}

// token is Kong's issue_token: the token endpoint of every grant.
func (k *kong) token(c *plugin.Ctx, p *external.Params) *plugin.Exit {
	state := p.Str("state")
	t, e := k.grant(c, p)
	if e != nil {
		return errorExit(e, state)
	}
	return endpointExit(http.StatusOK, t.body(state))
}

func (k *kong) grant(c *plugin.Ctx, p *external.Params) (*issued, *oauthError) {
	if ok, msg := k.isHTTPS(c); !ok {
		return nil, &oauthError{code: "access_denied", desc: msg}
	}
	ctx, cancel := storeCtx(c)
	defer cancel()
	var perr *oauthError
	grantType := p.Str("grant_type")
	switch {
	case grantType == "authorization_code", grantType == "refresh_token",
		grantType == "client_credentials" && k.enableClient, grantType == "password" && k.enablePass:
	default:
		perr = &oauthError{code: "unsupported_grant_type", desc: "Invalid grant_type"}
	}
	auth := k.clientAuth(c, p)
	cred := client(c, auth.id)
	if grantType != "client_credentials" {
		if cred == nil {
			perr = errInvalidClient(auth.fromHeader)
		} else if uri, _ := p.Get("redirect_uri"); p.Has("redirect_uri") &&
			!slices.Contains(fieldsOf(cred).RedirectURIs, uri) {
			perr = &oauthError{code: "invalid_request",
				desc: "Invalid redirect_uri that does not match with any redirect_uri created with the application"}
		}
	}
	if cred != nil {
		if e := checkClient(ctx, cred, auth); e != nil {
			perr = e
		}
	}
	if perr != nil {
		return nil, perr
	}
	switch grantType {
	case "authorization_code":
		return k.codeGrant(ctx, c, p, cred)
	case "client_credentials":
		if p.Has("authenticated_userid") && !k.provisionKeyOK(p) {
			return nil, &oauthError{code: "invalid_provision_key", desc: "Invalid provision_key"}
		}
		if cred == nil {
			return nil, errInvalidClient(false)
		}
		scope, e := k.scope(p)
		if e != nil {
			return nil, e
		}
		return k.issueOrFail(ctx, c, cred, p.Str("authenticated_userid"), scope, true, nil)
	case "password":
		if !k.provisionKeyOK(p) {
			return nil, &oauthError{code: "invalid_provision_key", desc: "Invalid provision_key"}
		}
		if strings.TrimSpace(p.Str("authenticated_userid")) == "" {
			return nil, &oauthError{code: "invalid_authenticated_userid", desc: "Missing authenticated_userid parameter"}
		}
		scope, e := k.scope(p)
		if e != nil {
			return nil, e
		}
		return k.issueOrFail(ctx, c, cred, p.Str("authenticated_userid"), scope, false, nil)
	}
	return k.refreshGrant(ctx, c, p, cred)
}

var errInvalidCode = &oauthError{code: "invalid_request", desc: "Invalid code"}

// codeGrant exchanges an authorization code. The code is taken (deleted)
// before it is checked, so a code is tried once on any node.
func (k *kong) codeGrant(ctx context.Context, c *plugin.Ctx, p *external.Params, cred *plugin.Credential) (*issued, *oauthError) {
	codeValue, ok := p.Get("code")
	if !ok || codeValue == "" {
		return nil, errInvalidCode
	}
	code, err := k.store.TakeCode(ctx, codeValue)
	if err != nil {
		return nil, errServer
	}
	if code == nil || code.ServiceID != k.binding(c, true) || code.CredentialID != cred.ID {
		return nil, errInvalidCode
	}
	if k.requiresPKCE(fieldsOf(cred), code.ChallengeMethod != "") {
		if e := verifierOK(p, code); e != nil {
			return nil, e
		}
	}
	return k.issueOrFail(ctx, c, cred, code.AuthenticatedUserID, code.Scope, false, nil)
}

var errInvalidRefresh = &oauthError{code: "invalid_request", desc: "Invalid refresh_token"}

// refreshGrant issues a new token for a refresh token of the client's.
// The checks run on the token found, then again on the token taken: with
// reuse_refresh_token a parallel refresh may have moved the refresh token
// to its new token in between, which this request then redeems.
func (k *kong) refreshGrant(ctx context.Context, c *plugin.Ctx, p *external.Params, cred *plugin.Credential) (*issued, *oauthError) {
	rt, ok := p.Get("refresh_token")
	if !ok || rt == "" {
		return nil, errInvalidRefresh
	}
	old, err := k.store.ByRefresh(ctx, rt)
	if err != nil {
		return nil, errServer
	}
	if e := k.refreshable(c, old, cred); e != nil {
		return nil, e
	}
	if old, err = k.store.TakeRefresh(ctx, rt); err != nil {
		return nil, errServer
	}
	if e := k.refreshable(c, old, cred); e != nil {
		return nil, e
	}
	reuse := ""
	if k.reuseRefresh {
		reuse = rt
	}
	return k.issueOrFail(ctx, c, cred, old.AuthenticatedUserID, old.Scope, false, &reuse)
}

// refreshable is Kong's check of a refresh token's token: issued for this
// service, to this client, with scopes this plugin still has.
func (k *kong) refreshable(c *plugin.Ctx, t *tokens.Token, cred *plugin.Credential) *oauthError {
	if t == nil || t.ServiceID != k.binding(c, false) {
		return errInvalidRefresh
	}
	if t.CredentialID != cred.ID {
		return errInvalidClient(false)
	}
	for _, s := range strings.Fields(t.Scope) {
		if _, ok := k.scopes[s]; !ok {
			return &oauthError{code: "invalid_scope", desc: "Scope mismatch"}
		}
	}
	return nil
}

func (k *kong) issueOrFail(ctx context.Context, c *plugin.Ctx, cred *plugin.Credential, userID, scope string,
	noRefresh bool, refresh *string) (*issued, *oauthError) {
	t, err := k.issue(ctx, c, cred, userID, scope, noRefresh, refresh)
	if err != nil {
		return nil, storeError(err)
	}
	return t, nil
}

// issue is Kong's generate_token: a new access token and, unless the
// grant has none or tokens never expire, a refresh token (refresh, when
// not nil and not empty, is kept: reuse_refresh_token).
func (k *kong) issue(ctx context.Context, c *plugin.Ctx, cred *plugin.Credential, userID, scope string,
	noRefresh bool, refresh *string) (*issued, error) {
	t := &issued{access: randomToken(32), expiresIn: max(k.tokenTTL, 0)}
	switch {
	case refresh != nil && *refresh != "":
		t.refresh = *refresh
	case !noRefresh && k.tokenTTL > 0:
		t.refresh = randomToken(32)
	}
	rec := &tokens.Token{
		ID: newID(), CredentialID: cred.ID, ClientID: fieldsOf(cred).ClientID, ConsumerID: cred.Consumer.ID,
		ServiceID:           k.binding(c, false),
		AuthenticatedUserID: userID, Scope: scope, TokenType: "bearer", ExpiresIn: t.expiresIn,
		CreatedAt: k.now(), HasRefresh: t.refresh != "",
	}
	if k.tokenTTL > 0 {
		rec.RefreshTTL = k.refreshTTL
	}
	if err := k.store.Put(ctx, rec, t.access, t.refresh); err != nil {
		return nil, err
	}
	return t, nil
}

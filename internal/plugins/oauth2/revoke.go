package oauth2

import (
	"context"
	"net/http"
	"strconv"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/external"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/tokens"
)

// The endpoints below are the two Kong lacks: RFC 7009 revocation and
// RFC 7662 introspection. Both authenticate the client as the token
// endpoint does, and a client sees and revokes only its own tokens.

// authenticatedClient is the client of a revocation or introspection
// request, or the answer refusing it.
func (k *kong) authenticatedClient(c *plugin.Ctx, p *external.Params) (*plugin.Credential, *plugin.Exit) {
	if ok, msg := k.isHTTPS(c); !ok {
		return nil, errorExit(&oauthError{code: "access_denied", desc: msg}, "")
	}
	auth := k.clientAuth(c, p)
	cred := client(c, auth.id)
	if cred == nil {
		return nil, errorExit(errInvalidClient(auth.fromHeader), "")
	}
	ctx, cancel := storeCtx(c)
	defer cancel()
	if e := checkClient(ctx, cred, auth); e != nil {
		return nil, errorExit(e, "")
	}
	if _, ok := p.Get("token"); !ok {
		return nil, errorExit(&oauthError{code: "invalid_request", desc: "The token parameter is missing"}, "")
	}
	return cred, nil
}

// find looks a token up as an access token or a refresh token, in the
// order token_type_hint suggests.
func (k *kong) find(ctx context.Context, p *external.Params) (*tokens.Token, error) {
	value := p.Str("token")
	first, second := k.store.ByAccess, k.store.ByRefresh
	if p.Str("token_type_hint") == "refresh_token" {
		first, second = second, first
	}
	t, err := first(ctx, value)
	if t != nil || err != nil {
		return t, err
	}
	return second(ctx, value)
}

// revoke is RFC 7009's endpoint: the token and its refresh token go, on
// every node; an unknown token, or another client's, is answered 200 as
// the RFC asks, and left alone.
func (k *kong) revoke(c *plugin.Ctx, p *external.Params) *plugin.Exit {
	cred, exit := k.authenticatedClient(c, p)
	if exit != nil {
		return exit
	}
	ctx, cancel := storeCtx(c)
	defer cancel()
	t, err := k.find(ctx, p)
	if err == nil && t != nil && t.CredentialID == cred.ID {
		_, err = k.store.Delete(ctx, t.ID)
	}
	if err != nil {
		return errorExit(errServer, "")
	}
	return endpointExit(http.StatusOK, nil)
}

// introspect is RFC 7662's endpoint: an active token of the client's,
// valid on this route, is described; any other is {"active":false}.
func (k *kong) introspect(c *plugin.Ctx, p *external.Params) *plugin.Exit {
	cred, exit := k.authenticatedClient(c, p)
	if exit != nil {
		return exit
	}
	ctx, cancel := storeCtx(c)
	defer cancel()
	t, err := k.find(ctx, p)
	if err != nil {
		return errorExit(errServer, "")
	}
	if t == nil || t.CredentialID != cred.ID || k.usableHere(c, t) != nil || t.Expired(k.now()) {
		return endpointExit(http.StatusOK, []byte(`{"active":false}`))
	}
	desc := object(field{name: "scope", value: t.Scope}, field{name: "client_id", value: fieldsOf(cred).ClientID},
		field{name: "username", value: cred.Consumer.Username}, field{name: "token_type", value: "bearer"},
		field{name: "exp", value: expiry(t), number: true},
		field{name: "iat", value: strconv.FormatInt(t.CreatedAt.Unix(), 10), number: true},
		field{name: "sub", value: t.AuthenticatedUserID})
	// desc has members (token_type at least): active goes first.
	body := append([]byte(`{"active":true,`), desc[1:]...)
	return endpointExit(http.StatusOK, body)
}

func expiry(t *tokens.Token) string {
	if t.ExpiresIn <= 0 {
		return ""
	}
	return strconv.FormatInt(t.CreatedAt.Unix()+int64(t.ExpiresIn), 10)
}

package openidconnect

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cookie"
)

// isLogout is Kong's: the method is one of logout_methods and the path
// ends with logout_uri_suffix or the query has logout_query_arg.
func (in *instance) isLogout(c *plugin.Ctx) bool {
	if in.logoutSuffix == "" && in.logoutQuery == "" || !contains(in.logoutMethods, c.Req.Method) {
		return false
	}
	if in.logoutSuffix != "" && strings.HasSuffix(c.Req.URL.Path, in.logoutSuffix) {
		return true
	}
	if in.logoutQuery != "" && c.Req.URL.RawQuery != "" {
		// A malformed pair is skipped; the others still count.
		q, _ := url.ParseQuery(c.Req.URL.RawQuery)
		_, ok := q[in.logoutQuery]
		return ok
	}
	return false
}

// logout ends the session: its cookies are removed, its tokens revoked at
// the provider when logout_revoke is on, and the browser is sent to the
// provider's end_session_endpoint (RP-initiated logout, with the ID token
// as id_token_hint and logout_redirect_uri as post_logout_redirect_uri),
// else to logout_redirect_uri, else answered 200.
func (in *instance) logout(c *plugin.Ctx, d *sessionData) error {
	h := http.Header{"Cache-Control": {"no-store"}}
	cookie.ClearChunked(h, c.Req.Header, in.sessionName, in.sessionAttrs[in.secureIndex(c)])
	location := in.logoutRedirect
	if d != nil {
		if in.logoutRevoke {
			in.revoke(c, d)
		}
		endSession := in.endSessionURL
		if endSession == "" {
			if m, err := in.metadata(c.Req.Context()); err == nil {
				endSession = m.EndSessionEndpoint
			}
		}
		if endSession != "" {
			q := url.Values{"id_token_hint": {d.idToken}}
			if in.logoutRedirect != "" {
				q.Set("post_logout_redirect_uri", in.logoutRedirect)
			}
			if in.clientID != "" {
				q.Set("client_id", in.clientID)
			}
			sep := "?"
			if strings.Contains(endSession, "?") {
				sep = "&"
			}
			location = endSession + sep + q.Encode()
		}
	}
	if location == "" {
		return &plugin.Exit{Status: http.StatusOK, Body: []byte{}, Header: h}
	}
	h["Location"] = []string{location}
	return &plugin.Exit{Status: http.StatusFound, Body: []byte{}, Header: h}
}

// revoke asks the provider to revoke the session's refresh and access
// tokens (RFC 7009); failures are logged, the logout goes on.
func (in *instance) revoke(c *plugin.Ctx, d *sessionData) {
	endpoint := in.revocationURL
	if endpoint == "" {
		if m, err := in.metadata(c.Req.Context()); err == nil {
			endpoint = m.RevocationEndpoint
		}
	}
	if endpoint == "" {
		return
	}
	for _, t := range []struct{ tok, hint string }{{d.refreshToken, "refresh_token"}, {d.accessToken, "access_token"}} {
		if t.tok == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(c.Req.Context(), in.timeout)
		form := url.Values{"token": {t.tok}, "token_type_hint": {t.hint}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(in.clientID), url.QueryEscape(in.clientSecret))
			var resp *http.Response
			if resp, err = in.v.Client().Do(req); err == nil {
				resp.Body.Close()
			}
		}
		cancel()
		if err != nil {
			in.log.Warn("openid-connect: token revocation failed", "error", err.Error())
		}
	}
}

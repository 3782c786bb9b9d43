package external

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// StateCookie carries the state of an authorization request the gateway
// started, so that the application at redirect_uri can check the state
// the server sends back (RFC 6749 10.12).
const StateCookie = "turnpike_oauth2_state"

// login sends browsers without a token to log in: to login_redirect_url
// as written, else to the authorization endpoint with an authorization
// code request (response_type=code, client_id, redirect_uri, scope,
// state).
type login struct {
	// url is login_redirect_url, or the authorization request without
	// its state; "" sends no browser anywhere.
	url       string
	withState bool
}

func newLogin(c *Config, scopes []string) login {
	if c.LoginRedirectURL != "" {
		return login{url: c.LoginRedirectURL}
	}
	if c.AuthorizationEndpoint == "" || c.ClientID == "" {
		return login{}
	}
	q := url.Values{"response_type": {"code"}, "client_id": {c.ClientID}}
	if c.RedirectURI != "" {
		q.Set("redirect_uri", c.RedirectURI)
	}
	if len(scopes) > 0 {
		q.Set("scope", strings.Join(scopes, " "))
	}
	sep := "?"
	if strings.Contains(c.AuthorizationEndpoint, "?") {
		sep = "&"
	}
	return login{url: c.AuthorizationEndpoint + sep + q.Encode(), withState: true}
}

// redirect answers a browser's page request (GET or HEAD, Accept naming
// text/html) with 302 to log in; nil for other requests, which get 401.
func (l *login) redirect(c *plugin.Ctx) *plugin.Exit {
	if l.url == "" || c.Req.Method != http.MethodGet && c.Req.Method != http.MethodHead ||
		!strings.Contains(c.Req.Header.Get("Accept"), "text/html") {
		return nil
	}
	h := http.Header{"Cache-Control": {"no-store"}}
	if !l.withState {
		h["Location"] = []string{l.url}
		return &plugin.Exit{Status: http.StatusFound, Header: h, Body: []byte{}, ContentType: "text/html; charset=utf-8"}
	}
	var b [16]byte
	rand.Read(b[:])
	state := base64.RawURLEncoding.EncodeToString(b[:])
	cookie := &http.Cookie{Name: StateCookie, Value: state, Path: "/", MaxAge: 600, HttpOnly: true,
		Secure: c.Scheme == "https", SameSite: http.SameSiteLaxMode}
	h["Location"] = []string{l.url + "&state=" + state}
	h["Set-Cookie"] = []string{cookie.String()}
	return &plugin.Exit{Status: http.StatusFound, Header: h, Body: []byte{}, ContentType: "text/html; charset=utf-8"}
}

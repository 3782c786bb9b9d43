package session

import (
	"crypto/rand"
	"net/http"
	"strconv"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cookie"
)

const name = "session"

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:       name,
		Priority:   1900,
		NewConfig:  func() any { return &Config{} },
		New:        New,
		NoConsumer: true,
	}
}

type instance struct {
	seal                              *sealer
	cookieName, rememberName          string
	idling, rolling, absolute         int64
	remember                          bool
	rememberRolling, rememberAbsolute int64
	logoutMethods                     []string
	logoutQuery, logoutPost           string
	readBody                          bool
	audience                          string
	requestHeaders, responseHeaders   uint8
	attrs                             string // "; Path=/; SameSite=Strict; Secure; HttpOnly"
	life, rememberLife                cookie.Lifetime
	now                               func() time.Time
	release                           func()
}

// New validates the config and derives the cookie key.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	c.applyShorthands()
	if errs := c.validate(); len(errs) > 0 {
		return nil, errs
	}
	secret, release := cookie.Secret(c.Secret, env, "session")
	s, err := newSealer(secret, c.Audience, c.CookieName)
	if err != nil {
		release()
		return nil, err
	}
	in := &instance{
		seal: s, cookieName: c.CookieName, rememberName: c.RememberCookieName,
		idling: int64(c.IdlingTimeout), rolling: int64(c.RollingTimeout), absolute: int64(c.AbsoluteTimeout),
		remember: c.Remember, rememberRolling: int64(c.RememberRollingTimeout), rememberAbsolute: int64(c.RememberAbsoluteTimeout),
		logoutMethods: c.LogoutMethods, readBody: c.ReadBodyForLogout, audience: c.Audience,
		requestHeaders: headerMask(c.RequestHeaders), responseHeaders: headerMask(c.ResponseHeaders),
		now: time.Now, release: release,
	}
	attrs := cookie.Attrs{Path: c.CookiePath, SameSite: c.CookieSameSite, Secure: c.CookieSecure, HTTPOnly: c.CookieHTTPOnly}
	if c.CookieDomain != nil {
		attrs.Domain = *c.CookieDomain
	}
	in.attrs = attrs.String()
	in.life = cookie.NewLifetime(in.idling, in.rolling, in.absolute)
	in.rememberLife = cookie.NewLifetime(0, in.rememberRolling, in.rememberAbsolute)
	if c.LogoutQueryArg != nil {
		in.logoutQuery = *c.LogoutQueryArg
	}
	if c.LogoutPostArg != nil {
		in.logoutPost = *c.LogoutPostArg
	}
	return in, nil
}

// Close gives back a generated secret.
func (in *instance) Close() { in.release() }

// reqState is what the access phase leaves for the header filter.
type reqState struct {
	d data
	// open is set when a cookie opened and its consumer exists.
	open bool
	// renew asks for the cookies to be issued again.
	renew bool
	// clear asks for the cookies to be removed (their consumer is gone).
	clear bool
}

// Access authenticates a request carrying a valid session cookie, or logs
// it out. Anything wrong with the cookie leaves the request as it was.
func (in *instance) Access(c *plugin.Ctx) error {
	d, now, ok := in.openCookie(c.Req)
	if !ok {
		return nil
	}
	if in.logout(c) {
		return &plugin.Exit{Status: http.StatusOK, Body: []byte{}, Header: http.Header{"Set-Cookie": in.clearCookies()}}
	}
	st := &reqState{d: d}
	if c.Shared == nil {
		c.Shared = map[string]any{}
	}
	c.Shared[name] = st
	var consumer *plugin.Consumer
	ok = false
	if c.Directory != nil {
		consumer, ok = c.Directory.Consumer(d.consumerID)
	}
	if !ok {
		st.clear = true
		return nil
	}
	st.open = true
	st.renew = d.remember || in.life.RenewDue(d.issued, now)
	plugin.Authenticate(c, &plugin.Credential{ID: d.credentialID, Consumer: consumer})
	delete(c.Req.Header, "X-Authenticated-Groups")
	in.setHeaders(c.Req.Header, in.requestHeaders, &d, now)
	return nil
}

// openCookie finds the session cookie, or the remember cookie when the
// session cookie does not open, and checks its timeouts at now (read only
// when there is a cookie: most requests have none).
func (in *instance) openCookie(r *http.Request) (d data, now int64, ok bool) {
	if v, found := cookie.Get(r.Header, in.cookieName); found {
		now = in.now().Unix()
		if d, ok = in.seal.open(v); ok && !d.remember && in.valid(&d, now) {
			return d, now, true
		}
	}
	if in.remember {
		if v, found := cookie.Get(r.Header, in.rememberName); found {
			if now == 0 {
				now = in.now().Unix()
			}
			if d, ok = in.seal.open(v); ok && d.remember && in.valid(&d, now) {
				return d, now, true
			}
		}
	}
	return data{}, 0, false
}

// valid checks the cookie's times against its kind's timeouts.
func (in *instance) valid(d *data, now int64) bool {
	if d.remember {
		return in.rememberLife.Valid(d.created, d.issued, now)
	}
	return in.life.Valid(d.created, d.issued, now)
}

// HeaderFilter issues the cookies: for a consumer an auth plugin
// authenticated with a credential (not the anonymous consumer) unless the
// session already says so, again when the access phase asked to renew
// them, and expired ones when the session's consumer is gone.
func (in *instance) HeaderFilter(c *plugin.Ctx) {
	st, _ := c.Shared[name].(*reqState)
	h := c.Resp.Header
	if st != nil && st.clear {
		h["Set-Cookie"] = append(h["Set-Cookie"], in.clearCookies()...)
	}
	if c.Credential == "" || c.Consumer == nil {
		return
	}
	now := in.now().Unix()
	var d data
	switch {
	case st != nil && st.open && st.d.consumerID == c.Consumer.ID && st.d.credentialID == c.Credential:
		d = st.d
		if !st.renew {
			in.setHeaders(h, in.responseHeaders, &d, now)
			return
		}
	default:
		d = data{created: now, consumerID: c.Consumer.ID, credentialID: c.Credential, subject: subject(c.Consumer)}
		rand.Read(d.id[:]) // never fails: it crashes the process instead
	}
	d.issued = now
	d.remember = false
	cookies := []string{in.cookieName + "=" + in.seal.seal(&d) + in.attrs}
	if in.remember {
		r := d
		r.remember = true
		age := strconv.FormatInt(in.rememberRolling, 10)
		cookies = append(cookies, in.rememberName+"="+in.seal.seal(&r)+in.attrs+
			"; Expires="+time.Unix(now+in.rememberRolling, 0).UTC().Format(http.TimeFormat)+"; Max-Age="+age)
	}
	h["Set-Cookie"] = append(h["Set-Cookie"], cookies...)
	in.setHeaders(h, in.responseHeaders, &d, now)
}

// subject is Kong's: the username, else the custom id, else the id.
func subject(c *plugin.Consumer) string {
	switch {
	case c.Username != "":
		return c.Username
	case c.CustomID != "":
		return c.CustomID
	}
	return c.ID
}

// clearCookies expire the session cookie (and the remember cookie).
func (in *instance) clearCookies() []string {
	out := []string{in.cookieName + "=" + in.attrs + cookie.Expired}
	if in.remember {
		out = append(out, in.rememberName+"="+in.attrs+cookie.Expired)
	}
	return out
}

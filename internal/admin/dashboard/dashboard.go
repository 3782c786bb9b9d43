package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
)

//go:embed static
var static embed.FS

// Prefix is the path the dashboard is served under, and APIPrefix the
// path its pages call the admin API under: /dashboard/admin/services is
// GET /services. Its session cookie is scoped to Prefix, so it reaches
// the admin API only through the session check here. Cookies ignore
// ports: a browser also sends it to /dashboard on the proxy's port of the
// same host, and the proxy removes it from what it forwards upstream.
const (
	Prefix    = "/dashboard"
	APIPrefix = Prefix + "/admin"
)

// securityHeaders go on every dashboard response. The CSP allows nothing
// but this origin's own files: no inline script or style (the pages have
// none), no framing, no form posting elsewhere, so an injected string in
// an entity name can neither run nor exfiltrate anything.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	"X-Frame-Options":        "DENY",
	"Referrer-Policy":        "no-referrer",
	"X-Content-Type-Options": "nosniff",
	"Cache-Control":          "no-cache",
}

// maxLoginBody bounds a login's body. Failed logins are not throttled:
// the admin API on the same listener takes the same tokens as Bearer
// headers, unthrottled, so a throttle here would slow no guesser, and a
// shared one would let anyone lock every admin out of the dashboard.
const maxLoginBody = 4 << 10

// Options configure the dashboard.
type Options struct {
	// API serves the admin API's routes to the dashboard's pages, which
	// call them under APIPrefix; it checks no token (the session stood
	// for it).
	API http.Handler
	// Login maps a token typed in the login form to its credential.
	// nil: the admin API has no token (loopback only), so there is no
	// login and every visitor is admin, as on the API itself.
	Login func(token string) (Identity, bool)
}

// Dashboard serves the dashboard's files, its login and its session, and
// forwards its pages' admin API calls once the session admits them.
type Dashboard struct {
	opts     Options
	api      http.Handler
	sessions *sessions
}

// New returns the dashboard.
func New(o Options) *Dashboard {
	// The admin API's root, GET /, is /dashboard/admin (a trailing slash
	// is trimmed before routing).
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" {
			r.URL.Path = "/"
		}
		o.API.ServeHTTP(w, r)
	})
	return &Dashboard{opts: o, api: http.StripPrefix(APIPrefix, root), sessions: newSessions()}
}

// Owns reports whether p is one of the dashboard's paths.
func Owns(p string) bool { return p == Prefix || strings.HasPrefix(p, Prefix+"/") }

// admit decides a page's admin API call when there is a token: the
// session its cookie names, else the status to refuse it with (401 no
// session, 403 a request other than GET, HEAD or OPTIONS without the
// session's CSRF token and this origin: a browser sends Origin on all of
// those) and why. What the session's credential may do is the admin
// API's to decide.
func (d *Dashboard) admit(r *http.Request) (*session, int, string) {
	se := d.sessions.lookup(r)
	if se == nil {
		return nil, http.StatusUnauthorized, "Unauthorized"
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return se, 0, ""
	}
	if !csrfOK(r, se) {
		return nil, http.StatusForbidden, "missing or wrong " + CSRFHeader + " header or Origin for the dashboard session"
	}
	return se, 0, ""
}

type identityKey struct{}

// SessionIdentity is the credential of the session that admitted r, a
// call the dashboard forwarded to Options.API; false when the admin API
// has no token (no session).
func SessionIdentity(r *http.Request) (Identity, bool) {
	id, ok := r.Context().Value(identityKey{}).(Identity)
	return id, ok
}

func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range securityHeaders {
		w.Header().Set(k, v)
	}
	if r.URL.Path == APIPrefix || strings.HasPrefix(r.URL.Path, APIPrefix+"/") {
		d.forward(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, Prefix+"/api/") {
		// CSRF tokens: never kept by a cache.
		w.Header().Set("Cache-Control", "no-store")
	}
	switch r.URL.Path {
	case Prefix + "/api/session":
		d.only(w, r, http.MethodGet, d.session)
	case Prefix + "/api/login":
		d.only(w, r, http.MethodPost, d.login)
	case Prefix + "/api/logout":
		d.only(w, r, http.MethodPost, d.logout)
	default:
		d.only(w, r, http.MethodGet, d.file)
	}
}

// forward passes a page's admin API call on, admitted by its session when
// the admin API has a token.
func (d *Dashboard) forward(w http.ResponseWriter, r *http.Request) {
	if d.opts.Login != nil {
		se, status, msg := d.admit(r)
		if status != 0 {
			writeJSON(w, status, map[string]any{"message": msg})
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), identityKey{}, se.who))
	}
	d.api.ServeHTTP(w, r)
}

func (d *Dashboard) only(w http.ResponseWriter, r *http.Request, m string, h http.HandlerFunc) {
	if r.Method != m && (m != http.MethodGet || r.Method != http.MethodHead) {
		w.Header().Set("Allow", m)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": "Method not allowed"})
		return
	}
	h(w, r)
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// file serves the embedded files; every page is index.html, which routes
// by the URL fragment.
func (d *Dashboard) file(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	if name == "" || name == "/" {
		name = "/index.html"
	}
	ct, ok := contentTypes[path.Ext(name)]
	data, err := static.ReadFile("static" + path.Clean(name))
	if !ok || err != nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not found"})
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

// session tells the page whether it must log in, and gives a logged-in
// page its role and CSRF token. Another origin cannot read it: the admin
// API refuses cross-site requests and sends no CORS headers.
func (d *Dashboard) session(w http.ResponseWriter, r *http.Request) {
	if d.opts.Login == nil {
		writeJSON(w, http.StatusOK, map[string]any{"login_required": false, "logged_in": true, "role": RoleAdmin, "csrf": ""})
		return
	}
	se := d.sessions.lookup(r)
	if se == nil {
		writeJSON(w, http.StatusOK, map[string]any{"login_required": true, "logged_in": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"login_required": true, "logged_in": true, "role": se.who.Role, "csrf": se.csrf})
}

// login takes the admin token from a form or JSON body and, when it is
// right, starts a session whose id goes in an HTTP-only, SameSite=Strict
// cookie (Secure on TLS).
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	if d.opts.Login == nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "the admin API has no token: no login is needed"})
		return
	}
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "login must come from the dashboard's own origin"})
		return
	}
	token, ok := readToken(w, r)
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "expected a token form field or JSON {\"token\": ...} of at most 4096 bytes"})
		return
	}
	who, ok := d.opts.Login(token)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "wrong token"})
		return
	}
	id, se := d.sessions.create(who)
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: id, Path: Prefix, MaxAge: int(SessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	writeJSON(w, http.StatusOK, map[string]any{"role": se.who.Role, "csrf": se.csrf})
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	se := d.sessions.lookup(r)
	if se == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Unauthorized"})
		return
	}
	if !csrfOK(r, se) {
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "missing or wrong " + CSRFHeader + " header or Origin"})
		return
	}
	d.sessions.drop(r)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	w.WriteHeader(http.StatusNoContent)
}

func readToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLoginBody))
	if err != nil {
		return "", false
	}
	var token string
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var v struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(body, &v) != nil {
			return "", false
		}
		token = v.Token
	} else {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return "", false
		}
		token = q.Get("token")
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// sameOrigin reports a request whose Origin names the host it was sent
// to, with the scheme of the connection. A request without Origin fails:
// every browser sends one on a state-changing fetch.
func sameOrigin(r *http.Request) bool {
	u, err := url.Parse(r.Header.Get("Origin"))
	if err != nil || u.Host == "" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return u.Scheme == scheme && strings.EqualFold(u.Host, r.Host)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

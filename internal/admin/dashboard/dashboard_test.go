package dashboard

import (
	"crypto/tls"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

const origin = "http://example.com"

// apiPaths is an admin API stand-in that answers with the path it got.
var apiPaths = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"path": r.URL.Path, "method": r.Method})
})

func newTest(token, role string) *Dashboard {
	return New(Options{API: apiPaths, Login: func(t string) (Identity, bool) { return Identity{Name: "n-" + role, Role: role}, t == token }})
}

func loginReq(token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/dashboard/api/login", strings.NewReader("token="+token))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", origin)
	return r
}

func serve(d *Dashboard, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, r)
	return rec
}

// Every dashboard answer, files, API and errors alike, carries the strict
// headers.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	d := newTest("tok", RoleAdmin)
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/dashboard", nil),
		httptest.NewRequest(http.MethodGet, "/dashboard/app.js", nil),
		httptest.NewRequest(http.MethodGet, "/dashboard/style.css", nil),
		httptest.NewRequest(http.MethodGet, "/dashboard/nope.js", nil),
		httptest.NewRequest(http.MethodGet, "/dashboard/../dashboard.go", nil),
		httptest.NewRequest(http.MethodGet, "/dashboard/api/session", nil),
		httptest.NewRequest(http.MethodDelete, "/dashboard", nil),
		loginReq("wrong"),
	} {
		rec := serve(d, r)
		h := rec.Header()
		if !strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'self'") || strings.Contains(h.Get("Content-Security-Policy"), "unsafe-inline") ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s %s: %d, headers %v", r.Method, r.URL.Path, rec.Code, h)
		}
	}
	if rec := serve(d, httptest.NewRequest(http.MethodGet, "/dashboard/../dashboard.go", nil)); rec.Code != http.StatusNotFound {
		t.Errorf("a path outside the static files: %d", rec.Code)
	}
	if rec := serve(d, httptest.NewRequest(http.MethodGet, "/dashboard/app.js", nil)); rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("app.js content type %q", rec.Header().Get("Content-Type"))
	}
}

// The pages hold no inline script or style (the CSP forbids both, so
// there would be errors) and name no other origin.
func TestStaticFilesSelfContained(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]`)
	inline := regexp.MustCompile(`(?i)<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=|javascript:|innerHTML|eval\(|new Function`)
	fs.WalkDir(static, "static", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, _ := static.ReadFile(p)
		text := strings.ReplaceAll(string(data), `xmlns="http://www.w3.org/2000/svg"`, "")
		if m := external.FindString(text); m != "" {
			t.Errorf("%s names another origin: %q", p, m)
		}
		if m := inline.FindString(text); m != "" {
			t.Errorf("%s has inline code or markup injection: %q", p, m)
		}
		return nil
	})
}

// A right token starts a session: the cookie holds a random id (not the
// token), HTTP-only, SameSite=Strict, Secure over TLS.
func TestLoginSetsSessionCookie(t *testing.T) {
	d := newTest("tok-abc", RoleAdmin)
	rec := serve(d, loginReq("tok-abc"))
	if rec.Code != http.StatusOK {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	c := rec.Result().Cookies()[0]
	if c.Name != CookieName || len(c.Value) != 64 || strings.Contains(c.Value, "tok-abc") || !c.HttpOnly ||
		c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != Prefix {
		t.Errorf("cookie %+v", c)
	}
	r := loginReq("tok-abc")
	r.TLS = &tls.ConnectionState{}
	r.Header.Set("Origin", "https://example.com")
	if c := serve(d, r).Result().Cookies(); len(c) != 1 || !c[0].Secure {
		t.Errorf("cookie over TLS: %+v", c)
	}
	s := httptest.NewRequest(http.MethodGet, "/dashboard/api/session", nil)
	s.AddCookie(c)
	if body := serve(d, s).Body.String(); !strings.Contains(body, `"logged_in":true`) || !strings.Contains(body, `"role":"admin"`) {
		t.Errorf("session: %s", body)
	}
}

// Logins are refused from another origin and with a wrong token; failed
// logins, however many, do not lock the right token out.
func TestLoginRefusals(t *testing.T) {
	d := newTest("tok", RoleAdmin)
	r := loginReq("tok")
	r.Header.Del("Origin")
	if rec := serve(d, r); rec.Code != http.StatusForbidden {
		t.Errorf("login without Origin: %d", rec.Code)
	}
	r = loginReq("tok")
	r.Header.Set("Origin", "http://evil.example")
	if rec := serve(d, r); rec.Code != http.StatusForbidden {
		t.Errorf("login from another origin: %d", rec.Code)
	}
	big := httptest.NewRequest(http.MethodPost, "/dashboard/api/login", strings.NewReader("token="+strings.Repeat("x", maxLoginBody)))
	big.Header.Set("Origin", origin)
	if rec := serve(d, big); rec.Code != http.StatusBadRequest {
		t.Errorf("oversized login body: %d", rec.Code)
	}
	for i := range 100 {
		if rec := serve(d, loginReq("wrong")); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, rec.Code)
		}
	}
	if rec := serve(d, loginReq("tok")); rec.Code != http.StatusOK {
		t.Errorf("login after 100 failures: %d, want 200", rec.Code)
	}
	if serve(New(Options{API: apiPaths}), loginReq("tok")).Code != http.StatusBadRequest {
		t.Errorf("a dashboard without a token has no login")
	}
}

func sessionOf(t *testing.T, d *Dashboard, token string) (*http.Cookie, string) {
	t.Helper()
	rec := serve(d, loginReq(token))
	body := rec.Body.String()
	i := strings.Index(body, `"csrf":"`)
	if rec.Code != http.StatusOK || i < 0 {
		t.Fatalf("login: %d %s", rec.Code, body)
	}
	return rec.Result().Cookies()[0], body[i+8 : i+8+64]
}

// The pages' admin API calls reach the API without the prefix, admitted
// by the session; without a token there is no session to check.
func TestForward(t *testing.T) {
	d := newTest("tok", RoleAdmin)
	cookie, csrf := sessionOf(t, d, "tok")
	r := httptest.NewRequest(http.MethodPost, "/dashboard/admin/config?check=true", nil)
	r.AddCookie(cookie)
	r.Header.Set("Origin", origin)
	if rec := serve(d, r); rec.Code != http.StatusForbidden {
		t.Errorf("POST without CSRF: %d %s", rec.Code, rec.Body)
	}
	r.Header.Set(CSRFHeader, csrf)
	if rec := serve(d, r); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"path":"/config"`) {
		t.Errorf("POST with CSRF: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(d, httptest.NewRequest(http.MethodGet, "/dashboard/admin/services", nil)); rec.Code != http.StatusUnauthorized {
		t.Errorf("GET without a session: %d", rec.Code)
	}
	open := New(Options{API: apiPaths})
	if rec := serve(open, httptest.NewRequest(http.MethodGet, "/dashboard/admin/services", nil)); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"path":"/services"`) {
		t.Errorf("GET without a token: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(open, httptest.NewRequest(http.MethodGet, "/dashboard/admin", nil)); !strings.Contains(rec.Body.String(), `"path":"/"`) {
		t.Errorf("GET /dashboard/admin is not the API's root: %d %s", rec.Code, rec.Body)
	}
}

// admit: reads need the session, writes its CSRF token and this origin
// too; the role is not the dashboard's to decide.
func TestAdmit(t *testing.T) {
	admin := newTest("tok", RoleAdmin)
	cookie, csrf := sessionOf(t, admin, "tok")
	req := func(method string, header ...string) *http.Request {
		r := httptest.NewRequest(method, "/config", nil)
		r.AddCookie(cookie)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		return r
	}
	for _, tc := range []struct {
		name string
		r    *http.Request
		want int
	}{
		{"no cookie", httptest.NewRequest(http.MethodGet, "/config", nil), http.StatusUnauthorized},
		{"GET", req(http.MethodGet), 0},
		{"POST without CSRF", req(http.MethodPost, "Origin", origin), http.StatusForbidden},
		{"POST with another session's CSRF", req(http.MethodPost, "Origin", origin, CSRFHeader, strings.Repeat("f", 64)), http.StatusForbidden},
		{"POST from another origin", req(http.MethodPost, "Origin", "http://evil.example", CSRFHeader, csrf), http.StatusForbidden},
		{"POST with CSRF", req(http.MethodPost, "Origin", origin, CSRFHeader, csrf), 0},
		{"DELETE with CSRF", req(http.MethodDelete, "Origin", origin, CSRFHeader, csrf), 0},
	} {
		if _, got, _ := admin.admit(tc.r); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	ro := newTest("ro", RoleReadOnly)
	cookie, csrf = sessionOf(t, ro, "ro")
	r := httptest.NewRequest(http.MethodPost, "/config", nil)
	r.AddCookie(cookie)
	r.Header.Set("Origin", origin)
	r.Header.Set(CSRFHeader, csrf)
	if se, got, msg := ro.admit(r); got != 0 || se.who != (Identity{Name: "n-read-only", Role: RoleReadOnly}) {
		t.Errorf("read-only POST: %d %s, session %+v", got, msg, se)
	}
}

// A forwarded call carries the session's credential for the admin API.
func TestForwardCarriesIdentity(t *testing.T) {
	var got Identity
	var ok bool
	d := New(Options{
		API:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got, ok = SessionIdentity(r) }),
		Login: func(t string) (Identity, bool) { return Identity{Name: "jane", Role: RoleReadOnly}, t == "tok" },
	})
	cookie, _ := sessionOf(t, d, "tok")
	r := httptest.NewRequest(http.MethodGet, "/dashboard/admin/services", nil)
	r.AddCookie(cookie)
	serve(d, r)
	if !ok || got != (Identity{Name: "jane", Role: RoleReadOnly}) {
		t.Errorf("identity %+v %v", got, ok)
	}
}

// Sessions are bounded in number (the oldest goes) and in lifetime, and
// logout ends one.
func TestSessionsBounded(t *testing.T) {
	d := newTest("tok", RoleAdmin)
	now := time.Unix(1_000_000, 0)
	d.sessions.now = func() time.Time { return now }
	first, _ := sessionOf(t, d, "tok")
	for range MaxSessions + 10 {
		now = now.Add(time.Second)
		sessionOf(t, d, "tok")
	}
	if n := d.sessions.len(); n != MaxSessions {
		t.Errorf("%d sessions, want %d", n, MaxSessions)
	}
	get := func(c *http.Cookie) int {
		r := httptest.NewRequest(http.MethodGet, "/services", nil)
		r.AddCookie(c)
		_, code, _ := d.admit(r)
		return code
	}
	if get(first) != http.StatusUnauthorized {
		t.Errorf("the oldest session survived the bound")
	}
	last, csrf := sessionOf(t, d, "tok")
	if get(last) != 0 {
		t.Fatalf("a new session is not admitted")
	}
	now = now.Add(SessionTTL)
	if get(last) != http.StatusUnauthorized {
		t.Errorf("a session outlived SessionTTL")
	}
	now = now.Add(-SessionTTL)
	d.sessions.m = map[[32]byte]*session{}
	last, csrf = sessionOf(t, d, "tok")
	out := httptest.NewRequest(http.MethodPost, "/dashboard/api/logout", nil)
	out.AddCookie(last)
	out.Header.Set("Origin", origin)
	if rec := serve(d, out); rec.Code != http.StatusForbidden {
		t.Errorf("logout without CSRF: %d", rec.Code)
	}
	out.Header.Set(CSRFHeader, csrf)
	if rec := serve(d, out); rec.Code != http.StatusNoContent {
		t.Errorf("logout: %d", rec.Code)
	}
	if get(last) != http.StatusUnauthorized {
		t.Errorf("the session survived logout")
	}
}

// Admit runs on every admin API request that carries the session cookie
// instead of the token.
func BenchmarkAdmit(b *testing.B) {
	d := newTest("tok", RoleAdmin)
	rec := serve(d, loginReq("tok"))
	body := rec.Body.String()
	i := strings.Index(body, `"csrf":"`)
	csrf := body[i+8 : i+8+64]
	cookie := rec.Result().Cookies()[0]
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		r := httptest.NewRequest(m, "/services", nil)
		r.AddCookie(cookie)
		r.Header.Set("Origin", origin)
		r.Header.Set(CSRFHeader, csrf)
		b.Run(m, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, code, _ := d.admit(r); code != 0 {
					b.Fatal(code)
				}
			}
		})
	}
}

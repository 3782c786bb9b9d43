package admin

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/admin/dashboard"
)

// dashLogin logs in through the dashboard and returns the session cookie
// and CSRF token.
func dashLogin(t *testing.T, f *fixture, token string) (*http.Cookie, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/dashboard/api/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://"+testHost)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != dashboard.CookieName || strings.Contains(cookies[0].Value, token) {
		t.Fatalf("login cookies: %v", cookies)
	}
	csrf := rec.Body.String()
	i := strings.Index(csrf, `"csrf":"`)
	return cookies[0], csrf[i+8 : i+8+64]
}

// The dashboard's session cookie stands for the admin token on the admin
// API under /dashboard/admin only: reads pass, a write passes only with the
// session's CSRF token and this origin, and nothing passes without the
// cookie.
func TestDashboardSessionOnAdminAPI(t *testing.T) {
	f := newFixture(t, smallConfig, func(s *Source) { s.Token = "tok-123" })
	page := httptest.NewRecorder()
	f.h.ServeHTTP(page, httptest.NewRequest(http.MethodGet, "/dashboard/", nil))
	if page.Code != http.StatusOK || !strings.HasPrefix(page.Body.String(), "<!doctype html>") {
		t.Fatalf("GET /dashboard/ without a token: %d, want 200 (the login page)", page.Code)
	}
	if code, _, _ := f.do(http.MethodGet, "/services", ""); code != http.StatusUnauthorized {
		t.Fatalf("GET /services without token or session: %d", code)
	}
	cookie, csrf := dashLogin(t, f, "tok-123")
	withCookie := func(method, path, body string, header ...string) int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.AddCookie(cookie)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := withCookie(http.MethodGet, "/dashboard/admin/services", ""); code != http.StatusOK {
		t.Errorf("GET /dashboard/admin/services with the session: %d", code)
	}
	if code := withCookie(http.MethodGet, "/services", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /services with the session cookie but no token: %d, want 401", code)
	}
	origin := "http://" + testHost
	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"no CSRF header", []string{"Origin", origin}, http.StatusForbidden},
		{"wrong CSRF header", []string{"Origin", origin, dashboard.CSRFHeader, strings.Repeat("0", 64)}, http.StatusForbidden},
		{"no Origin", []string{dashboard.CSRFHeader, csrf}, http.StatusForbidden},
		{"CSRF and Origin", []string{"Origin", origin, dashboard.CSRFHeader, csrf}, http.StatusOK},
	} {
		if code := withCookie(http.MethodPost, "/dashboard/admin/config?check=true", newConfig, tc.header...); code != tc.want {
			t.Errorf("%s: POST /config?check=true: %d, want %d", tc.name, code, tc.want)
		}
	}
	if _, body, _ := f.do(http.MethodGet, "/routes/b", "", "Kong-Admin-Token", "tok-123"); body["message"] != "Not found" {
		t.Errorf("a check applied the configuration: /routes/b is %v", body)
	}
	bad := &http.Cookie{Name: dashboard.CookieName, Value: strings.Repeat("a", 64)}
	req := httptest.NewRequest(http.MethodGet, "/dashboard/admin/services", nil)
	req.AddCookie(bad)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("GET /services with an unknown session id: %d", rec.Code)
	}
}

// POST /config?check=true validates without applying: 200 for a good
// document, Kong's 400 with field paths for a bad one.
func TestAdminPostConfigCheck(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	code, body, _ := f.do(http.MethodPost, "/config?check=true", newConfig)
	if code != http.StatusOK || body["message"] != "configuration is valid" {
		t.Fatalf("check of a good config: %d %v", code, body)
	}
	if names := routeNames(t, f); names != "a" {
		t.Errorf("a check applied the configuration: routes %s", names)
	}
	bad := strings.Replace(newConfig, "paths: [/b]", "paths: [b]", 1)
	code, body, _ = f.do(http.MethodPost, "/config?check=true&flatten_errors=1", bad)
	// Kong's shape: flattened_errors by entity, each with its errors.
	flat, _ := body["flattened_errors"].([]any)
	path := ""
	if len(flat) == 1 {
		errs, _ := flat[0].(map[string]any)["errors"].([]any)
		if len(errs) == 1 {
			path, _ = errs[0].(map[string]any)["path"].(string)
		}
	}
	if code != http.StatusBadRequest || !strings.HasPrefix(path, "services[0].routes[0].paths") {
		t.Fatalf("check of a bad config: %d %v", code, body)
	}
}

// A session is its credential on the admin API: one role rule (reads) for
// the token and the session alike, so a read-only session may check a
// document and may not apply it, refused by its name, and an admin's
// write is logged under the credential's name.
func TestDashboardSessionIsItsCredential(t *testing.T) {
	var log bytes.Buffer
	f := newFixture(t, smallConfig, func(s *Source) { roleSource(s, &log) })
	before := f.holder.Load()
	origin := "http://" + testHost
	post := func(token, path string) (int, string) {
		cookie, csrf := dashLogin(t, f, token)
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(newConfig))
		req.AddCookie(cookie)
		req.Header.Set("Origin", origin)
		req.Header.Set(dashboard.CSRFHeader, csrf)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	if code, body := post("reader-token", "/dashboard/admin/config?check=true"); code != http.StatusOK {
		t.Errorf("read-only session, POST /config?check=true: %d %s, want 200", code, body)
	}
	if code, body := post("reader-token", "/dashboard/admin/config"); code != http.StatusForbidden || !strings.Contains(body, "reader, you do not have permissions") {
		t.Errorf("read-only session, POST /config: %d %s, want 403 naming reader", code, body)
	}
	if f.holder.Load() != before {
		t.Fatal("a read-only session applied a configuration")
	}
	if code, body := post("root-token", "/dashboard/admin/config"); code >= 300 {
		t.Fatalf("admin session, POST /config: %d %s", code, body)
	}
	if !strings.Contains(log.String(), `"token":"root"`) || !strings.Contains(log.String(), `"token":"reader"`) {
		t.Errorf("the write is not logged as the session's credential:\n%s", log.String())
	}
}

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// sessionConfig is Kong's documented setup: key-auth with an anonymous
// consumer, whom request-termination refuses, and the session plugin in
// front, so a session cookie stands in for the key.
const sessionConfig = `
_format_version: "3.0"
consumers:
- username: coop
  keyauth_credentials: [{key: kong}]
- username: anon
  plugins:
  - name: request-termination
    config: {status_code: 403, message: "log in first"}
services:
- name: svc
  url: %[1]s
  routes:
  - name: app
    paths: [/app]
    plugins:
    - name: session
      config: {secret: "e2e secret", cookie_secure: false, cookie_same_site: Lax}
    - name: key-auth
      config: {anonymous: anon}
  - name: strict
    paths: [/strict]
    plugins:
    - name: session
      config: {secret: "e2e secret"}
    - name: key-auth
`

func TestSession(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(sessionConfig, up.URL), gwtest.Options{})
	do := func(method, path string, header ...string) (*http.Response, string) {
		return gwtest.Do(t, gwtest.NewRequest(t, method, gw.URL+path, "", header...))
	}

	if resp, body := do("GET", "/app"); resp.StatusCode != 403 || !strings.Contains(body, "log in first") || resp.Header["Set-Cookie"] != nil {
		t.Fatalf("anonymous: %d %q %q", resp.StatusCode, body, resp.Header["Set-Cookie"])
	}
	resp, _ := do("GET", "/app", "apikey", "kong")
	sc := resp.Header["Set-Cookie"]
	if resp.StatusCode != 200 || len(sc) != 1 || !strings.HasSuffix(sc[0], "; Path=/; SameSite=Lax; HttpOnly") {
		t.Fatalf("login: %d %q", resp.StatusCode, sc)
	}
	cookie, _, _ := strings.Cut(sc[0], ";")

	resp, body := do("GET", "/app/orders", "Cookie", "theme=dark; "+cookie)
	seen := gwtest.DecodeSeen(t, body)
	if resp.StatusCode != 200 || first(seen.Header, "X-Consumer-Username") != "coop" || first(seen.Header, "X-Credential-Identifier") == "" ||
		first(seen.Header, "X-Anonymous-Consumer") != "" || resp.Header["Set-Cookie"] != nil {
		t.Fatalf("cookie: %d %v %q", resp.StatusCode, seen.Header, resp.Header["Set-Cookie"])
	}

	tampered := cookie[:len(cookie)-2] + "AA"
	if strings.HasSuffix(cookie, "AA") {
		tampered = cookie[:len(cookie)-2] + "BB"
	}
	for _, c := range []string{tampered, "session=" + strings.Repeat("x", 5000), "session="} {
		if resp, _ := do("GET", "/app", "Cookie", c); resp.StatusCode != 403 {
			t.Fatalf("cookie %.40q: status %d", c, resp.StatusCode)
		}
	}

	// key-auth without anonymous still asks for its key (Kong's logical
	// AND), session or not.
	if resp, _ := do("GET", "/strict", "Cookie", cookie); resp.StatusCode != 401 {
		t.Fatalf("strict: %d", resp.StatusCode)
	}

	resp, body = do("DELETE", "/app?session_logout=true", "Cookie", cookie)
	if resp.StatusCode != 200 || body != "" || len(resp.Header["Set-Cookie"]) != 1 || !strings.Contains(resp.Header["Set-Cookie"][0], "Max-Age=0") {
		t.Fatalf("logout: %d %q %q", resp.StatusCode, body, resp.Header["Set-Cookie"])
	}
}

package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

const admSecretConfig = `
_format_version: "3.0"
consumers:
- username: alice
  keyauth_credentials: [{key: adm-secret-key}]
services:
- name: svc
  url: http://127.0.0.1:9
  routes:
  - name: r
    paths: [/r]
`

// admRequest sends method path to the admin listener at addr (host:port)
// with the given Host and extra headers, and returns the status and body.
func admRequest(t *testing.T, addr, host, method, path, body string, header ...string) (int, string) {
	t.Helper()
	resp, text := gwtest.Do(t, gwtest.NewRequest(t, method, "http://"+addr+path, body, append([]string{"Host", host}, header...)...))
	return resp.StatusCode, text
}

// admMisdirected asserts the admin API refused a request for its Host with
// 421 and a Kong-style JSON body.
func admMisdirected(t *testing.T, what string, code int, body string) {
	t.Helper()
	var m map[string]any
	if code != http.StatusMisdirectedRequest || json.Unmarshal([]byte(body), &m) != nil || m["message"] == nil {
		t.Errorf("%s: %d %q, want 421 with a JSON message", what, code, body)
	}
}

// A page on a rebinding domain controls both Host and Origin; the admin API
// must refuse it for its Host, whatever the Origin says.
func TestAdminRefusesDNSRebinding(t *testing.T) {
	gw := gwtest.Start(t, admSecretConfig, gwtest.Options{Args: []string{"--admin-allowed-hosts", "gw-admin.internal.example, 10.9.8.7"}})
	addr := strings.TrimPrefix(gw.AdminURL, "http://")
	_, port, _ := net.SplitHostPort(addr)
	evil := "rebind.attacker.example:" + port
	origin := "http://" + evil

	code, body := admRequest(t, addr, evil, http.MethodGet, "/config", "", "Origin", origin)
	admMisdirected(t, "GET /config from a rebinding page", code, body)
	if strings.Contains(body, "adm-secret-key") {
		t.Errorf("GET /config leaked the credential: %s", body)
	}
	code, body = admRequest(t, addr, evil, http.MethodPost, "/config", "_format_version: \"3.0\"\n",
		"Origin", origin, "Content-Type", "application/yaml")
	admMisdirected(t, "POST /config from a rebinding page", code, body)
	code, body = admRequest(t, addr, "127.0.0.1:"+port, http.MethodGet, "/config", "")
	if code != 200 || !strings.Contains(body, "adm-secret-key") {
		t.Fatalf("config after the refused POST: %d %s", code, body)
	}

	for _, host := range []string{"REBIND.attacker.example", "localhost.attacker.example:" + port, "127.0.0.1.attacker.example",
		"0.0.0.0:" + port, "10.1.2.3:" + port, "localhost:" + port + ":" + port, "[::2]:" + port} {
		for _, path := range []string{"/", "/status", "/services", "/metrics"} {
			code, body := admRequest(t, addr, host, http.MethodGet, path, "")
			admMisdirected(t, "GET "+path+" Host "+host, code, body)
		}
	}

	// Names of the listener itself, with or without port, any case.
	for _, host := range []string{"localhost:" + port, "LocalHost", "127.0.0.1:" + port, "127.0.0.1", "127.3.4.5:" + port,
		"[::1]:" + port, "[::1]", "gw-admin.internal.example", "GW-Admin.Internal.Example:443", "10.9.8.7:" + port} {
		if code, body := admRequest(t, addr, host, http.MethodGet, "/status", ""); code != 200 {
			t.Errorf("GET /status Host %s: %d %s", host, code, body)
		}
	}

	// A load balancer's readiness probe names whatever address it reached.
	if code, body := admRequest(t, addr, evil, http.MethodGet, "/status/ready", ""); code != 200 {
		t.Errorf("GET /status/ready with a foreign Host: %d %s", code, body)
	}

	// HTTP/1.0 without Host: no browser sends that.
	if status, body := reqRaw(t, addr, "GET /status HTTP/1.0\r\n\r\n"); status != 200 {
		t.Errorf("HTTP/1.0 without Host: %d %s", status, body)
	}
}

// On 0.0.0.0 the admin API answers for the address the client reached, and
// still refuses other names. (Off loopback it needs a token to start.)
func TestAdminAllAddressesAcceptsOwnAddress(t *testing.T) {
	ip := admNonLoopbackIP(t)
	gw := gwtest.Start(t, admSecretConfig, gwtest.Options{Args: []string{"--admin-listen", "0.0.0.0:0"}, Env: []string{"TURNPIKE_ADMIN_TOKEN=all-addr-token"}})
	u, err := url.Parse(gw.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(ip, u.Port())
	if code, body := admRequest(t, addr, addr, http.MethodGet, "/status", "", "Kong-Admin-Token", "all-addr-token"); code != 200 {
		t.Errorf("GET /status at %s: %d %s", addr, code, body)
	}
	code, body := admRequest(t, addr, "rebind.attacker.example:"+u.Port(), http.MethodGet, "/config", "")
	admMisdirected(t, "GET /config on 0.0.0.0 from a rebinding page", code, body)
	// An address of this machine that the connection did not reach is not
	// the listener's name for this client.
	code, body = admRequest(t, "127.0.0.1:"+u.Port(), addr, http.MethodGet, "/config", "")
	admMisdirected(t, "GET /config via loopback naming "+addr, code, body)
}

// admNonLoopbackIP is an IPv4 address of this machine other than loopback.
func admNonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address on this machine")
	return ""
}

// Generated ids are the same on every node and across restarts: this
// literal is what any Turnpike (and Kong, DB-less) running this file shows (see
// snapshot.TestGeneratedIDsArePinned for every kind).
func TestAdminGeneratedIDsArePinned(t *testing.T) {
	gw := gwtest.Start(t, `
_format_version: "3.0"
services:
- name: orders
  url: http://127.0.0.1:9
  routes:
  - name: orders-route
    paths: [/orders]
`, gwtest.Options{})
	for _, c := range []struct{ path, id string }{
		{"/services", "580c8aca-d632-5804-b307-a24326e1e2d5"},
		{"/routes", "4b978d57-df71-51a2-950f-e926c640e159"},
	} {
		code, body := adminCall(t, gw, http.MethodGet, c.path, "")
		data, _ := body["data"].([]any)
		if code != 200 || len(data) != 1 || data[0].(map[string]any)["id"] != c.id {
			t.Errorf("GET %s: %d %v, want the one id %s", c.path, code, body, c.id)
		}
	}
}

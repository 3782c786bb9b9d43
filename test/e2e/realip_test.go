package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// rateLimitByIPConfig limits each client address to 2 requests an hour.
func rateLimitByIPConfig(upstream string) string {
	return `
_format_version: "3.0"
services:
- name: s
  url: ` + upstream + `
  routes: [{paths: [/r]}]
plugins:
- name: rate-limiting
  config: {hour: 2, limit_by: ip}
`
}

// statuses sends one request per X-Forwarded-For value and returns the
// statuses, in order.
func statuses(t *testing.T, gw *gwtest.Gateway, xff ...string) string {
	t.Helper()
	var out []string
	for _, v := range xff {
		req, _ := http.NewRequest(http.MethodGet, gw.URL+"/r", nil)
		req.Header.Set("X-Forwarded-For", v)
		resp, _ := gwtest.Do(t, req)
		out = append(out, http.StatusText(resp.StatusCode))
	}
	return strings.Join(out, ",")
}

// Behind a trusted proxy, limit_by ip counts the client the proxy names
// (Kong's get_forwarded_ip); from anyone else the header is ignored.
func TestRateLimitByForwardedIP(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	trusted := gwtest.Start(t, rateLimitByIPConfig(up.URL), gwtest.Options{Args: []string{
		"--trusted-ips", "127.0.0.1/32", "--real-ip-header", "X-Forwarded-For", "--real-ip-recursive"}})
	// Two clients behind the proxy count apart; 127.0.0.1 (the proxy
	// itself, trusted) is skipped from the right.
	got := statuses(t, trusted,
		"198.51.100.1", "198.51.100.1, 127.0.0.1", "198.51.100.1",
		"203.0.113.9", "203.0.113.9")
	if got != "OK,OK,Too Many Requests,OK,OK" {
		t.Errorf("trusted peer: %s", got)
	}
	logs := trusted.AccessLog(5)
	if len(logs) < 5 || logs[0]["client_ip"] != "198.51.100.1" {
		t.Errorf("access log client_ip = %v", logs[0]["client_ip"])
	}

	untrusted := gwtest.Start(t, rateLimitByIPConfig(up.URL), gwtest.Options{Args: []string{
		"--real-ip-header", "X-Forwarded-For"}})
	// Without --trusted-ips every request is the peer's, whatever it claims.
	if got := statuses(t, untrusted, "198.51.100.1", "203.0.113.9", "192.0.2.4"); got != "OK,OK,Too Many Requests" {
		t.Errorf("untrusted peer: %s", got)
	}
}

// The upstream's X-Real-IP is the client address the gateway worked out
// from the real-IP header, as Kong's $remote_addr after the realip module,
// not an X-Real-IP the client wrote beside it.
func TestRealIPHeaderIsTheWorkedOutClient(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, proxyAllConfig(up.URL), gwtest.Options{Args: []string{"--trusted-ips", "127.0.0.0/8", "--real-ip-header", "X-Forwarded-For"}})
	_, body := gw.Get("/", "X-Forwarded-For", "203.0.113.7", "X-Real-IP", "1.1.1.1")
	seen := gwtest.DecodeSeen(t, body)
	if got := strings.Join(seen.Header["X-Real-Ip"], ","); got != "203.0.113.7" {
		t.Errorf("X-Real-Ip = %q, want the client the real-IP header names, 203.0.113.7", got)
	}
}

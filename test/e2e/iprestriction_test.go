package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// ipRestrictionConfig follows the routes of Kong's
// spec/03-plugins/17-ip-restriction/02-access_spec.lua by host.
func ipRestrictionConfig(upstream string) string {
	return `
_format_version: "3.0"
consumers:
- username: bob
  keyauth_credentials: [{key: bob-key}]
  plugins:
  - name: ip-restriction
    config: {deny: [127.0.0.9]}
services:
- name: s
  url: ` + upstream + `
  routes:
  - {hosts: [deny.test], plugins: [{name: ip-restriction, config: {deny: [127.0.0.1, 127.0.0.2]}}]}
  - {hosts: [other.test], plugins: [{name: ip-restriction, config: {deny: [127.0.0.2]}}]}
  - {hosts: [allow.test], plugins: [{name: ip-restriction, config: {allow: [127.0.0.1]}}]}
  - {hosts: [allow2.test], plugins: [{name: ip-restriction, config: {allow: [127.0.0.2]}}]}
  - {hosts: [status.test], plugins: [{name: ip-restriction, config: {deny: [127.0.0.0/24], status: 401, message: Forbidden}}]}
  - {hosts: [both.test], plugins: [{name: ip-restriction, config: {allow: [127.0.0.0/24], deny: [127.0.0.4]}}]}
  - {hosts: [v6.test], plugins: [{name: ip-restriction, config: {deny: ["fe80::/8"]}}]}
  - hosts: [consumer.test]
    plugins: [{name: key-auth}]
`
}

// ipGet asks the gateway for host, as from the address in X-Forwarded-For
// when xff is set, and returns the status and body.
func ipGet(t *testing.T, gw *gwtest.Gateway, host, xff string, hdr ...string) (int, string) {
	t.Helper()
	header := []string{"Host", host}
	if xff != "" {
		header = append(header, "X-Forwarded-For", xff)
	}
	resp, body := gwtest.Do(t, gwtest.NewRequest(t, http.MethodGet, gw.URL+"/request", "", append(header, hdr...)...))
	return resp.StatusCode, body
}

// The cases of Kong's access spec: deny and allow lists, CIDRs, the
// status and message, deny over allow, IPv6, and the address a trusted
// proxy names in X-Forwarded-For; and, without trusted proxies, that a
// client cannot name one.
func TestIPRestriction(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, ipRestrictionConfig(up.URL), gwtest.Options{Args: []string{
		"--trusted-ips", "0.0.0.0/0,::/0", "--real-ip-header", "X-Forwarded-For", "--real-ip-recursive"}})
	for _, tc := range []struct {
		host, xff string
		status    int
		message   string
	}{
		{"deny.test", "", 403, "IP address not allowed: 127.0.0.1"},
		{"other.test", "", 200, ""},
		{"allow.test", "", 200, ""},
		{"allow2.test", "", 403, "IP address not allowed: 127.0.0.1"},
		{"status.test", "", 401, "Forbidden"},
		{"both.test", "127.0.0.3", 200, ""},
		{"both.test", "127.0.0.4", 403, "IP address not allowed: 127.0.0.4"},
		{"both.test", "10.0.0.1", 403, "IP address not allowed: 10.0.0.1"},
		{"deny.test", "127.0.0.3", 200, ""},
		{"v6.test", "fe80::1", 403, "IP address not allowed: fe80::1"},
		{"v6.test", "::1", 200, ""},
		{"v6.test", "fe80::1, ::3", 403, "IP address not allowed: fe80::1"},
	} {
		code, body := ipGet(t, gw, tc.host, tc.xff)
		if code != tc.status {
			t.Errorf("%s from %q: status %d, want %d (%s)", tc.host, tc.xff, code, tc.status, body)
			continue
		}
		if tc.status == 200 {
			if s := gwtest.DecodeSeen(t, body); s.Name != "up" {
				t.Errorf("%s: not proxied: %s", tc.host, body)
			}
			continue
		}
		var m struct{ Message, RequestID string }
		if err := json.Unmarshal([]byte(body), &m); err != nil || m.Message != tc.message {
			t.Errorf("%s from %q: body %s, want message %q", tc.host, tc.xff, body, tc.message)
		}
	}
	if n := up.Count.Load(); n != 5 {
		t.Errorf("upstream saw %d requests, want 5", n)
	}

	// Without trusted proxies X-Forwarded-For is the client's say-so.
	plain := gwtest.Start(t, ipRestrictionConfig(up.URL), gwtest.Options{Args: []string{"--real-ip-header", "X-Forwarded-For"}})
	if code, body := ipGet(t, plain, "allow.test", "10.9.9.9"); code != 200 {
		t.Errorf("spoofed X-Forwarded-For changed the verdict: %d %s", code, body)
	}
	if code, _ := ipGet(t, plain, "deny.test", "127.0.0.3"); code != 403 {
		t.Errorf("spoofed X-Forwarded-For escaped the deny list: %d", code)
	}
}

// At consumer scope (Kong allows it) the restriction applies to the
// consumer's requests only.
func TestIPRestrictionConsumerScope(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, ipRestrictionConfig(up.URL), gwtest.Options{Args: []string{
		"--trusted-ips", "127.0.0.1/32", "--real-ip-header", "X-Forwarded-For"}})
	if code, body := ipGet(t, gw, "consumer.test", "127.0.0.8", "apikey", "bob-key"); code != 200 {
		t.Errorf("bob from an allowed address: %d %s", code, body)
	}
	code, body := ipGet(t, gw, "consumer.test", "127.0.0.9", "apikey", "bob-key")
	if code != 403 || !strings.Contains(body, "IP address not allowed: 127.0.0.9") {
		t.Errorf("bob from his denied address: %d %s", code, body)
	}
}

// A gRPC client refused gets PermissionDenied with the message, as
// Kong's spec checks with grpcurl.
func TestIPRestrictionGrpc(t *testing.T) {
	up := startGrpcUpstream(t)
	cfg := grpcConfig(up.Addr, "grpc") + `    plugins: [{name: ip-restriction, config: {deny: [127.0.0.0/24]}}]
`
	gw := gwtest.Start(t, cfg, gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
	client := grpcDial(t, gw.URL, insecure.NewCredentials())
	_, err := client.Check(grpcCtx(t), &healthpb.HealthCheckRequest{Service: grpcService})
	st, _ := status.FromError(err)
	if st.Code() != codes.PermissionDenied || st.Message() != "IP address not allowed: 127.0.0.1" {
		t.Fatalf("got %v %q, want PermissionDenied", st.Code(), st.Message())
	}
	if n := len(up.calls()); n != 0 {
		t.Fatalf("upstream saw %d calls", n)
	}
}

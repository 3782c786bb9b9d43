package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// ldapAuthConfig follows the routes of Kong's
// spec/03-plugins/20-ldap-auth/01-access_spec.lua (hosts become paths),
// against a slapd on %[2]d (StartTLS and verify_ldap_host on /tls, the
// test CA trusted through SSL_CERT_FILE).
const ldapAuthConfig = `
_format_version: "3.0"
consumers:
- username: no-body
- username: Mickey
  keyauth_credentials: [{key: Mouse}]
services:
- name: svc
  url: %[1]s
  routes:
  - name: ldap
    paths: [/ldap1]
    plugins:
    - name: ldap-auth
      config: {ldap_host: 127.0.0.1, ldap_port: %[2]d, base_dn: "%[3]s", attribute: uid}
  - name: ldap2
    paths: [/ldap2]
    plugins:
    - name: ldap-auth
      config: {ldap_host: 127.0.0.1, ldap_port: %[2]d, base_dn: "%[3]s", attribute: uid, hide_credentials: true, cache_ttl: 2, realm: test-ldap}
  - name: ldap3
    paths: [/ldap3]
    plugins:
    - name: ldap-auth
      config: {ldap_host: 127.0.0.1, ldap_port: %[2]d, base_dn: "%[3]s", attribute: uid, anonymous: no-body}
  - name: ldap4
    paths: [/ldap4]
    plugins:
    - name: ldap-auth
      config: {ldap_host: 127.0.0.1, ldap_port: %[2]d, base_dn: "%[3]s", attribute: uid, cache_ttl: 2, anonymous: 9c6e1e4c-5a61-4d4b-8b2b-6f0bd1a3c0de}
  - name: ldap5
    paths: [/ldap5]
    plugins:
    - name: ldap-auth
      config: {ldap_host: 127.0.0.1, ldap_port: %[2]d, base_dn: "%[3]s", attribute: uid, header_type: Basic}
  - name: ldap8
    paths: [/ldap8]
    plugins:
    - name: ldap-auth
      config: {ldap_host: 127.0.0.1, ldap_port: %[2]d, base_dn: "%[3]s", attribute: uid, header_type: Basic, realm: test-ldap}
  - name: tls
    paths: [/tls]
    plugins:
    - name: ldap-auth
      config: {ldap_host: 127.0.0.1, ldap_port: %[2]d, start_tls: true, verify_ldap_host: true, base_dn: "%[3]s", attribute: uid}
  - name: down
    paths: [/down]
    plugins:
    - name: ldap-auth
      config: {ldap_host: 127.0.0.1, ldap_port: %[4]d, base_dn: "%[3]s", attribute: uid, timeout: 500}
  - name: logical-and
    paths: [/and]
    plugins:
    - name: ldap-auth
      config: {ldap_host: 127.0.0.1, ldap_port: %[2]d, base_dn: "%[3]s", attribute: uid}
    - name: key-auth
  - name: logical-or
    paths: [/or]
    plugins:
    - name: ldap-auth
      config: {ldap_host: 127.0.0.1, ldap_port: %[2]d, base_dn: "%[3]s", attribute: uid, anonymous: no-body}
    - name: key-auth
      config: {anonymous: no-body}
`

func ldapCred(scheme, userPass string) string {
	return scheme + " " + base64.StdEncoding.EncodeToString([]byte(userPass))
}

func TestLDAPAuth(t *testing.T) {
	files := gwtest.WriteTLSFiles(t)
	dir := gwtest.StartSlapd(t, gwtest.SlapdOptions{Users: map[string]string{"einstein": "password"},
		CertFile: files.CertFile, KeyFile: files.KeyFile})
	down := gwtest.StartSlapd(t, gwtest.SlapdOptions{})
	down.Stop()
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(ldapAuthConfig, up.URL, dir.Port, gwtest.SlapdBaseDN, down.Port),
		gwtest.Options{Env: []string{"SSL_CERT_FILE=" + files.CAFile}})

	einstein := ldapCred("ldap", "einstein:password")
	failures := []authFailure{
		{"credential missing", kaReq{path: "/ldap1"}, 401, "Unauthorized", "LDAP"},
		{"wrong format in authorization", kaReq{path: "/ldap1", header: []string{"Authorization", "abcd"}}, 401, "Unauthorized", "LDAP"},
		{"wrong format in proxy-authorization", kaReq{path: "/ldap1", header: []string{"Proxy-Authorization", "abcd"}}, 401, "Unauthorized", "LDAP"},
		{"credential value missing", kaReq{path: "/ldap1", header: []string{"Authorization", "ldap "}}, 401, "Unauthorized", "LDAP"},
		{"invalid credential type", kaReq{method: http.MethodPost, path: "/ldap1", header: []string{"Authorization", ldapCred("invalidldap", "einstein:password")}},
			401, "Unauthorized", "LDAP"},
		{"no password", kaReq{path: "/ldap1", header: []string{"Authorization", ldapCred("ldap", "einstein:")}}, 401, "Unauthorized", "LDAP"},
		{"several colons", kaReq{path: "/ldap1", header: []string{"Authorization", ldapCred("ldap", "einstein:password:another_password")}},
			401, "Unauthorized", "LDAP"},
		{"wrong password", kaReq{path: "/ldap1", header: []string{"Authorization", ldapCred("ldap", "einstein:wrong_password")}}, 401, "Unauthorized", "LDAP"},
		{"wrong password with realm", kaReq{path: "/ldap2", header: []string{"Authorization", ldapCred("ldap", "einstein:wrong_password")}},
			401, "Unauthorized", `LDAP realm="test-ldap"`},
		{"header_type in WWW-Authenticate", kaReq{path: "/ldap5"}, 401, "Unauthorized", "Basic"},
		{"header_type and realm", kaReq{path: "/ldap8"}, 401, "Unauthorized", `Basic realm="test-ldap"`},
		{"custom credential type invalid", kaReq{method: http.MethodPost, path: "/ldap5", header: []string{"Authorization", ldapCred("invalidldap", "einstein:password")}},
			401, "Unauthorized", "Basic"},
		{"anonymous consumer missing", kaReq{path: "/ldap4"}, 500, "anonymous consumer 9c6e1e4c-5a61-4d4b-8b2b-6f0bd1a3c0de is configured but doesn't exist", ""},
		{"directory down", kaReq{path: "/down", header: []string{"Authorization", einstein}}, 500, "An unexpected error occurred", ""},
		{"and: only the key", kaReq{path: "/and", header: []string{"apikey", "Mouse"}}, 401, "Unauthorized", "LDAP"},
		{"and: only ldap", kaReq{path: "/and", header: []string{"Authorization", einstein}}, 401, "No API key found in request", "Key"},
		{"and: nothing", kaReq{path: "/and"}, 401, "No API key found in request", "Key"},
	}
	checkAuthFailures(t, gw, up, failures)

	ldapUser := authIdentity{credential: "einstein"}
	anon := authIdentity{id: "*", username: "no-body", anonymous: "true"}
	mickey := authIdentity{id: "*", username: "Mickey", credential: "*"}
	successes := []authSuccess{
		{"valid in post", kaReq{method: http.MethodPost, path: "/ldap1", header: []string{"Authorization", einstein}, ct: "application/x-www-form-urlencoded", body: "a=1"},
			ldapUser, einstein},
		{"leading space", kaReq{path: "/ldap1", header: []string{"Authorization", " " + einstein}}, ldapUser, einstein},
		{"scheme in caps", kaReq{path: "/ldap1", header: []string{"Authorization", ldapCred("LDAP", "einstein:password")}}, ldapUser, ldapCred("LDAP", "einstein:password")},
		{"hide_credentials", kaReq{path: "/ldap2", header: []string{"Authorization", einstein}}, ldapUser, ""},
		{"custom credential type", kaReq{path: "/ldap5", header: []string{"Authorization", ldapCred("basic", "einstein:password")}}, ldapUser, ldapCred("basic", "einstein:password")},
		{"proxy-authorization", kaReq{path: "/ldap1", header: []string{"Proxy-Authorization", einstein}}, ldapUser, ""},
		{"start_tls, verified", kaReq{path: "/tls", header: []string{"Authorization", einstein}}, ldapUser, einstein},
		{"anonymous: right credentials", kaReq{path: "/ldap3", header: []string{"Authorization", einstein}}, ldapUser, einstein},
		{"anonymous: no credentials", kaReq{path: "/ldap3"}, anon, ""},
		// key-auth (1250) runs first; ldap-auth then sets its credential
		// without a consumer, clearing key-auth's consumer headers as Kong's
		// set_consumer(nil, credential) does.
		{"and: both", kaReq{path: "/and", header: []string{"apikey", "Mouse", "Authorization", einstein}}, ldapUser, einstein},
		{"or: both", kaReq{path: "/or", header: []string{"apikey", "Mouse", "Authorization", einstein}}, mickey, einstein},
		{"or: only the key", kaReq{path: "/or", header: []string{"apikey", "Mouse"}}, mickey, ""},
		{"or: only ldap", kaReq{path: "/or", header: []string{"Authorization", einstein}}, ldapUser, einstein},
		{"or: nothing", kaReq{path: "/or"}, anon, ""},
	}
	checkAuthSuccesses(t, gw, successes)

	// A cached verdict outlives the directory for cache_ttl.
	dir.Stop()
	resp, body := kaDo(t, gw, kaReq{path: "/ldap1", header: []string{"Authorization", einstein}})
	if resp.StatusCode != 200 {
		t.Fatalf("cached credential with the directory down: %d %q", resp.StatusCode, body)
	}
	resp, body = kaDo(t, gw, kaReq{path: "/ldap1", header: []string{"Authorization", ldapCred("ldap", "einstein:other")}})
	if resp.StatusCode != 500 || body != kongError("An unexpected error occurred", resp) {
		t.Fatalf("uncached credential with the directory down: %d %q", resp.StatusCode, body)
	}
}

// Kong's "rejects gRPC call without credentials" and "accepts authorized
// gRPC calls".
func TestLDAPAuthGRPC(t *testing.T) {
	dir := gwtest.StartSlapd(t, gwtest.SlapdOptions{Users: map[string]string{"einstein": "password"}})
	gup := startGrpcUpstream(t)
	gw := gwtest.Start(t, grpcConfig(gup.Addr, "grpc")+fmt.Sprintf(`
plugins:
- name: ldap-auth
  route: health
  config: {ldap_host: 127.0.0.1, ldap_port: %d, base_dn: "%s", attribute: uid}
`, dir.Port, gwtest.SlapdBaseDN), gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
	client := grpcDial(t, gw.URL, insecure.NewCredentials())
	_, err := client.Check(grpcCtx(t), &healthpb.HealthCheckRequest{Service: grpcService})
	if st, _ := status.FromError(err); st.Code() != codes.Unauthenticated || st.Message() != "Unauthorized" {
		t.Errorf("without credentials: %v", err)
	}
	ctx := metadata.AppendToOutgoingContext(grpcCtx(t), "authorization", ldapCred("ldap", "einstein:password"))
	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: grpcService}, grpc.WaitForReady(true))
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("with credentials: %v %v", resp, err)
	}
	calls := gup.calls()
	if md := calls[len(calls)-1]; strings.Join(md.Get("x-credential-identifier"), "") != "einstein" {
		t.Errorf("upstream metadata %v", md)
	}
}

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// oauth2RedisConfig is Kong's oauth2 with its tokens in Redis. The token
// endpoint wants HTTPS: the tests' client is a trusted peer saying so.
const oauth2RedisConfig = `
_format_version: "3.0"
consumers:
- username: bob
  oauth2_credentials:
  - {name: app, client_id: app-id, client_secret: app-secret, hash_secret: true}
services:
- name: svc
  url: %[1]s
  routes:
  - name: api
    paths: [/api]
    plugins:
    - name: oauth2
      config:
        enable_client_credentials: true
        accept_http_if_already_terminated: true
        provision_key: provision
        scopes: [read]
        redis: {host: 127.0.0.1, port: %[2]d}
`

func bearer(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOAuth2RedisTwoNodes: two gateway processes on one redis-server. A
// token issued by one (client credentials, golang.org/x/oauth2 as the
// client) is accepted by the other; revoked through the other's admin
// API, it is refused by the first within a bounded wait (the revocation
// message, not its 30 s cache). Redis never holds the token itself.
func TestOAuth2RedisTwoNodes(t *testing.T) {
	srv := gwtest.StartRedis(t)
	up := gwtest.StartEcho(t, "a")
	cfg := fmt.Sprintf(oauth2RedisConfig, up.URL, srv.Port)
	opts := gwtest.Options{Args: []string{"--trusted-ips", "127.0.0.1/32"}}
	a, b := gwtest.Start(t, cfg, opts), gwtest.Start(t, cfg, opts)

	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: forwardedHTTPS{}, Timeout: 5 * time.Second})
	cc := clientcredentials.Config{ClientID: "app-id", ClientSecret: "app-secret", TokenURL: a.URL + "/api/oauth2/token",
		Scopes: []string{"read"}, AuthStyle: oauth2.AuthStyleInParams}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
		t.Fatalf("token %+v", tok)
	}
	for _, gw := range []*gwtest.Gateway{b, a, b} {
		code, body := bearer(t, gw.URL+"/api/x", tok.AccessToken)
		if code != 200 || first(gwtest.DecodeSeen(t, body).Header, "X-Consumer-Username") != "bob" {
			t.Fatalf("%s: %d %s", gw.URL, code, body)
		}
	}

	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rc.Close()
	keys, err := rc.Keys(ctx, "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("redis keys %v %v", keys, err)
	}
	for _, k := range keys {
		v, _ := rc.Get(ctx, k).Result()
		if strings.Contains(k, tok.AccessToken) || strings.Contains(v, tok.AccessToken) || strings.Contains(v, "app-secret") {
			t.Fatalf("redis holds a secret under %s", k)
		}
	}

	code, list := getJSON(t, b.AdminURL+"/oauth2_tokens")
	data, _ := list["data"].([]any)
	if code != 200 || len(data) != 1 {
		t.Fatalf("/oauth2_tokens on b: %d %v", code, list)
	}
	id, _ := data[0].(map[string]any)["id"].(string)
	if code, one := getJSON(t, a.AdminURL+"/oauth2_tokens/"+id); code != 200 || one["scope"] != "read" {
		t.Fatalf("token on a: %d %v", code, one)
	}
	req, _ := http.NewRequest(http.MethodDelete, b.AdminURL+"/oauth2_tokens/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("DELETE on b: %d", resp.StatusCode)
	}
	if code, body := bearer(t, b.URL+"/api/x", tok.AccessToken); code != 401 {
		t.Fatalf("b after revoking: %d %s", code, body)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		code, body := bearer(t, a.URL+"/api/x", tok.AccessToken)
		if code == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a still accepts the revoked token: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOAuth2MemoryTokensAdmin: on one node without Redis, a token
// outlives a reload that changes the plugin entry (one memory store per
// process), the admin API finds it by id and by access token, and
// deleting it there refuses it at once.
func TestOAuth2MemoryTokensAdmin(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	noRedis := func(scopes string) string {
		c := strings.Replace(fmt.Sprintf(oauth2RedisConfig, up.URL, 0), "        redis: {host: 127.0.0.1, port: 0}\n", "", 1)
		return strings.Replace(c, "scopes: [read]", "scopes: "+scopes, 1)
	}
	gw := gwtest.Start(t, noRedis("[read]"), gwtest.Options{Args: []string{"--trusted-ips", "127.0.0.1/32"}})
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: forwardedHTTPS{}, Timeout: 5 * time.Second})
	cc := clientcredentials.Config{ClientID: "app-id", ClientSecret: "app-secret", TokenURL: gw.URL + "/api/oauth2/token",
		Scopes: []string{"read"}, AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}

	before := strings.Count(gw.Stderr(), "configuration applied")
	writeAtomically(t, configPath(t, gw), noRedis("[read, write]"))
	gw.Signal(syscall.SIGHUP)
	waitUntil(t, "the reload", func() bool { return strings.Count(gw.Stderr(), "configuration applied") > before })
	if code, body := bearer(t, gw.URL+"/api/x", tok.AccessToken); code != 200 {
		t.Fatalf("after the reload: %d %s", code, body)
	}

	code, one := getJSON(t, gw.AdminURL+"/oauth2_tokens/"+tok.AccessToken)
	id, _ := one["id"].(string)
	if code != 200 || id == "" || one["scope"] != "read" || one["token_type"] != "bearer" {
		t.Fatalf("by access token: %d %v", code, one)
	}
	if code, byID := getJSON(t, gw.AdminURL+"/oauth2_tokens/"+id); code != 200 || byID["id"] != id {
		t.Fatalf("by id: %d %v", code, byID)
	}
	req, _ := http.NewRequest(http.MethodDelete, gw.AdminURL+"/oauth2_tokens/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	if code, body := bearer(t, gw.URL+"/api/x", tok.AccessToken); code != 401 {
		t.Fatalf("after DELETE: %d %s", code, body)
	}
	if code, body := getJSON(t, gw.AdminURL+"/oauth2_tokens/"+id); code != 404 || body["message"] != "Not found" {
		t.Fatalf("GET after DELETE: %d %v", code, body)
	}
}

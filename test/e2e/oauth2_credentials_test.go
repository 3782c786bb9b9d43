package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// oauth2CredentialsConfig holds oauth2 client applications in Kong's
// format, nested and top level: a plain secret, one hashed at load, one
// as Kong exports a hashed secret, and a public client without one.
const oauth2CredentialsConfig = `
_format_version: "3.0"
consumers:
- username: bob
  oauth2_credentials:
  - {name: plain, client_id: plain-app, client_secret: s3cret, redirect_uris: ["https://app.test/cb"]}
  - {name: hashed, client_id: hashed-app, client_secret: s3cret, hash_secret: true}
- username: alice
oauth2_credentials:
- name: exported
  consumer: alice
  client_id: exported-app
  client_secret: "$pbkdf2-sha512$i=10000,l=32$YSBsaXR0ZSBiaXQsIGp1c3QgYSBsaXR0bGUgYml0$z6ysNworexAhDELywIDi0ba0B0T7F/MBZ6Ige9lWRYI"
  hash_secret: true
- {name: spa, consumer: alice, client_id: spa-app, client_type: public}
`

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s: %d %v", url, resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

// TestOAuth2Credentials: the gateway loads oauth2_credentials and the
// admin API shows them at Kong's endpoints, a hashed secret as its hash,
// never as given.
func TestOAuth2Credentials(t *testing.T) {
	gw := gwtest.Start(t, oauth2CredentialsConfig, gwtest.Options{})

	code, body := getJSON(t, gw.AdminURL+"/oauth2")
	if data, _ := body["data"].([]any); code != 200 || len(data) != 4 {
		t.Fatalf("/oauth2: %d %v", code, body)
	}
	code, body = getJSON(t, gw.AdminURL+"/consumers/bob/oauth2/hashed-app")
	secret, _ := body["client_secret"].(string)
	if code != 200 || body["name"] != "hashed" || body["hash_secret"] != true || body["client_type"] != "confidential" ||
		!strings.HasPrefix(secret, "$pbkdf2-sha512$i=10000,l=32$") {
		t.Fatalf("hashed: %d %v", code, body)
	}
	code, body = getJSON(t, gw.AdminURL+"/oauth2/plain-app")
	if uris, _ := body["redirect_uris"].([]any); code != 200 || body["client_secret"] != "s3cret" || len(uris) != 1 ||
		body["hash_secret"] != false {
		t.Fatalf("plain: %d %v", code, body)
	}
	code, body = getJSON(t, gw.AdminURL+"/oauth2/exported-app")
	if code != 200 || !strings.HasSuffix(body["client_secret"].(string), "$z6ysNworexAhDELywIDi0ba0B0T7F/MBZ6Ige9lWRYI") {
		t.Fatalf("exported: %d %v", code, body)
	}
	code, body = getJSON(t, gw.AdminURL+"/oauth2/spa-app")
	if code != 200 || body["client_type"] != "public" || body["client_secret"] != nil || body["redirect_uris"] != nil {
		t.Fatalf("public: %d %v", code, body)
	}
	if code, _ := getJSON(t, gw.AdminURL+"/consumers/alice/oauth2/plain-app"); code != 404 {
		t.Fatalf("another consumer's credential: %d", code)
	}
	code, body = getJSON(t, gw.AdminURL+"/oauth2_tokens")
	if data, _ := body["data"].([]any); code != 200 || len(data) != 0 || body["next"] != nil {
		t.Fatalf("/oauth2_tokens: %d %v", code, body)
	}
}

package admin

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/reload"
)

const smallConfig = `_format_version: "3.0"
services:
- name: a
  url: http://a.internal
  routes:
  - name: a
    paths: [/a]
`

const newConfig = `_format_version: "3.0"
services:
- name: b
  url: http://b.internal
  routes:
  - name: b
    paths: [/b]
  plugins:
  - name: cors
consumers:
- username: carol
`

func routeNames(t *testing.T, f *fixture) string {
	t.Helper()
	return strings.Join(names(t, f.get("/routes"), "name"), ",")
}

// The 201 of POST /config lists the credentials it loaded too.
func TestAdminPostConfigListsCredentials(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	doc := "_format_version: \"3.0\"\nconsumers:\n- username: alice\n  keyauth_credentials: [{key: k1}]\n  acls: [{group: g1}]\n"
	code, body, _ := f.do(http.MethodPost, "/config", doc, "Content-Type", "application/yaml")
	if code != 201 {
		t.Fatalf("POST /config = %d %v", code, body)
	}
	keys, _ := body["keyauth_credentials"].(map[string]any)
	acls, _ := body["acls"].(map[string]any)
	if len(keys) != 1 || len(acls) != 1 {
		t.Errorf("201 body = %v", body)
	}
}

func TestAdminGetConfig(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	if got := f.get("/config")["config"]; got != smallConfig {
		t.Errorf("GET /config = %q", got)
	}
	if code, body, _ := f.do(http.MethodDelete, "/config", ""); code != 405 || body["message"] != "Method not allowed" {
		t.Errorf("DELETE /config = %d %v", code, body)
	}
}

func TestAdminPostConfig(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	code, body, _ := f.do(http.MethodPost, "/config", newConfig, "Content-Type", "application/yaml")
	if code != 201 {
		t.Fatalf("POST /config = %d %v", code, body)
	}
	snap := f.holder.Load()
	services := body["services"].(map[string]any)
	if svc, ok := services[snap.Services[0].Info.ID].(map[string]any); !ok || svc["name"] != "b" {
		t.Errorf("201 services = %v", services)
	}
	if len(body["routes"].(map[string]any)) != 1 || len(body["plugins"].(map[string]any)) != 1 ||
		len(body["consumers"].(map[string]any)) != 1 || body["upstreams"] != nil {
		t.Errorf("201 body = %v", body)
	}
	if got := routeNames(t, f); got != "b" {
		t.Errorf("routes after POST = %s", got)
	}
	if got := f.get("/config")["config"]; got != newConfig {
		t.Errorf("GET /config after POST = %q", got)
	}
	if last := f.get("/status")["last_reload"].(map[string]any); last["trigger"] != "admin" || last["ok"] != true {
		t.Errorf("last_reload = %v", last)
	}

	// JSON, Kong's {"config": "..."} wrapper, a form field and a multipart
	// field all load.
	jsonDoc := `{"_format_version":"3.0","services":[{"name":"j","url":"http://j.internal","routes":[{"name":"j","paths":["/j"]}]}]}`
	if code, body, _ := f.do(http.MethodPost, "/config", jsonDoc, "Content-Type", "application/json"); code != 201 || routeNames(t, f) != "j" {
		t.Errorf("JSON body = %d %v", code, body)
	}
	wrapped, _ := json.Marshal(map[string]string{"config": smallConfig})
	if code, body, _ := f.do(http.MethodPost, "/config", string(wrapped), "Content-Type", "application/json"); code != 201 || routeNames(t, f) != "a" {
		t.Errorf("config wrapper = %d %v", code, body)
	}
	form := url.Values{"config": {newConfig}}.Encode()
	if code, body, _ := f.do(http.MethodPost, "/config", form, "Content-Type", "application/x-www-form-urlencoded"); code != 201 || routeNames(t, f) != "b" {
		t.Errorf("form body = %d %v", code, body)
	}
	for _, asFile := range []bool{false, true} {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		if asFile {
			fw, _ := mw.CreateFormFile("config", "kong.yml")
			fw.Write([]byte(smallConfig))
		} else {
			mw.WriteField("config", smallConfig)
		}
		mw.Close()
		if code, body, _ := f.do(http.MethodPost, "/config", buf.String(), "Content-Type", mw.FormDataContentType()); code != 201 || routeNames(t, f) != "a" {
			t.Errorf("multipart (file %v) = %d %v", asFile, code, body)
		}
	}
	for _, empty := range []string{"", "  \n"} {
		code, body, _ := f.do(http.MethodPost, "/config", empty)
		if code != 400 || body["message"] != "expected a declarative configuration" {
			t.Errorf("empty body = %d %v", code, body)
		}
	}
}

func TestAdminPostConfigInvalidKeepsTheOld(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	before := f.holder.Load()
	bad := `_format_version: "3.0"
services:
- name: x
  url: http://x.internal
  port: nope
  routes:
  - name: x
    paths: [relative]
plugins:
- name: cors
  config: {origins: ["(bad"]}
`
	code, body, _ := f.do(http.MethodPost, "/config", bad)
	if code != 400 || body["code"] != float64(14) || body["name"] != "invalid declarative configuration" ||
		!strings.HasPrefix(body["message"].(string), "declarative config is invalid: ") {
		t.Fatalf("invalid POST = %d %v", code, body)
	}
	fields := body["fields"].(map[string]any)
	for _, p := range []string{"services[0].port", "services[0].routes[0].paths[0]"} {
		if fieldAt(fields, p) == nil {
			t.Errorf("fields has no %s: %v", p, fields)
		}
	}
	// Kong lists flattened_errors only when asked (flatten_errors).
	if body["flattened_errors"] != nil {
		t.Errorf("flattened_errors without the flag: %v", body["flattened_errors"])
	}
	if f.holder.Load() != before || routeNames(t, f) != "a" {
		t.Errorf("an invalid config replaced the old one")
	}
	if last := f.get("/status")["last_reload"].(map[string]any); last["ok"] != false || last["trigger"] != "admin" {
		t.Errorf("last_reload = %v", last)
	}

	// Plugin config errors come from compiling and carry paths too.
	code, body, _ = f.do(http.MethodPost, "/config", strings.Replace(smallConfig, "    paths: [/a]\n",
		"    paths: [/a]\n    plugins:\n    - name: cors\n      config: {origins: [\"(bad\"]}\n", 1))
	if code != 400 || fieldAt(body["fields"], "services[0].routes[0].plugins[0].config.origins[0]") == nil {
		t.Errorf("plugin error = %d %v", code, body)
	}
	code, body, _ = f.do(http.MethodPost, "/config", "{not yaml: [")
	if code != 400 || body["fields"].(map[string]any)["error"] == nil {
		t.Errorf("unparsable body = %d %v", code, body)
	}
}

func TestAdminPostConfigCheckHash(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	if code, body, _ := f.do(http.MethodPost, "/config?check_hash=1", smallConfig); code != 304 || body != nil {
		t.Errorf("same config with check_hash = %d %v", code, body)
	}
	if last := f.loader.Last(); last.Trigger != "startup" {
		t.Errorf("a 304 still loaded: %v", last)
	}
	if code, _, _ := f.do(http.MethodPost, "/config?check_hash=1", newConfig); code != 201 {
		t.Errorf("new config with check_hash = %d", code)
	}
	// Without the flag the same document is loaded again.
	if code, _, _ := f.do(http.MethodPost, "/config", newConfig); code != 201 {
		t.Errorf("same config without check_hash = %d", code)
	}
	for _, doc := range []string{smallConfig, newConfig, "{}"} {
		m, err := config.Parse([]byte(doc), config.Options{})
		if err != nil && doc != "{}" {
			t.Fatal(err)
		}
		if m != nil && m.Hash != config.SourceHash([]byte(doc)) {
			t.Errorf("sourceHash differs from config.Parse's hash")
		}
	}
}

// TestSchemaValidateParsesInGate: an entity validate parses its body
// inside the loader's gate, as a load does: while a load runs it is
// refused before parsing (429), even a body that would not parse.
func TestSchemaValidateParsesInGate(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	blocking := smallConfig + "plugins:\n- name: block\n  config: {wait: true}\n"
	done := blockLoad(f, func() error {
		_, err := f.loader.Apply([]byte(blocking), "sighup")
		return err
	})
	code, body, _ := f.do(http.MethodPost, "/schemas/services/validate", "{not json", "Content-Type", "application/json")
	close(f.release)
	if code != 429 {
		t.Errorf("validate while loading = %d %v", code, body)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	code, body, _ = f.do(http.MethodPost, "/schemas/services/validate", "{not json", "Content-Type", "application/json")
	if code != 400 || body["message"] != "Cannot parse JSON body" {
		t.Errorf("validate after the load = %d %v", code, body)
	}
}

func TestAdminPostConfigBusy(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	blocking := smallConfig + "plugins:\n- name: block\n  config: {wait: true}\n"
	done := blockLoad(f, func() error {
		_, err := f.loader.Apply([]byte(blocking), "sighup")
		return err
	})
	code, body, hdr := f.do(http.MethodPost, "/config", newConfig)
	close(f.release)
	if code != 429 || body["message"] != "Currently loading previous configuration" || hdr.Get("Retry-After") != "1" {
		t.Errorf("POST while loading = %d %v %v", code, body, hdr)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code, _, _ := f.do(http.MethodPost, "/config", newConfig); code != 201 {
		t.Errorf("POST after the load = %d", code)
	}
}

func TestAdminPostConfigTooLarge(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	big := smallConfig + "_comment: \"" + strings.Repeat("x", int(reload.DefaultLimits.MaxSize)) + "\"\n"
	req := httptest.NewRequest(http.MethodPost, "/config", strings.NewReader(big))
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != 413 {
		t.Errorf("oversized body = %d %s", rec.Code, rec.Body)
	}
	if routeNames(t, f) != "a" {
		t.Errorf("config changed")
	}
}

func TestAdminValidatePlugin(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	before := f.holder.Load()
	ok := []string{
		`{"name":"cors","config":{"origins":["https://example.com"]}}`,
		"name: request-termination\nconfig:\n  status_code: 403\n",
		`{"name":"request-transformer","consumer":{"id":"x"},"service":{"name":"nope"}}`,
	}
	for _, b := range ok {
		code, body, _ := f.do(http.MethodPost, "/schemas/plugins/validate", b, "Content-Type", "application/json")
		if code != 200 || body["message"] != "schema validation successful" {
			t.Errorf("valid %s = %d %v", b, code, body)
		}
	}
	bad := map[string]string{
		`{"name":"cors","config":{"origins":["(bad"]}}`:         "config.origins[0]",
		`{"name":"cors","config":{"nope":1}}`:                   "config.nope",
		`{"name":"nope"}`:                                       "name",
		`{"name":"cors","consumer":{"username":"alice"}}`:       "consumer",
		`{"name":"cors","protocols":["http","carrier-pigeon"]}`: "protocols[1]",
		`[1, 2]`: "@entity",
	}
	for b, path := range bad {
		code, body, _ := f.do(http.MethodPost, "/schemas/plugins/validate", b, "Content-Type", "application/json")
		if code != 400 || body["code"] != float64(2) || body["name"] != "schema violation" {
			t.Errorf("invalid %s = %d %v", b, code, body)
			continue
		}
		if fieldAt(body["fields"], path) == nil {
			t.Errorf("invalid %s: no field %s in %v", b, path, body["fields"])
		}
	}
	if f.holder.Load() != before || f.loader.Last().Trigger != "startup" {
		t.Errorf("validation applied something")
	}
	if code, _, _ := f.do(http.MethodGet, "/schemas/plugins/validate", ""); code != 405 {
		t.Errorf("GET validate = %d", code)
	}
}

// selfSignedCA returns the PEM of a fresh CA certificate.
func selfSignedCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "validate-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestAdminValidatePluginSeesCACertificatesInForce(t *testing.T) {
	ca := selfSignedCA(t)
	cfg := smallConfig + "ca_certificates:\n- id: 6b3a1f0e-3c49-4d3e-9d3f-1a2b3c4d5e6f\n  cert: |\n    " +
		strings.ReplaceAll(strings.TrimSpace(ca), "\n", "\n    ") + "\n"
	f := newFixture(t, cfg, nil)
	known := `{"name":"mtls-auth","config":{"ca_certificates":["6b3a1f0e-3c49-4d3e-9d3f-1a2b3c4d5e6f"]}}`
	if code, body, _ := f.do(http.MethodPost, "/schemas/plugins/validate", known, "Content-Type", "application/json"); code != 200 {
		t.Errorf("mtls-auth naming a CA in force = %d %v", code, body)
	}
	unknown := `{"name":"mtls-auth","config":{"ca_certificates":["00000000-0000-4000-8000-000000000000"]}}`
	if code, body, _ := f.do(http.MethodPost, "/schemas/plugins/validate", unknown, "Content-Type", "application/json"); code != 400 {
		t.Errorf("mtls-auth naming an unknown CA = %d %v", code, body)
	}
}

// A node without a loader cannot validate: the validate endpoints read
// the body first (bounded), so a body they could not take is answered as
// such, and one they could with 503.
func TestAdminValidateWithoutLoader(t *testing.T) {
	f := newFixture(t, fullConfig(t), func(s *Source) { s.Loader = nil })
	big := `{"name":"cors","tags":["` + strings.Repeat("a", maxEntityBody) + `"]}`
	for _, path := range []string{"/schemas/plugins/validate", "/schemas/services/validate"} {
		if code, _, _ := f.do(http.MethodPost, path, big, "Content-Type", "application/json"); code != 413 {
			t.Errorf("POST %s, too large = %d", path, code)
		}
		if code, _, _ := f.do(http.MethodPost, path, `{"name":"cors"}`, "Content-Type", "application/json"); code != 503 {
			t.Errorf("POST %s = %d", path, code)
		}
	}
}

package admin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/reload"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// blockConfig configures the test-only "block" plugin, whose instances
// wait on a channel while being built: a load that contains it holds the
// loader busy for as long as the test wants.
type blockConfig struct {
	Wait bool `yaml:"wait"`
}

type blockInstance struct{}

func (blockInstance) Access(*plugin.Ctx) error { return nil }

// fixture is an admin handler over a real loader and snapshot.
type fixture struct {
	t       testing.TB
	h       http.Handler
	loader  *reload.Loader
	holder  *snapshot.Holder
	reg     *plugin.Registry
	entered chan struct{}
	release chan struct{}
}

// blockLoad runs start (a load of a config holding the block plugin with
// wait: true) on its own goroutine and returns once the load is inside
// the loader's gate; the result comes on the channel after f.release is
// closed.
func blockLoad[T any](f *fixture, start func() T) <-chan T {
	f.t.Helper()
	done := make(chan T, 1)
	go func() { done <- start() }()
	select {
	case <-f.entered:
	case <-time.After(10 * time.Second):
		f.t.Fatal("the blocking load never started")
	}
	return done
}

func newFixture(t testing.TB, cfg string, mod func(*Source)) *fixture {
	t.Helper()
	f := &fixture{t: t, holder: &snapshot.Holder{}, entered: make(chan struct{}, 1), release: make(chan struct{})}
	regs := append(all.Registrations(), plugin.Registration{
		Name: "block", Priority: 1,
		NewConfig: func() any { return &blockConfig{} },
		New: func(cfg any, _ plugin.Env) (plugin.Instance, error) {
			if cfg.(*blockConfig).Wait {
				f.entered <- struct{}{}
				<-f.release
			}
			return blockInstance{}, nil
		},
	})
	reg, err := plugin.NewRegistry(regs)
	if err != nil {
		t.Fatal(err)
	}
	f.reg = reg
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	f.loader = reload.New(f.holder, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})}, "", config.Options{}, nil)
	if _, err := f.loader.Apply([]byte(cfg), "startup"); err != nil {
		t.Fatalf("startup config: %v", err)
	}
	src := Source{
		Version: "1.2.3", NodeID: "node-1", Started: time.Now(), Snapshot: f.holder,
		Requests: func() uint64 { return 42 }, Accepted: func() uint64 { return 7 },
		Active: func() int64 { return 3 }, Loader: f.loader, Registry: reg,
		Hosts: []string{testHost},
	}
	if mod != nil {
		mod(&src)
	}
	f.h = mustHandler(t, src)
	return f
}

// mustHandler is Handler for sources whose plugin routes are known good.
func mustHandler(t testing.TB, src Source) http.Handler {
	t.Helper()
	h, err := Handler(src)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// testHost is the Host of httptest.NewRequest's requests, which the admin
// API answers for only when told to.
const testHost = "example.com"

// do sends a request and decodes a JSON body (nil when empty).
func (f *fixture) do(method, path, body string, header ...string) (int, map[string]any, http.Header) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	var out map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			f.t.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, path, err, rec.Body.String())
		}
	}
	return rec.Code, out, rec.Header()
}

// get expects 200 and returns the body.
func (f *fixture) get(path string) map[string]any {
	f.t.Helper()
	code, body, _ := f.do(http.MethodGet, path, "")
	if code != http.StatusOK {
		f.t.Fatalf("GET %s: %d %v", path, code, body)
	}
	return body
}

func selfSigned(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "example.com"},
		DNSNames: []string{"example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

func indentPEM(s string) string {
	return "      " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n      ")
}

// fullConfig has one of every entity kind, with tags to filter on.
func fullConfig(t *testing.T) string {
	cert, key := selfSigned(t)
	return `_format_version: "3.0"
services:
- name: users
  url: http://users.internal:8080/v1
  tags: [team-a, public]
  routes:
  - name: users-route
    paths: [/users]
    tags: [team-a]
    plugins:
    - name: request-termination
      config: {status_code: 418}
  plugins:
  - name: cors
    config: {origins: ["https://example.com"]}
- id: 2f0d1f7e-1b7c-4a52-9c8e-8d8a2b9f0a11
  name: orders
  host: orders-up
  tags: [team-b, public]
  routes:
  - name: orders-route
    paths: [/orders]
routes:
- name: standalone
  url: http://standalone.internal
  paths: [/standalone]
  tags: [team-b]
consumers:
- username: alice
  tags: [gold]
  plugins:
  - name: request-transformer
    config: {add: {headers: ["x-tier:gold"]}}
- username: bob
- custom_id: c-3
plugins:
- name: request-termination
  instance_name: global-term
  enabled: false
upstreams:
- name: orders-up
  tags: [team-b]
  targets:
  - target: 10.0.0.1:8080
    weight: 50
  - target: 10.0.0.2:8080
certificates:
- cert: |
` + indentPEM(cert) + `
  key: |
` + indentPEM(key) + `
  snis: [example.com]
`
}

func TestAdminRootStatusReady(t *testing.T) {
	f := newFixture(t, fullConfig(t), nil)
	snap := f.holder.Load()

	root := f.get("/")
	if root["version"] != "3.10.0" || root["turnpike_version"] != "1.2.3" || root["edition"] != "community" || root["node_id"] != "node-1" ||
		root["tagline"] != "Welcome to turnpike" || root["configuration_hash"] != snap.Hash {
		t.Errorf("GET / = %v", root)
	}
	if conf := root["configuration"].(map[string]any); conf["database"] != "off" || conf["router_flavor"] != "traditional_compatible" {
		t.Errorf("configuration = %v", conf)
	}
	plugins := root["plugins"].(map[string]any)
	avail := plugins["available_on_server"].(map[string]any)
	if cors, ok := avail["cors"].(map[string]any); !ok || cors["priority"] != float64(2000) {
		t.Errorf("available_on_server = %v", avail)
	}
	if got := toStrings(plugins["enabled_in_cluster"]); strings.Join(got, ",") != "cors,request-termination,request-transformer" {
		t.Errorf("enabled_in_cluster = %v", got)
	}

	st := f.get("/status")
	server := st["server"].(map[string]any)
	if server["connections_active"] != float64(3) || server["total_requests"] != float64(42) ||
		st["configuration_hash"] != snap.Hash {
		t.Errorf("GET /status = %v", st)
	}
	if last := st["last_reload"].(map[string]any); last["ok"] != true || last["trigger"] != "startup" {
		t.Errorf("last_reload = %v", last)
	}
	if r := f.get("/status/ready"); r["message"] != "ready" {
		t.Errorf("ready = %v", r)
	}
	if e := f.get("/plugins/enabled"); strings.Join(toStrings(e["enabled_plugins"]), ",") != strings.Join(f.reg.Names(), ",") || !slices.Contains(f.reg.Names(), "key-auth") {
		t.Errorf("enabled_plugins = %v", e)
	}
	for _, p := range []string{"/nope", "/status/nope", "/services/users/nope"} {
		if code, body, _ := f.do(http.MethodGet, p, ""); code != 404 || body["message"] != "Not found" {
			t.Errorf("GET %s = %d %v", p, code, body)
		}
	}
	if code, body, _ := f.do(http.MethodPost, "/status", ""); code != 405 || body["message"] != "Method not allowed" {
		t.Errorf("POST /status = %d %v", code, body)
	}
}

func TestAdminReadyWithoutConfigAndDraining(t *testing.T) {
	h := mustHandler(t, Source{Snapshot: &snapshot.Holder{}, Hosts: []string{testHost}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status/ready", nil))
	if rec.Code != 503 {
		t.Errorf("ready without config = %d", rec.Code)
	}
	// A partial source (no counters) still answers /status.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"connections_active":0`) {
		t.Errorf("status = %d %s", rec.Code, rec.Body)
	}
	f := newFixture(t, fullConfig(t), func(s *Source) { s.Draining = func() bool { return true } })
	if code, body, _ := f.do(http.MethodGet, "/status/ready", ""); code != 503 || body["message"] != "draining" {
		t.Errorf("ready while draining = %d %v", code, body)
	}
}

func TestAdminToken(t *testing.T) {
	f := newFixture(t, fullConfig(t), func(s *Source) { s.Token = "s3cret" })
	for _, p := range []string{"/", "/status", "/services", "/config", "/nope"} {
		code, body, hdr := f.do(http.MethodGet, p, "")
		if code != 401 || body["message"] != "Unauthorized" || hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without token = %d %v", p, code, body)
		}
		if code, _, _ := f.do(http.MethodGet, p, "", "Authorization", "Bearer wrong"); code != 401 {
			t.Errorf("GET %s with a wrong token = %d", p, code)
		}
		if code, _, _ := f.do(http.MethodGet, p, "", "Authorization", "Bearer s3cret-and-more"); code != 401 {
			t.Errorf("GET %s with a longer token = %d", p, code)
		}
	}
	if code, _, _ := f.do(http.MethodGet, "/status", "", "Authorization", "Bearer s3cret"); code != 200 {
		t.Errorf("bearer token = %d", code)
	}
	if code, _, _ := f.do(http.MethodGet, "/status", "", "Authorization", "bearer s3cret"); code != 200 {
		t.Errorf("lower-case bearer = %d", code)
	}
	if code, _, _ := f.do(http.MethodGet, "/services", "", "Kong-Admin-Token", "s3cret"); code != 200 {
		t.Errorf("Kong-Admin-Token = %d", code)
	}
	if code, _, _ := f.do(http.MethodPost, "/config", "x: 1", "Authorization", "Basic czNjcmV0"); code != 401 {
		t.Errorf("POST /config with Basic auth = %d", code)
	}
	// The readiness probe carries no credentials.
	if code, _, _ := f.do(http.MethodGet, "/status/ready", ""); code != 200 {
		t.Errorf("ready without token = %d", code)
	}
}

func toStrings(v any) []string {
	items, _ := v.([]any)
	out := make([]string, len(items))
	for i, it := range items {
		out[i], _ = it.(string)
	}
	return out
}

func TestAdminRefusesCrossSiteRequests(t *testing.T) {
	f := newFixture(t, "_format_version: \"3.0\"\n", nil)
	tests := []struct {
		name   string
		header []string
		want   int
	}{
		{name: "no browser headers", want: http.StatusOK},
		{name: "same origin", header: []string{"Origin", "http://example.com"}, want: http.StatusOK},
		{name: "foreign origin", header: []string{"Origin", "http://evil.example"}, want: http.StatusForbidden},
		{name: "fetch metadata cross-site", header: []string{"Sec-Fetch-Site", "cross-site"}, want: http.StatusForbidden},
		{name: "fetch metadata same-origin", header: []string{"Sec-Fetch-Site", "same-origin"}, want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, _ := f.do(http.MethodGet, "/status", "", tt.header...); code != tt.want {
				t.Errorf("status %d, want %d", code, tt.want)
			}
		})
	}
}

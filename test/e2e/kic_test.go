package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// The replay below follows Kong's ingress controller (KIC) at
// Kong/kubernetes-ingress-controller@1fa68f86 and its admin API client
// Kong/go-kong@dae27d25; "KIC file:line" and "go-kong file:line" cite them.

// kicEmptyHash is KIC's WellKnownInitialHash: a gateway reporting it has
// no configuration (KIC internal/dataplane/sendconfig/config_change_detector.go:16-17).
const kicEmptyHash = "00000000000000000000000000000000"

// kicConfigError and its parts are the types KIC decodes a 400 from POST
// /config into (KIC internal/dataplane/sendconfig/inmemory_error_handling.go:26-81):
// a field of the wrong JSON type fails KIC's whole parse.
type kicConfigError struct {
	Code      int                  `json:"code,omitempty"`
	Flattened []kicFlatEntityError `json:"flattened_errors,omitempty"`
	Message   string               `json:"message,omitempty"`
	Name      string               `json:"name,omitempty"`
}

type kicFlatEntityError struct {
	Name   string         `json:"entity_name,omitempty"`
	ID     string         `json:"entity_id,omitempty"`
	Tags   []string       `json:"entity_tags,omitempty"`
	Type   string         `json:"entity_type,omitempty"`
	Errors []kicFlatError `json:"errors,omitempty"`
}

type kicFlatError struct {
	Field    string   `json:"field,omitempty"`
	Message  string   `json:"message,omitempty"`
	Messages []string `json:"messages,omitempty"`
	Type     string   `json:"type,omitempty"`
}

// kicResourceError is the Kubernetes object KIC raises an Event on, with
// the problems it lists (KIC internal/dataplane/sendconfig/strategy.go:55-63).
type kicResourceError struct {
	Name, Namespace, Kind, APIVersion, UID string
	Problems                               map[string]string
}

// kicResourceErrors is KIC's parseFlatEntityErrors, flattenedErrorIntoRaw
// and parseRawResourceError (inmemory_error_handling.go:85-204): the
// object comes from the k8s-* tags; an entry without them is dropped (no
// Event), as KIC drops it.
func kicResourceErrors(t *testing.T, body []byte) []kicResourceError {
	t.Helper()
	var ce kicConfigError
	if err := json.Unmarshal(body, &ce); err != nil {
		t.Fatalf("KIC cannot parse the 400 body (%v): %s", err, body)
	}
	var out []kicResourceError
	for _, fe := range ce.Flattened {
		re := kicResourceError{Problems: map[string]string{}}
		for _, p := range fe.Errors {
			switch {
			case p.Message != "" && p.Type == "field":
				re.Problems[p.Field] = p.Message
			case p.Message != "" && p.Type == "entity":
				re.Problems[fe.Type+":"+fe.Name] = p.Message
			}
			for i, m := range p.Messages {
				re.Problems[fmt.Sprintf("%s[%d]", p.Field, i)] = m
			}
		}
		var group, version string
		for _, tag := range fe.Tags {
			k, v, _ := strings.Cut(tag, ":")
			switch k {
			case "k8s-name":
				re.Name = v
			case "k8s-namespace":
				re.Namespace = v
			case "k8s-kind":
				re.Kind = v
			case "k8s-group":
				group = v
			case "k8s-version":
				version = v
			case "k8s-uid":
				re.UID = v
			}
		}
		re.APIVersion = strings.TrimPrefix(group+"/"+version, "/")
		if re.Name == "" || re.Kind == "" || re.UID == "" || (re.Namespace == "" && re.Kind != "KongClusterPlugin") {
			t.Logf("no Event for %+v (KIC needs its k8s-* tags)", fe)
			continue
		}
		out = append(out, re)
	}
	return out
}

// kicClient is KIC's admin API client for one DB-less gateway.
type kicClient struct {
	t        *testing.T
	base     string
	token    string
	lastSHA  []byte // KIC adminapi.Client.LastConfigSHA
	requests []string
}

// call sends one request as go-kong does: a JSON body with its
// Content-Type (go-kong kong/request.go:14-58) and the admin token KIC's
// --kong-admin-token adds to every request (KIC internal/adminapi/kong.go:128-131, 188-198).
func (c *kicClient) call(method, path string, body []byte) (int, []byte) {
	c.t.Helper()
	c.requests = append(c.requests, method+" "+path)
	header := []string{"Kong-Admin-Token", c.token, "User-Agent", "kong-ingress-controller/replay"}
	if body != nil {
		header = append(header, "Content-Type", "application/json")
	}
	resp, out := gwtest.Do(c.t, gwtest.NewRequest(c.t, method, c.base+path, string(body), header...))
	return resp.StatusCode, []byte(out)
}

// status is GET /status: go-kong decodes configuration_hash from it into
// a string (go-kong kong/client.go:102-117, 398-411); last_reload is
// Turnpike's, read by the test only.
func (c *kicClient) status() (string, any) {
	c.t.Helper()
	code, body := c.call(http.MethodGet, "/status", nil)
	var st struct {
		ConfigurationHash string `json:"configuration_hash,omitempty"`
		LastReload        any    `json:"last_reload"`
	}
	if code != 200 || json.Unmarshal(body, &st) != nil {
		c.t.Fatalf("GET /status: %d %s", code, body)
	}
	return st.ConfigurationHash, st.LastReload
}

func (c *kicClient) statusHash() string {
	c.t.Helper()
	h, _ := c.status()
	return h
}

// fetchLastGood is KIC's first Update of a DB-less gateway while it holds
// no last good configuration (KIC internal/dataplane/kong_client.go:463-475,
// configfetcher/config_fetcher.go:107-161): a dump of the gateway (the
// lists whose failure fails go-database-reconciler's dump.Get; the decK
// replay covers the rest) and GET /status, where the empty hash means
// there is nothing to keep.
func (c *kicClient) fetchLastGood() bool {
	c.t.Helper()
	for _, kind := range []string{"services", "routes", "plugins", "certificates", "snis", "upstreams", "consumers"} {
		if code, body := c.call(http.MethodGet, "/"+kind+"?size=1000", nil); code != 200 {
			c.t.Errorf("GET /%s?size=1000: %d %s", kind, code, body)
		}
	}
	return c.statusHash() != kicEmptyHash
}

// kicSemver is the major.minor.patch go-kong reads from a version
// (go-kong kong/utils.go:143-170), anchored: a stricter reading.
var kicSemver = regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?`)

// startup is what KIC asks of each gateway before it configures it: the
// readiness probe GET /status (KIC internal/adminapi/kong.go:77-80), the
// version gate on GET / (kong.go:109-123: at least 3.4.1,
// versions.KICv3VersionCutoff), the root validation (KIC
// internal/manager/kongconfig/root.go:28-123: configuration.database ""
// or "off" is DB-less, configuration.router_flavor a string) and the node
// id (KIC internal/adminapi/client.go:100-113).
func (c *kicClient) startup() {
	c.t.Helper()
	c.statusHash()
	code, body := c.call(http.MethodGet, "/", nil)
	var root map[string]any
	if code != 200 || json.Unmarshal(body, &root) != nil {
		c.t.Fatalf("GET /: %d %s", code, body)
	}
	conf, _ := root["configuration"].(map[string]any)
	if db, ok := conf["database"].(string); !ok || (db != "" && db != "off") {
		c.t.Errorf("configuration.database = %v: KIC would not run DB-less", conf["database"])
	}
	if _, ok := conf["router_flavor"].(string); !ok {
		c.t.Errorf("configuration.router_flavor = %v: KIC refuses to start (missing field)", conf["router_flavor"])
	}
	version, _ := root["version"].(string)
	m := kicSemver.FindStringSubmatch(version)
	var v [3]int
	for i := range v {
		if m != nil {
			v[i], _ = strconv.Atoi(m[i+1])
		}
	}
	if m == nil || v[0] < 3 || v[0] == 3 && (v[1] < 4 || v[1] == 4 && v[2] < 1) {
		c.t.Errorf("version %q: KIC refuses Kong Gateway below 3.4.1", version)
	}
	if id, ok := root["node_id"].(string); !ok || id == "" {
		c.t.Errorf("node_id = %v", root["node_id"])
	}
}

// update is one KongClient.Update for a DB-less gateway with the content
// KIC built: the SHA of the content (KIC internal/dataplane/deckgen/deckgen.go:16-31)
// against the last one pushed, and when equal GET /status: only a gateway
// reporting the empty hash gets it again (sendconfig/sendconfig.go:55-79,
// config_change_detector.go:48-90). Then POST
// /config?check_hash=1&flatten_errors=1 (sendconfig/inmemory.go:56-109,
// go-kong kong/client.go:492-535); a status from 200 to 399 is success (a
// 304 included) and the SHA is kept (sendconfig.go:120); a 400 is parsed
// into the objects KIC raises Events on. It answers whether it pushed,
// the status and those objects.
func (c *kicClient) update(content []byte) (bool, int, []kicResourceError) {
	c.t.Helper()
	var compact bytes.Buffer
	if err := json.Compact(&compact, content); err != nil {
		c.t.Fatal(err)
	}
	sum := sha256.Sum256(compact.Bytes())
	if bytes.Equal(sum[:], c.lastSHA) && c.statusHash() != kicEmptyHash {
		return false, 0, nil
	}
	code, body := c.call(http.MethodPost, "/config?check_hash=1&flatten_errors=1", compact.Bytes())
	switch {
	case code >= 200 && code < 400:
		c.lastSHA = sum[:]
		return true, code, nil
	case code == http.StatusBadRequest:
		return true, code, kicResourceErrors(c.t, body)
	}
	c.t.Fatalf("POST /config: %d %s", code, body)
	return true, code, nil
}

// kicContent reads a fixture of what KIC sends, its targets pointing at up,
// with each of edit's old and new pairs replaced once: a broken variant
// is fixed.json with a line or two changed, not another copy of it.
func kicContent(t *testing.T, name string, up *gwtest.Echo, edit ...string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/kic/" + name)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(edit); i += 2 {
		// A pair the fixture lacks would push the fixture unbroken.
		if !bytes.Contains(raw, []byte(edit[i])) {
			t.Fatalf("testdata/kic/%s has no %s", name, edit[i])
		}
		raw = bytes.Replace(raw, []byte(edit[i]), []byte(edit[i+1]), 1)
	}
	return bytes.ReplaceAll(raw, []byte("__TARGET__"), []byte(strings.TrimPrefix(up.URL, "http://")))
}

// The breakages of fixed.json KIC's pushes carry, as kicContent edits: an
// Ingress path whose regex does not compile, a KongPlugin limit below 0.
var (
	kicBadRegex  = []string{`"~/shop/[a-z]+$"`, `"~/shop/(unclosed$"`}
	kicBadMinute = []string{`"minute": 5,`, `"minute": -5,`}
)

const kicToken = "kic-replay-token-1"

// kicGateway starts a DB-less gateway as KIC finds one: no entity loaded.
func kicGateway(t *testing.T) (*gwtest.Gateway, *kicClient) {
	gw := gwtest.Start(t, "_format_version: \"3.0\"\n", gwtest.Options{Args: []string{"--admin-token", kicToken}})
	return gw, &kicClient{t: t, base: gw.AdminURL, token: kicToken}
}

// kicProxyGet asks the proxy for path with the apikey header when key is
// set, and answers the status, the upstream's view and the headers.
func kicProxyGet(gw *gwtest.Gateway, path, key string) (int, string, http.Header) {
	var hdr []string
	if key != "" {
		hdr = []string{"apikey", key}
	}
	resp, body := gw.Get(path, hdr...)
	return resp.StatusCode, body, resp.Header
}

// Kong's ingress controller against a DB-less gateway, request by request
// in its order: start-up probes, the empty gateway's last good config,
// plugin schemas, the first push, an unchanged reconcile (no push), a
// restarted controller's re-push (304, no reload), pushes with broken
// objects (400 with the flattened errors KIC turns into Events on the
// Ingress, then on the KongPlugin; the config in force kept), the
// recovery, the fixed push, and a restarted gateway that gets the same
// content again because it reports the empty hash. The proxy serves each
// accepted push.
func TestKICReplayDBless(t *testing.T) {
	up := gwtest.StartEcho(t, "httpbin")
	gw, kic := kicGateway(t)
	// The test's own reads go through obs, so that kic.requests is KIC's.
	obs := &kicClient{t: t, base: gw.AdminURL, token: kicToken}
	kic.startup()
	if kic.fetchLastGood() {
		t.Errorf("an empty gateway does not report the empty hash")
	}
	// Plugin defaults come from the gateway's schemas (KIC
	// internal/dataplane/deckgen/generate.go:53-55, 240-279). KIC only
	// logs a failure and sends the plugin without its defaults, so the
	// test requires the schema of each plugin it pushes.
	for _, name := range []string{"key-auth", "correlation-id", "rate-limiting"} {
		if code, body := kic.call(http.MethodGet, "/schemas/plugins/"+name, nil); code != 200 {
			t.Errorf("GET /schemas/plugins/%s: %d %s", name, code, body)
		}
	}

	v1 := kicContent(t, "v1.json", up)
	if pushed, code, errs := kic.update(v1); !pushed || code != 201 || errs != nil {
		t.Fatalf("first push: %v %d %v", pushed, code, errs)
	}
	if code, body, _ := kicProxyGet(gw, "/httpbin/anything", ""); code != 401 {
		t.Errorf("without a key: %d %s", code, body)
	}
	code, body, _ := kicProxyGet(gw, "/httpbin/anything", "alice-key-1")
	if code != 200 {
		t.Fatalf("with alice's key: %d %s", code, body)
	}
	if seen := gwtest.DecodeSeen(t, body); seen.Path != "/httpbin/anything" || len(seen.Header["Kong-Request-Id"]) != 1 {
		t.Errorf("upstream saw %+v", seen)
	}
	hash, reload := obs.status()
	if hash == kicEmptyHash || hash == "" {
		t.Fatalf("configuration_hash after the push: %q", hash)
	}

	// Nothing changed in the cluster: same SHA, a configured gateway.
	if pushed, _, _ := kic.update(v1); pushed {
		t.Errorf("an unchanged reconcile pushed")
	}
	// A restarted controller has no last SHA and pushes again: the
	// gateway answers 304 to check_hash and does not reload.
	restarted := &kicClient{t: t, base: gw.AdminURL, token: kicToken}
	if pushed, code, _ := restarted.update(v1); !pushed || code != 304 {
		t.Errorf("restarted controller's push: %v %d", pushed, code)
	}
	if h, r := obs.status(); h != hash || fmt.Sprint(r) != fmt.Sprint(reload) {
		t.Errorf("the 304 reloaded: %s %v, was %s %v", h, r, hash, reload)
	}

	kicRefusedPushes(t, kic, obs, gw, up, hash)

	fixed := kicContent(t, "fixed.json", up)
	if pushed, code, errs := kic.update(fixed); !pushed || code != 201 || errs != nil {
		t.Fatalf("fixed push: %v %d %v", pushed, code, errs)
	}
	code, body, hdr := kicProxyGet(gw, "/shop/abc", "")
	if code != 200 || gwtest.DecodeSeen(t, body).Path != "/shop/abc" || hdr.Get("X-RateLimit-Limit-Minute") != "5" {
		t.Errorf("fixed route: %d %s %v", code, body, hdr)
	}

	// The gateway restarts empty; KIC's SHA is unchanged, but the empty
	// hash makes it push again.
	gw.Stop()
	gw2, _ := kicGateway(t)
	kic.base = gw2.AdminURL
	kic.startup()
	if pushed, code, _ := kic.update(fixed); !pushed || code != 201 {
		t.Errorf("push to the restarted gateway: %v %d", pushed, code)
	}
	if code, body, _ := kicProxyGet(gw2, "/shop/abc", ""); code != 200 {
		t.Errorf("restarted gateway: %d %s", code, body)
	}

	push := "POST /config?check_hash=1&flatten_errors=1"
	want := []string{
		"GET /status", "GET /",
		"GET /services?size=1000", "GET /routes?size=1000", "GET /plugins?size=1000", "GET /certificates?size=1000",
		"GET /snis?size=1000", "GET /upstreams?size=1000", "GET /consumers?size=1000", "GET /status",
		"GET /schemas/plugins/key-auth", "GET /schemas/plugins/correlation-id", "GET /schemas/plugins/rate-limiting",
		push, "GET /status", // v1, unchanged reconcile
		push, "GET /status", // broken Ingress, recovery
		push, "GET /status", // broken KongPlugin, recovery
		push,                                        // fixed
		"GET /status", "GET /", "GET /status", push, // restarted gateway
	}
	if got := kic.requests; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// kicRefusedPushes pushes broken variants of fixed.json after v1: each is
// refused with the one object KIC raises an Event on, and the config in
// force (hash) keeps serving. Turnpike checks plugin configurations once the
// document's entities are sound: the broken Ingress is named first, the
// KongPlugin on the next push.
func kicRefusedPushes(t *testing.T, kic, obs *kicClient, gw *gwtest.Gateway, up *gwtest.Echo, hash string) {
	t.Helper()
	for _, step := range []struct {
		push              string
		edit              []string
		kind, name, field string
	}{
		{"broken Ingress and KongPlugin", slices.Concat(kicBadRegex, kicBadMinute), "Ingress", "echo", "paths.1"},
		{"broken KongPlugin", kicBadMinute, "KongPlugin", "shop-rate", "config.minute"},
	} {
		pushed, code, errs := kic.update(kicContent(t, "fixed.json", up, step.edit...))
		if !pushed || code != 400 {
			t.Fatalf("%s: %v %d", step.push, pushed, code)
		}
		if len(errs) != 1 || errs[0].Kind != step.kind || errs[0].Name != step.name || errs[0].Namespace != "shop" ||
			errs[0].UID == "" || !strings.Contains(errs[0].APIVersion, "/v1") || errs[0].Problems[step.field] == "" {
			t.Errorf("%s: Events on %+v, want the %s shop/%s at %s", step.push, errs, step.kind, step.name, step.field)
		}
		if h := obs.statusHash(); h != hash {
			t.Errorf("%s changed the hash: %s", step.push, h)
		}
		if code, body, _ := kicProxyGet(gw, "/httpbin/anything", "alice-key-1"); code != 200 {
			t.Errorf("after %s: %d %s", step.push, code, body)
		}
		if code, _, _ := kicProxyGet(gw, "/shop/abc", ""); code != 404 {
			t.Errorf("after %s the refused route answers %d", step.push, code)
		}
		// KIC's recovery pushes the last valid config (KIC
		// internal/dataplane/kong_client.go:616-625), which the gateway
		// has: same SHA, configured, no push.
		if pushed, _, _ := kic.update(kicContent(t, "v1.json", up)); pushed {
			t.Errorf("the recovery after %s pushed the config in force again", step.push)
		}
	}
}

// kicValidate is go-kong's Validate of a plugin or a route (go-kong
// kong/plugin_service.go:324-350, kong/route_service.go:217-230): a 2xx
// is valid, a 400 invalid with its body's message as the reason, and
// anything else an error, on which KIC's webhook refuses the object
// ("Unable to validate ...").
func (c *kicClient) validate(path string, entity any) (bool, string) {
	c.t.Helper()
	body, err := json.Marshal(entity)
	if err != nil {
		c.t.Fatal(err)
	}
	code, out := c.call(http.MethodPost, path, body)
	var msg struct {
		Message string `json:"message"`
	}
	switch {
	case code >= 200 && code < 300:
		return true, ""
	case code == http.StatusBadRequest && json.Unmarshal(out, &msg) == nil:
		return false, msg.Message
	}
	c.t.Fatalf("POST %s: %d %s: KIC's webhook would refuse every object", path, code, out)
	return false, ""
}

// KIC's admission webhook asks the gateway before an object is admitted:
// a new KongConsumer's username must not exist there (KIC
// internal/admission/validator.go:145-160, 541-559: GET /consumers/{username},
// 404 admits), a KongPlugin's config is checked against the plugin's
// schema (validator.go:330-372, 561-575: POST /schemas/plugins/validate)
// and each route of an Ingress against the route schema (KIC
// internal/admission/validation/ingress/ingress.go:42-52: POST
// /schemas/routes/validate).
func TestKICAdmissionWebhook(t *testing.T) {
	up := gwtest.StartEcho(t, "httpbin")
	_, kic := kicGateway(t)
	if pushed, code, _ := kic.update(kicContent(t, "v1.json", up)); !pushed || code != 201 {
		t.Fatalf("push: %d", code)
	}
	if code, body := kic.call(http.MethodGet, "/consumers/alice", nil); code != 200 {
		t.Errorf("an existing consumer: %d %s (KIC would admit a second alice)", code, body)
	}
	if code, body := kic.call(http.MethodGet, "/consumers/bob", nil); code != 404 {
		t.Errorf("a new consumer: %d %s (KIC would refuse it)", code, body)
	}

	plugin := map[string]any{"name": "rate-limiting", "config": map[string]any{"minute": 5, "policy": "local"},
		"protocols": []string{"http", "https"}}
	if ok, msg := kic.validate("/schemas/plugins/validate", plugin); !ok {
		t.Errorf("a valid KongPlugin refused: %s", msg)
	}
	plugin["config"] = map[string]any{"minute": -5}
	if ok, msg := kic.validate("/schemas/plugins/validate", plugin); ok || !strings.Contains(msg, "minute") {
		t.Errorf("a KongPlugin with minute -5: %v %q", ok, msg)
	}

	route := map[string]any{"name": "shop.echo.httpbin..80", "paths": []string{"~/shop/[a-z]+$"}, "protocols": []string{"http", "https"},
		"preserve_host": true, "strip_path": false, "https_redirect_status_code": 426, "path_handling": "v0", "regex_priority": 0,
		"request_buffering": true, "response_buffering": true,
		"tags": []string{"k8s-name:echo", "k8s-namespace:shop", "k8s-kind:Ingress", "k8s-group:networking.k8s.io", "k8s-version:v1"}}
	if ok, msg := kic.validate("/schemas/routes/validate", route); !ok {
		t.Errorf("a valid Ingress route refused: %s", msg)
	}
	route["paths"] = []string{"~/shop/(unclosed$"}
	if ok, msg := kic.validate("/schemas/routes/validate", route); ok || !strings.Contains(msg, "paths") {
		t.Errorf("an Ingress route with a broken regex: %v %q", ok, msg)
	}
}

package ratelimiting

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
)

// serve runs the plugin's admin route for path and decodes the answer.
func serve(t *testing.T, a plugin.Admin, path string) (int, map[string]any) {
	t.Helper()
	routes := Registration().Admin
	if len(routes) != 1 || routes[0].Method != http.MethodGet {
		t.Fatalf("routes %+v", routes)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(routes[0].Path, func(w http.ResponseWriter, r *http.Request) { routes[0].Serve(a, w, r) })
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: %v in %q", path, err, rec.Body)
	}
	return rec.Code, body
}

func TestAdminUsage(t *testing.T) {
	alice := &plugin.Consumer{ID: "c-1", Username: "alice"}
	limit := build(t, `{minute: 5, hour: 100}`, nil)
	bucket := build(t, `{window_type: token-bucket, rate: 2, burst: 4, limit_by: ip}`, nil)
	c := newCtx("192.0.2.1")
	c.Consumer = alice
	send(t, limit, c)
	send(t, limit, c)
	a := &plugintest.Admin{
		Dir: &plugintest.Directory{Consumers: []*plugin.Consumer{alice}},
		PluginList: []plugin.AdminPlugin{
			{ID: "p-1", Name: Name, InstanceName: "orders-limit", Enabled: true, Instance: limit},
			{ID: "p-2", Name: "cors", InstanceName: "just-cors", Enabled: true, Instance: struct{}{}},
			{ID: "p-3", Name: Name, InstanceName: "off"},
			{ID: "p-4", Name: Name, Enabled: true, Instance: bucket},
		},
	}
	code, body := serve(t, a, "/rate-limits/orders-limit/alice")
	want := map[string]any{
		"plugin": map[string]any{"id": "p-1", "name": Name, "instance_name": "orders-limit"},
		"key":    "c-1", "limit_by": "consumer", "window_type": "fixed",
		"windows": []any{
			map[string]any{"period": "minute", "limit": 5.0, "remaining": 3.0, "reset": body["windows"].([]any)[0].(map[string]any)["reset"]},
			map[string]any{"period": "hour", "limit": 100.0, "remaining": 98.0, "reset": body["windows"].([]any)[1].(map[string]any)["reset"]},
		},
	}
	if diff := cmp.Diff(want, body); code != 200 || diff != "" {
		t.Fatalf("%d (-want +got):\n%s", code, diff)
	}
	code, body = serve(t, a, "/rate-limits/p-4/192.0.2.50")
	if code != 200 || body["window_type"] != "token-bucket" || body["plugin"].(map[string]any)["instance_name"] != nil {
		t.Fatalf("bucket: %d %v", code, body)
	}

	for _, tt := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/rate-limits/nope/alice", 404, "Not found"},
		{"/rate-limits/rate-limiting/alice", 400, "several rate-limiting plugins are configured: name one by its id or instance_name"},
		{"/rate-limits/just-cors/x", 400, "plugin 'just-cors' is not a rate-limiting plugin"},
		{"/rate-limits/off/x", 404, "plugin 'off' is disabled"},
	} {
		if code, body := serve(t, a, tt.path); code != tt.status || body["message"] != tt.msg {
			t.Errorf("%s: %d %v", tt.path, code, body)
		}
	}

	none := &plugintest.Admin{PluginList: a.PluginList[1:3]}
	if code, body := serve(t, none, "/rate-limits/rate-limiting/x"); code != 404 || body["message"] != "no rate-limiting plugin is configured" {
		t.Errorf("none enabled: %d %v", code, body)
	}
	one := &plugintest.Admin{PluginList: a.PluginList[2:]}
	if code, body := serve(t, one, "/rate-limits/rate-limiting/192.0.2.1"); code != 200 || body["limit_by"] != "ip" {
		t.Errorf("the only enabled one, by name: %d %v", code, body)
	}
	gone := &plugintest.Admin{PluginList: []plugin.AdminPlugin{{ID: "p-9", Name: Name, Enabled: true}}}
	if code, body := serve(t, gone, "/rate-limits/p-9/x"); code != 500 || body["message"] != "plugin 'p-9' has no running instance" {
		t.Errorf("no instance: %d %v", code, body)
	}
}

func TestAdminUsageStoreDown(t *testing.T) {
	in := build(t, `{minute: 5}`, nil)
	in.store.Close()
	in.store = failStore{}
	a := &plugintest.Admin{PluginList: []plugin.AdminPlugin{{ID: "p-1", Name: Name, Enabled: true, Instance: in}}}
	code, body := serve(t, a, "/rate-limits/p-1/x")
	if code != 503 || body["message"] != "could not read the counters: ratelimit: redis unavailable" {
		t.Errorf("%d %v", code, body)
	}
}

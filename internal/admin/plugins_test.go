package admin

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// TestPluginRoutesOfEveryPlugin mounts the admin routes of every built-in
// plugin beside the core routes and sends each a request with another
// method: the plugin route's own 405, naming its method, shows that the
// request reached it and not a core route or the 404 behind them.
func TestPluginRoutesOfEveryPlugin(t *testing.T) {
	reg, err := plugin.NewRegistry(all.Registrations())
	if err != nil {
		t.Fatal(err)
	}
	h := mustHandler(t, Source{Snapshot: &snapshot.Holder{}, Registry: reg, Metrics: http.NotFoundHandler(), Hosts: []string{testHost}})
	routes := 0
	for _, name := range reg.Names() {
		r, _ := reg.Lookup(name)
		for _, route := range r.Admin {
			routes++
			method := http.MethodPatch
			if route.Method == method {
				method = http.MethodPut
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, route.Path, nil))
			if rec.Code != http.StatusMethodNotAllowed || !slices.Contains(strings.Split(rec.Header().Get("Allow"), ", "), route.Method) {
				t.Errorf("%s's %s %s: %s answered %d, Allow %q", name, route.Method, route.Path, method, rec.Code, rec.Header().Get("Allow"))
			}
		}
	}
	if routes == 0 {
		t.Fatal("no plugin has admin routes; the rate-limiting plugin has one")
	}
}

// TestPluginRoutesBehindCore checks that a plugin route the start-up
// check lets through because it overlaps core routes only in part
// (wildcards compare literally) gets only the requests no core route
// serves.
func TestPluginRoutesBehindCore(t *testing.T) {
	reg, err := plugin.NewRegistry([]plugin.Registration{{Name: "fake", Priority: 1,
		NewConfig: func() any { return &struct{}{} }, New: func(any, plugin.Env) (plugin.Instance, error) { return nil, nil },
		Admin: []plugin.AdminRoute{{Method: http.MethodPost, Path: "/{kind}/special",
			Serve: func(a plugin.Admin, w http.ResponseWriter, _ *http.Request) { a.Reply(w, http.StatusOK, "fake") }}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h := mustHandler(t, Source{Snapshot: &snapshot.Holder{}, Registry: reg, Hosts: []string{testHost}})
	for path, plugin := range map[string]bool{"/services/special": false, "/status/special": true, "/other/special": true} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		// Only the plugin route answers GET with 405 naming POST.
		if got := rec.Header().Get("Allow") == http.MethodPost; got != plugin {
			t.Errorf("GET %s: %d, Allow %q; want the plugin route: %v", path, rec.Code, rec.Header().Get("Allow"), plugin)
		}
	}
}

// TestPluginRoutesClash checks that a plugin admin route a core route
// would serve, or whose requests another plugin's route also claims, is
// refused when the admin API is built, instead of being dead, taking
// requests from a core route or panicking in ServeMux.
func TestPluginRoutesClash(t *testing.T) {
	type route struct{ plugin, method, path string }
	for _, tt := range []struct {
		name   string
		routes []route
		err    string // "" : accepted
	}{
		{"own path", []route{{"a", "POST", "/purge/{key}"}}, ""},
		{"a core path", []route{{"a", "GET", "/config"}}, `plugin "a": admin route GET /config: the core admin route /config serves this path`},
		{"a method on a core path", []route{{"a", "POST", "/config"}}, "the core admin route /config serves this path"},
		{"a core wildcard", []route{{"a", "GET", "/services/special"}}, "the core admin route /services/{id} serves this path"},
		{"a declared credential kind's path", []route{{"a", "GET", "/key-auths/{id}"}}, "the core admin route /key-auths/{id} serves this path"},
		{"the core metrics", []route{{"a", "GET", "/metrics"}}, "the core admin route GET /metrics serves this path"},
		{"a method in the path", []route{{"a", "GET", "POST /purge"}}, "the path must start with /"},
		{"the same path", []route{{"a", "GET", "/purge/{key}"}, {"b", "POST", "/purge/{k}"}},
			`plugin "b": admin route POST /purge/{k}: plugin "a"'s route /purge/{key} claims the same requests`},
		{"a path inside another", []route{{"a", "GET", "/purge/all"}, {"b", "GET", "/purge/{key}"}}, `plugin "a"'s route /purge/all claims the same requests`},
		{"another inside a path", []route{{"a", "GET", "/purge/{key}"}, {"b", "GET", "/purge/all"}}, `plugin "a"'s route /purge/{key} claims the same requests`},
		{"a conflict", []route{{"a", "GET", "/x/{a}/y"}, {"b", "GET", "/x/z/{b}"}}, "conflicts with pattern"},
		{"one plugin's path with two methods", []route{{"a", "GET", "/purge"}, {"a", "POST", "/purge"}}, ""},
		{"one plugin's method and path twice", []route{{"a", "GET", "/purge"}, {"a", "GET", "/purge"}}, "serves this method and path twice"},
		{"one plugin's nested paths", []route{{"a", "GET", "/purge/{key}"}, {"a", "POST", "/purge/all"}}, ""},
		{"an invalid pattern", []route{{"a", "GET", "/purge/{key"}}, "bad wildcard segment"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			byPlugin := map[string][]plugin.AdminRoute{}
			for _, r := range tt.routes {
				byPlugin[r.plugin] = append(byPlugin[r.plugin], plugin.AdminRoute{Method: r.method, Path: r.path,
					Serve: func(a plugin.Admin, w http.ResponseWriter, _ *http.Request) { a.Reply(w, http.StatusOK, "fake") }})
			}
			regs := all.Registrations()
			for name, routes := range byPlugin {
				regs = append(regs, plugin.Registration{Name: name, Priority: 1, Admin: routes,
					NewConfig: func() any { return &struct{}{} }, New: func(any, plugin.Env) (plugin.Instance, error) { return nil, nil }})
			}
			reg, err := plugin.NewRegistry(regs)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Handler(Source{Snapshot: &snapshot.Holder{}, Registry: reg, Metrics: http.NotFoundHandler()})
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("got %v, want an error with %q", err, tt.err)
			}
		})
	}
}

// TestPluginViewPluginsCost checks that listing a plugin's entities with
// their instances costs the same per entity whatever the configuration
// holds: the instance is looked up through the entry kept on the index,
// not by deriving every entry's id again (a hash and an allocation each,
// so rate-limiting entries × all entries in the 400 answer of
// /rate-limits/rate-limiting/{key}).
func TestPluginViewPluginsCost(t *testing.T) {
	const n = 200
	var b strings.Builder
	b.WriteString("_format_version: \"3.0\"\nservices:\n- name: s\n  host: s.test\n  routes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: r%d\n    paths: [/r%d]\n    plugins: [{name: rate-limiting, config: {minute: 5}}]\n", i, i)
	}
	f := newFixture(t, b.String(), nil)
	t.Cleanup(f.loader.Close)
	v := pluginView{buildIndex(f.holder.Load(), f.reg, nil, 0)}

	var got int
	allocs := testing.AllocsPerRun(1, func() {
		got = 0
		for _, p := range v.Plugins("rate-limiting") {
			if p.Instance != nil {
				got++
			}
		}
	})
	if got != n {
		t.Fatalf("%d of %d entities have an instance", got, n)
	}
	// Only the growing result slice allocates (log2(n) times); one
	// allocation per entry and lookup would be n×n.
	if allocs > 20 {
		t.Fatalf("Plugins allocates %.0f times for %d entities", allocs, n)
	}
}

// TestPluginRouteBodyBound checks that a plugin route sees at most
// maxPluginBody bytes of body, and that a longer one, with its length
// declared or not, gets the admin API's 413 without reaching the route.
func TestPluginRouteBodyBound(t *testing.T) {
	served := -1
	reg, err := plugin.NewRegistry(append(all.Registrations(), plugin.Registration{Name: "fake", Priority: 1,
		NewConfig: func() any { return &struct{}{} }, New: func(any, plugin.Env) (plugin.Instance, error) { return nil, nil },
		Admin: []plugin.AdminRoute{{Method: http.MethodPost, Path: "/fake/purge",
			Serve: func(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					t.Errorf("the route's read: %v", err)
				}
				served = len(b)
				a.Reply(w, http.StatusOK, map[string]any{})
			}}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, "_format_version: \"3.0\"\n", func(s *Source) { s.Registry = reg })
	t.Cleanup(f.loader.Close)
	for _, tt := range []struct {
		name   string
		body   io.Reader
		status int
		served int
	}{
		{"at the limit", strings.NewReader(strings.Repeat("x", maxPluginBody)), http.StatusOK, maxPluginBody},
		{"over the limit", strings.NewReader(strings.Repeat("x", maxPluginBody+1)), http.StatusRequestEntityTooLarge, -1},
		{"over the limit, length not declared", io.MultiReader(strings.NewReader(strings.Repeat("x", maxPluginBody+1))), http.StatusRequestEntityTooLarge, -1},
		{"the client breaks off", io.MultiReader(strings.NewReader("x"), iotest.ErrReader(io.ErrUnexpectedEOF)), http.StatusBadRequest, -1},
	} {
		served = -1
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/fake/purge", tt.body))
		if rec.Code != tt.status || served != tt.served {
			t.Errorf("%s: %d %s, the route read %d bytes", tt.name, rec.Code, rec.Body, served)
		}
		if tt.status == http.StatusRequestEntityTooLarge && !strings.Contains(rec.Body.String(), "request body too large (the limit is 65536 bytes)") {
			t.Errorf("%s: %s", tt.name, rec.Body)
		}
	}
}

// TestPluginViewRoute checks that a plugin route finds the configuration's
// routes by id or name (a cache invalidating by route name).
func TestPluginViewRoute(t *testing.T) {
	reg, err := plugin.NewRegistry(append(all.Registrations(), plugin.Registration{Name: "fake", Priority: 1,
		NewConfig: func() any { return &struct{}{} }, New: func(any, plugin.Env) (plugin.Instance, error) { return nil, nil },
		Admin: []plugin.AdminRoute{{Method: http.MethodGet, Path: "/fake/route/{ref}",
			Serve: func(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
				id, ok := a.Route(r.PathValue("ref"))
				a.Reply(w, http.StatusOK, map[string]any{"id": id, "ok": ok})
			}}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	cfg := "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:1\n  routes:\n  - name: products\n    id: 5b1f3a52-63a4-4c8e-9b1e-3f1b2a6c7d10\n    paths: [/products]\n"
	f := newFixture(t, cfg, func(s *Source) { s.Registry = reg })
	t.Cleanup(f.loader.Close)
	for ref, want := range map[string]string{
		"products":                             `{"id":"5b1f3a52-63a4-4c8e-9b1e-3f1b2a6c7d10","ok":true}`,
		"5b1f3a52-63a4-4c8e-9b1e-3f1b2a6c7d10": `{"id":"5b1f3a52-63a4-4c8e-9b1e-3f1b2a6c7d10","ok":true}`,
		"nope":                                 `{"id":"","ok":false}`,
	} {
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/fake/route/"+ref, nil))
		if got := strings.TrimSpace(rec.Body.String()); rec.Code != 200 || got != want {
			t.Errorf("%s: %d %s, want %s", ref, rec.Code, got, want)
		}
	}
}

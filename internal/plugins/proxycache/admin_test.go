package proxycache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cachestore"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
)

// adminPlugins lists instances as enabled proxy-cache entities.
func adminPlugins(ins ...*Cache) []plugin.AdminPlugin {
	var out []plugin.AdminPlugin
	for i, in := range ins {
		out = append(out, plugin.AdminPlugin{ID: string(rune('a' + i)), Name: Name, Enabled: true, Instance: in})
	}
	return out
}

func postInvalidate(t *testing.T, a plugin.Admin, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	serveInvalidate(a, rec, httptest.NewRequest(http.MethodPost, "/cache/invalidate", strings.NewReader(body)))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

// TestInvalidateRouteByName: a route named in POST /cache/invalidate is
// resolved in the configuration in force, though this process stored
// nothing for it under that name (entries are indexed by id).
func TestInvalidateRouteByName(t *testing.T) {
	in := newTest(t, nil)
	do(t, in, newCtx("GET", "/products", nil), jsonOK("[]"))
	do(t, in, newCtx("GET", "/products?page=2", nil), jsonOK("[]"))
	a := &plugintest.Admin{PluginList: adminPlugins(in), Routes: map[string]string{"products": "route-1"}}
	if code, body := postInvalidate(t, a, `{"route": "products"}`); code != 200 || body != `{"invalidated":2}` {
		t.Fatalf("by name: %d %s", code, body)
	}
	do(t, in, newCtx("GET", "/products", nil), jsonOK("[]"))
	if code, body := postInvalidate(t, a, `{"route": "route-1"}`); code != 200 || body != `{"invalidated":1}` {
		t.Fatalf("by id: %d %s", code, body)
	}
	if code, _ := postInvalidate(t, a, `{"route": ""}`); code != 400 {
		t.Fatalf("empty route: %d", code)
	}
}

// TestInvalidatePluginRouteName: proxy-cache-invalidate takes a route's
// name when the route's id is the one Kong derives from it.
func TestInvalidatePluginRouteName(t *testing.T) {
	if got, want := kongRouteID("guide"), "0cd0f58f-a481-5fd5-bca5-0418a29da370"; got != want {
		t.Fatalf("kongRouteID: %s, want %s (config.KongID)", got, want)
	}
	reg := Invalidate()
	cfg := reg.NewConfig()
	inst, err := reg.New(cfg, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	iv := inst.(*invalidator)
	t.Cleanup(iv.Close)
	c := newCtx("GET", "/guide/a", nil)
	c.Route = &plugin.RouteInfo{ID: kongRouteID("guide"), Name: "guide"}
	do(t, iv.c, c, jsonOK("a"))
	post := newCtx("POST", "/purge", nil)
	post.Req.Body = io.NopCloser(strings.NewReader(`{"route": "guide"}`))
	e, ok := iv.Access(post).(*plugin.Exit)
	if !ok || e.Status != 200 || string(e.Body) != `{"invalidated":1}` {
		t.Fatalf("purge by name: %+v", e)
	}
	// A ref in a UUID's form is an id only: the entries of the route
	// whose name it would be stay.
	ref := "7f0c3b52-2d7e-4f0e-9a43-0b1e7c2a9d11"
	c = newCtx("GET", "/guide/b", nil)
	c.Route = &plugin.RouteInfo{ID: kongRouteID(ref)}
	do(t, iv.c, c, jsonOK("b"))
	post = newCtx("POST", "/purge", nil)
	post.Req.Body = io.NopCloser(strings.NewReader(`{"route": "` + ref + `"}`))
	if e, ok := iv.Access(post).(*plugin.Exit); !ok || e.Status != 200 || string(e.Body) != `{"invalidated":0}` {
		t.Fatalf("purge by id: %+v", e)
	}
}

// failingStore is a store whose every call fails.
type failingStore struct{}

var errStoreDown = errors.New("store down")

func (failingStore) Get(context.Context, string) ([]byte, error) { return nil, errStoreDown }
func (failingStore) Set(context.Context, string, []byte, time.Duration, cachestore.Meta) error {
	return errStoreDown
}
func (failingStore) Invalidate(context.Context, cachestore.Selector) (int, error) {
	return 0, errStoreDown
}

// TestInvalidateVisitsEveryStore: a store failing an invalidation does
// not spare the stores after it; the answer is a 500, and the entries
// that went are logged.
func TestInvalidateVisitsEveryStore(t *testing.T) {
	down := newTest(t, func(c *Config) { c.Memory.DictionaryName = "down" })
	down.store = failingStore{}
	var log bytes.Buffer
	down.logger = slog.New(slog.NewTextHandler(&log, nil))
	up := newTest(t, func(c *Config) { c.Memory.DictionaryName = "up" })
	do(t, up, newCtx("GET", "/a", nil), jsonOK("a"))
	a := &plugintest.Admin{PluginList: adminPlugins(down, up)}
	if code, body := postInvalidate(t, a, `{"all": true}`); code != 500 || !strings.Contains(body, "store down") {
		t.Fatalf("invalidate: %d %s", code, body)
	}
	if _, h, _, _ := do(t, up, newCtx("GET", "/a", nil), jsonOK("a")); h.Get("X-Cache-Status") != "Miss" {
		t.Fatalf("the store after the failing one kept its entry: %v", h)
	}
	if !strings.Contains(log.String(), "invalidated=1") || !strings.Contains(log.String(), "failed_stores=1") {
		t.Fatalf("log: %s", log.String())
	}
}

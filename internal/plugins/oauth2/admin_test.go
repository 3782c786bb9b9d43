package oauth2

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/tokens"
	"github.com/turnpikegw/turnpike/internal/store"
)

// storeHolder stands for an instance of Kong's shape: the admin routes
// see only its TokenStore.
type storeHolder struct{ s tokens.Store }

func (h storeHolder) TokenStore() tokens.Store { return h.s }

// adminMux serves the plugin's admin routes over instances holding ss.
func adminMux(ss ...tokens.Store) *http.ServeMux {
	a := &plugintest.Admin{}
	for i, s := range ss {
		// Two entities on one store: the store is listed once.
		for j := range 2 {
			a.PluginList = append(a.PluginList, plugin.AdminPlugin{ID: strconv.Itoa(i*2 + j), Name: "oauth2", Enabled: true, Instance: storeHolder{s}})
		}
	}
	mux := http.NewServeMux()
	for _, rt := range adminRoutes() {
		mux.HandleFunc(rt.Method+" "+rt.Path, func(w http.ResponseWriter, r *http.Request) { rt.Serve(a, w, r) })
	}
	return mux
}

func adminDo(t *testing.T, mux *http.ServeMux, method, path string) (int, map[string]any) {
	t.Helper()
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	var body map[string]any
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, w.Body)
		}
	}
	return w.Code, body
}

func putToken(t *testing.T, s tokens.Store, id string) {
	t.Helper()
	tok := &tokens.Token{ID: id, CredentialID: "cred-1", ServiceID: "svc-1", Scope: "email",
		TokenType: "bearer", ExpiresIn: 3600, CreatedAt: time.Unix(1_800_000_000, 0)}
	if err := s.Put(context.Background(), tok, "access-"+id, ""); err != nil {
		t.Fatal(err)
	}
}

// TestAdminTokens ports Kong's /oauth2_tokens cases (02-api_spec) that
// apply to tokens the gateway issued: by id and by access token, 404 for
// an unknown one, 204 on delete (also of an unknown one), paging.
func TestAdminTokens(t *testing.T) {
	s := tokens.NewMemory(0, 0, 0, nil)
	defer s.Close()
	for _, id := range []string{"t1", "t2", "t3"} {
		putToken(t, s, id)
	}
	mux := adminMux(s)

	code, body := adminDo(t, mux, http.MethodGet, "/oauth2_tokens/t1")
	if code != 200 || body["id"] != "t1" || body["expires_in"] != 3600.0 || body["token_type"] != "bearer" ||
		body["scope"] != "email" || body["authenticated_userid"] != nil || body["created_at"] != 1_800_000_000.0 ||
		body["credential"].(map[string]any)["id"] != "cred-1" || body["service"].(map[string]any)["id"] != "svc-1" {
		t.Fatalf("GET by id: %d %v", code, body)
	}
	if _, shown := body["access_token"]; shown {
		t.Fatal("access_token shown")
	}
	if code, body := adminDo(t, mux, http.MethodGet, "/oauth2_tokens/access-t2"); code != 200 || body["id"] != "t2" {
		t.Fatalf("GET by access token: %d %v", code, body)
	}
	if code, body := adminDo(t, mux, http.MethodGet, "/oauth2_tokens/nope"); code != 404 || body["message"] != "Not found" {
		t.Fatalf("GET unknown: %d %v", code, body)
	}

	if code, _ := adminDo(t, mux, http.MethodDelete, "/oauth2_tokens/t1"); code != 204 {
		t.Fatalf("DELETE: %d", code)
	}
	if code, _ := adminDo(t, mux, http.MethodGet, "/oauth2_tokens/t1"); code != 404 {
		t.Fatalf("GET after DELETE: %d", code)
	}
	if got, _ := s.ByAccess(context.Background(), "access-t1"); got != nil {
		t.Fatal("deleted token still valid")
	}
	if code, _ := adminDo(t, mux, http.MethodDelete, "/oauth2_tokens/access-t2"); code != 204 {
		t.Fatalf("DELETE by access token: %d", code)
	}
	if got, _ := s.ByAccess(context.Background(), "access-t2"); got != nil {
		t.Fatal("token deleted by access token still valid")
	}
	for _, p := range []string{"/oauth2_tokens/blah", "/oauth2_tokens/00000000-0000-0000-0000-000000000000"} {
		if code, _ := adminDo(t, mux, http.MethodDelete, p); code != 204 {
			t.Fatalf("DELETE unknown: %d", code)
		}
	}

	code, body = adminDo(t, mux, http.MethodGet, "/oauth2_tokens")
	if data := body["data"].([]any); code != 200 || len(data) != 1 || body["next"] != nil {
		t.Fatalf("list: %d %v", code, body)
	}
	for _, q := range []string{"size=0", "size=1001", "size=x"} {
		if code, body := adminDo(t, mux, http.MethodGet, "/oauth2_tokens?"+q); code != 400 || body["name"] != "invalid size" {
			t.Fatalf("%s: %d %v", q, code, body)
		}
	}
	if code, body := adminDo(t, mux, http.MethodGet, "/oauth2_tokens?offset=!!"); code != 400 || body["name"] != "invalid offset" {
		t.Fatalf("bad offset: %d %v", code, body)
	}
}

// TestAdminTokensPaging pages through a memory store and a Redis store
// (two plugin entries, one with a redis block): every token once, no
// page over size.
func TestAdminTokensPaging(t *testing.T) {
	mem := tokens.NewMemory(0, 0, 0, nil)
	defer mem.Close()
	srv := gwtest.StartRedis(t)
	c, err := store.NewRedisClient(store.RedisOptions{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	red := tokens.NewRedis(c)
	defer c.Close()
	defer red.Close()
	want := map[string]bool{}
	for i := range 7 {
		id := "m" + strconv.Itoa(i)
		putToken(t, mem, id)
		want[id] = true
		id = "r" + strconv.Itoa(i)
		putToken(t, red, id)
		want[id] = true
	}
	mux := adminMux(mem, red)
	seen := map[string]bool{}
	next := "/oauth2_tokens?size=3"
	for pages := 0; next != ""; pages++ {
		if pages > 20 {
			t.Fatal("paging does not end")
		}
		code, body := adminDo(t, mux, http.MethodGet, next)
		data, _ := body["data"].([]any)
		if code != 200 || len(data) > 3 {
			t.Fatalf("%s: %d %v", next, code, body)
		}
		for _, d := range data {
			id := d.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("%s listed twice", id)
			}
			seen[id] = true
		}
		next, _ = body["next"].(string)
	}
	if len(seen) != len(want) {
		t.Fatalf("listed %d of %d: %v", len(seen), len(want), seen)
	}
}

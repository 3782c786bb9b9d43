package kongcompat

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// TestSupaSupabaseAuthorization runs Supabase's kong.yml, both renderings
// of its entrypoint's Authorization expression, through the binary with
// the PostgREST service pointed at an echo upstream. Its rest-v1 route
// chains key-auth (apikey), request-transformer and acl: Authorization
// passes through unless absent or, in the current rendering, an opaque
// `Bearer sb_` key, and is the apikey otherwise.
func TestSupaSupabaseAuthorization(t *testing.T) {
	const source = "supabase/supabase docker/volumes/api/kong.yml and kong-entrypoint.sh (LUA_AUTH_EXPR)"
	tests := []struct {
		file string
		auth string // "" sends no Authorization
		want string
	}{
		{"decl-supabase-kong.yml", "Bearer eyJ.jwt.sig", "Bearer eyJ.jwt.sig"},
		{"decl-supabase-kong.yml", "Bearer sb_secret_x", "anon-key"},
		{"decl-supabase-kong.yml", "", "anon-key"},
		{"decl-supabase-kong-legacy.yml", "Bearer eyJ.jwt.sig", "Bearer eyJ.jwt.sig"},
		{"decl-supabase-kong-legacy.yml", "Bearer sb_secret_x", "Bearer sb_secret_x"},
		{"decl-supabase-kong-legacy.yml", "", "anon-key"},
	}
	gws := map[string]*gwtest.Gateway{}
	for _, tt := range tests {
		gw := gws[tt.file]
		if gw == nil {
			raw, err := os.ReadFile(filepath.Join("testdata", "accept", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			up := gwtest.StartEcho(t, "rest")
			cfg := strings.Replace(string(raw), "url: http://rest:3000/", "url: "+up.URL+"/", 1)
			if cfg == string(raw) {
				t.Fatalf("%s: no rest-v1 service url to replace", tt.file)
			}
			gw = gwtest.Start(t, cfg, gwtest.Options{})
			gws[tt.file] = gw
		}
		req, _ := http.NewRequest(http.MethodGet, gw.URL+"/rest/v1/todos", nil)
		req.Header.Set("apikey", "anon-key")
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, body := gwtest.Do(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %q: %d %s", tt.file, tt.auth, resp.StatusCode, body)
		}
		seen := gwtest.DecodeSeen(t, body)
		if got := seen.Header["Authorization"]; len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s, Authorization %q: upstream got %q, want [%q] (source %s)", tt.file, tt.auth, got, tt.want, source)
		}
	}
}

// TestSupaEmptyHeaderValue: Kong sets each header with ngx.req.set_header,
// which (lua-nginx-module src/ngx_http_lua_headers_in.c,
// ngx_http_set_header_helper) removes the header for an empty value and
// adds none. So an add rendered empty sends nothing, a replace rendered
// empty removes the header, and an append sends an empty value only after
// the values already there. The query string keeps `q=`, as Kong's
// set_query does.
func TestSupaEmptyHeaderValue(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, `_format_version: "3.0"
services:
- name: s
  url: `+up.URL+`
  routes:
  - paths: ["/h"]
    plugins:
    - name: request-transformer
      config:
        add:
          headers: ["X-E:", "X-N:$(headers.missing)"]
          querystring: ["q:$(headers.missing)"]
        replace:
          headers: ["X-A:$(headers.missing)"]
        append:
          headers: ["X-B:$(headers.missing)", "X-C:$(headers.missing)"]
`, gwtest.Options{})
	req, _ := http.NewRequest(http.MethodGet, gw.URL+"/h", nil)
	req.Header.Set("X-A", "1")
	req.Header.Set("X-B", "2")
	resp, body := gwtest.Do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	seen := gwtest.DecodeSeen(t, body)
	for _, name := range []string{"X-E", "X-N", "X-A", "X-C"} {
		if vs, ok := seen.Header[name]; ok {
			t.Errorf("upstream got %s %q, want no such header", name, vs)
		}
	}
	if got := seen.Header["X-B"]; len(got) != 2 || got[0] != "2" || got[1] != "" {
		t.Errorf("upstream got X-B %q, want [2 \"\"]", got)
	}
	if seen.Query != "q=" {
		t.Errorf("upstream query %q, want q=", seen.Query)
	}
}

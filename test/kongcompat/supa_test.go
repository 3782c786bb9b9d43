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

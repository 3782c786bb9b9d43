package kongcompat

import (
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// TestDeclURLWins: a service's `url` replaces the protocol, host, port and
// path written beside it, a url without a path leaving none.
func TestDeclURLWins(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	tests := []struct {
		name   string
		source string
		// service is the service's fields; UP stands for the echo's url.
		service  string
		wantPath string
	}{
		{
			name:     "every field written out",
			source:   `Kong/kong kong/db/schema/entities/services.lua (the url shorthand) and kong/db/schema/init.lua (process_auto_fields: a shorthand without deprecation overwrites the fields it returns)`,
			service:  "url: UP/v2\n  protocol: https\n  host: 127.0.0.2\n  port: 1\n  path: /v1",
			wantPath: "/v2/x",
		},
		{
			name:     "a url without a path",
			source:   `Kong/kong kong/db/schema/entities/services.lua (the url shorthand returns path = null when the url has none)`,
			service:  "url: UP\n  path: /v1",
			wantPath: "/x",
		},
		{
			name:     "supabase's realtime service",
			source:   `supabase/supabase docker/volumes/api/kong.yml (realtime-v1-ws: url with protocol: ws)`,
			service:  "url: UP/socket\n  protocol: ws",
			wantPath: "/socket/x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := "_format_version: \"3.0\"\nservices:\n- name: s\n  " + strings.ReplaceAll(tt.service, "UP", up.URL) +
				"\n  routes:\n  - paths: [/svc]\n"
			gw := gwtest.Start(t, cfg, gwtest.Options{})
			resp, body := gw.Get("/svc/x")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d, body %s (source %s)", resp.StatusCode, body, tt.source)
			}
			if got := gwtest.DecodeSeen(t, body).Path; got != tt.wantPath {
				t.Errorf("upstream path %q, want %q (source %s)", got, tt.wantPath, tt.source)
			}
		})
	}
}

package kongcompat

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

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

// TestDeclWebSocketServiceProtocols: Kong Enterprise's `ws` and `wss`
// service protocols proxy WebSocket upgrades over plain and TLS upstream
// connections.
func TestDeclWebSocketServiceProtocols(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		c.Write(r.Context(), typ, append([]byte("echo:"), msg...))
	}
	plain := httptest.NewServer(http.HandlerFunc(echo))
	defer plain.Close()
	tlsUp := httptest.NewTLSServer(http.HandlerFunc(echo))
	defer tlsUp.Close()
	tests := []struct {
		protocol string
		up       *httptest.Server
		extra    string
	}{
		{"ws", plain, ""},
		{"wss", tlsUp, "\n  tls_verify: false"},
	}
	for _, tt := range tests {
		t.Run(tt.protocol, func(t *testing.T) {
			u, err := url.Parse(tt.up.URL)
			if err != nil {
				t.Fatal(err)
			}
			cfg := fmt.Sprintf("_format_version: \"3.0\"\nservices:\n- name: s\n  protocol: %s\n  host: %s\n  port: %s%s\n  routes:\n  - paths: [/ws]\n",
				tt.protocol, u.Hostname(), u.Port(), tt.extra)
			gw := gwtest.Start(t, cfg, gwtest.Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(gw.URL, "http")+"/ws", nil)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.CloseNow()
			if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.Read(ctx); err != nil || string(got) != "echo:hi" {
				t.Fatalf("read %q %v", got, err)
			}
		})
	}
}

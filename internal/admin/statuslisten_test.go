package admin

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestStatusHandlerServesOnlyStatusAndMetrics(t *testing.T) {
	var src Source
	f := newFixture(t, "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:1\n", func(s *Source) {
		s.Token = "secret"
		s.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "# metrics\n") })
		src = *s
	})
	// A rejected reload: its messages quote the configuration.
	f.loader.Apply([]byte("_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:1\n  password_colour: hunter2\n"), "test")
	h := StatusHandler(src)
	tests := []struct {
		name, method, path string
		status             int
		body               string // in the body
		notInBody          string
	}{
		{"status without token, any Host", "GET", "/status", 200, `"configuration_hash"`, "password_colour"},
		{"ready", "GET", "/status/ready", 200, "ready", ""},
		{"metrics", "GET", "/metrics", 200, "# metrics", ""},
		{"admin root", "GET", "/", 404, `{"message":"Not found"}`, ""},
		{"entities", "GET", "/services", 404, `{"message":"Not found"}`, ""},
		{"config", "GET", "/config", 404, `{"message":"Not found"}`, ""},
		{"config post", "POST", "/config", 404, `{"message":"Not found"}`, ""},
		{"status post", "POST", "/status", 405, "Method not allowed", ""},
		{"metrics post", "POST", "/metrics", 405, "Method not allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.Host = "monitoring.example.net"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != tt.status || !strings.Contains(body, tt.body) {
				t.Fatalf("%d %s, want %d with %s", rec.Code, body, tt.status, tt.body)
			}
			if tt.notInBody != "" && strings.Contains(body, tt.notInBody) {
				t.Fatalf("body shows %q: %s", tt.notInBody, body)
			}
		})
	}
	// The admin API itself still shows the reload's errors.
	if _, body, _ := f.do("GET", "/status", "", "Authorization", "Bearer secret"); !strings.Contains(fmt.Sprint(body["last_reload"]), "password_colour") {
		t.Fatalf("admin /status lost the reload errors: %v", body)
	}
}

package snapshot

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A plugin's own request reaches a target of a grpc service over HTTP/2,
// with the service's Host; other services, unknown ids and names are refused.
func TestUpstreamsRoundTrip(t *testing.T) {
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto+" "+r.Host+" "+r.URL.Path)
	}))
	up.Config.Protocols = new(http.Protocols)
	up.Config.Protocols.SetUnencryptedHTTP2(true)
	up.Start()
	defer up.Close()
	addr := strings.TrimPrefix(up.URL, "http://")
	src := `_format_version: "3.0"
services:
- name: g
  url: grpc://backend.internal:50051
- name: h
  url: http://` + addr + `
upstreams:
- name: backend.internal
  targets: [{target: "` + addr + `"}]
`
	s := compileH2(t, src, "", nil)
	var h Holder
	h.Store(s)
	u := Upstreams{Holder: &h}
	req, _ := http.NewRequest(http.MethodPost, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", nil)
	resp, err := u.RoundTrip(serviceByName(t, s, "g").Info.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := string(b); got != "HTTP/2.0 backend.internal:50051 /grpc.reflection.v1.ServerReflection/ServerReflectionInfo" {
		t.Errorf("upstream saw %q", got)
	}
	if _, err := u.RoundTrip(serviceByName(t, s, "h").Info.ID, req); !errors.Is(err, ErrNoHTTP) {
		t.Errorf("http service: %v", err)
	}
	if _, err := u.RoundTrip("nope", req); err == nil {
		t.Error("unknown service id answered")
	}
	// Plugins resolve names with plugin.Env.ServiceIDs, once.
	if _, err := u.RoundTrip("g", req); err == nil {
		t.Error("a service name answered as an id")
	}
}

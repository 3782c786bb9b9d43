package snapshot

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRouteAndServiceEntities: the entities handed to plugins are Kong's
// as its router reads them: defaults filled, unset fields (nulls) left out,
// also inside records, the service as {id}, the DB-less workspace, and the
// snapshot's time for the timestamps the file does not give.
func TestRouteAndServiceEntities(t *testing.T) {
	s, err := compile(t, `_format_version: "3.0"
services:
- name: svc
  url: http://upstream.test:8080/base
  routes:
  - name: r
    methods: [GET]
    created_at: 1700000000
`)
	if err != nil {
		t.Fatal(err)
	}
	decode := func(b []byte) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return m
	}
	r := s.Routes[0]
	created := float64(s.Created())
	if created == 0 {
		t.Fatal("no creation time")
	}
	want := map[string]any{
		"id": r.Info.ID, "name": "r", "methods": []any{"GET"}, "protocols": []any{"http", "https"},
		"https_redirect_status_code": float64(426), "strip_path": true, "preserve_host": false,
		"request_buffering": true, "response_buffering": true, "regex_priority": float64(0),
		"path_handling": "v0", "service": map[string]any{"id": r.Service.Info.ID},
		"created_at": float64(1700000000), "updated_at": created, "ws_id": kongWorkspaceID,
	}
	if diff := cmp.Diff(want, decode(r.Info.Entity.Bytes())); diff != "" {
		t.Errorf("route (-want +got):\n%s", diff)
	}
	want = map[string]any{
		"id": r.Service.Info.ID, "name": "svc", "protocol": "http", "host": "upstream.test", "port": float64(8080),
		"path": "/base", "retries": float64(5), "connect_timeout": float64(60000), "write_timeout": float64(60000),
		"read_timeout": float64(60000), "enabled": true, "created_at": created, "updated_at": created,
		"ws_id": kongWorkspaceID,
	}
	if diff := cmp.Diff(want, decode(r.Service.Info.Entity.Bytes())); diff != "" {
		t.Errorf("service (-want +got):\n%s", diff)
	}
	if got := withoutNulls(map[string]any{"a": nil, "s": []map[string]any{{"ip": nil, "port": 9000}}}); !cmp.Equal(got,
		map[string]any{"s": []map[string]any{{"port": 9000}}}) {
		t.Errorf("withoutNulls: %v", got)
	}
}

package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// GET /reloads lists the loads newest first: a rejected POST /config with
// its field paths between the start-up load and a good one.
func TestAdminReloads(t *testing.T) {
	f := newFixture(t, smallConfig, func(s *Source) { roleSource(s, nil) })
	auth := []string{"Authorization", "Bearer root-token"}
	bad := "_format_version: \"3.0\"\nroutes:\n- paths: [nope]\n"
	if code, body, _ := f.do(http.MethodPost, "/config", bad, append(auth, "Content-Type", "application/yaml")...); code != 400 {
		t.Fatalf("bad POST /config = %d %v", code, body)
	}
	if code, body, _ := f.do(http.MethodPost, "/config", newConfig, append(auth, "Content-Type", "application/yaml")...); code != 201 {
		t.Fatalf("good POST /config = %d %v", code, body)
	}
	// A read-only credential reads it.
	code, body, _ := f.do(http.MethodGet, "/reloads", "", "Authorization", "Bearer reader-token")
	if code != 200 {
		t.Fatalf("GET /reloads = %d %v", code, body)
	}
	data, _ := body["data"].([]any)
	if len(data) != 3 || body["total"] != 3.0 {
		t.Fatalf("data = %v", body)
	}
	good, rejected, start := data[0].(map[string]any), data[1].(map[string]any), data[2].(map[string]any)
	if good["trigger"] != "admin" || good["ok"] != true || good["configuration_hash"] != f.holder.Load().Hash ||
		good["at"] == nil || good["duration_ms"] == nil {
		t.Errorf("good load: %v", good)
	}
	errs, _ := rejected["errors"].([]any)
	if rejected["ok"] != false || len(errs) == 0 || !strings.HasPrefix(errs[0].(string), "routes[0].paths[0]: ") {
		t.Errorf("rejected load: %v", rejected)
	}
	if start["trigger"] != "startup" || start["ok"] != true {
		t.Errorf("start-up load: %v", start)
	}
	for _, e := range data {
		if _, has := e.(map[string]any)["store_version"]; has {
			t.Errorf("a load without a store names a store version: %v", e)
		}
	}
	// ?size= keeps the newest entries and still counts them all; a bad
	// size gets the lists' 400.
	code, body, _ = f.do(http.MethodGet, "/reloads?size=2", "", auth...)
	if sized, _ := body["data"].([]any); code != 200 || len(sized) != 2 || body["total"] != 3.0 ||
		sized[0].(map[string]any)["at"] != good["at"] || sized[1].(map[string]any)["at"] != rejected["at"] {
		t.Errorf("GET /reloads?size=2 = %d %v", code, body)
	}
	for q, msg := range map[string]string{"x": "size must be a number", "0": "size must be an integer between 1 and 1000"} {
		if code, body, _ := f.do(http.MethodGet, "/reloads?size="+q, "", auth...); code != 400 || body["message"] != msg {
			t.Errorf("GET /reloads?size=%s = %d %v", q, code, body)
		}
	}
	if code, _, _ := f.do(http.MethodGet, "/reloads", ""); code != 401 {
		t.Errorf("GET /reloads without a credential = %d", code)
	}
	if code, _, hdr := f.do(http.MethodPost, "/reloads", "", auth...); code != 405 || hdr.Get("Allow") != "GET" {
		t.Errorf("POST /reloads = %d", code)
	}
}

// Without a loader the list is empty, not null; the status listener,
// which shows no reload errors, does not serve it.
func TestAdminReloadsWithoutLoader(t *testing.T) {
	f := newFixture(t, smallConfig, func(s *Source) { s.Loader = nil })
	if got := f.get("/reloads")["data"]; got == nil || len(got.([]any)) != 0 {
		t.Errorf("data = %v", got)
	}
	rec := httptest.NewRecorder()
	StatusHandler(Source{Loader: f.loader}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/reloads", nil))
	if rec.Code != 404 {
		t.Errorf("status listener GET /reloads = %d", rec.Code)
	}
}

package admin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// walk follows a list's offsets (as go-kong does: it reads `offset`, not
// `next`) and returns every row and the number of pages.
func walk(t *testing.T, f *fixture, path string) ([]map[string]any, int) {
	t.Helper()
	var rows []map[string]any
	pages := 0
	next := path
	for next != "" {
		body := f.get(next)
		pages++
		for _, d := range body["data"].([]any) {
			rows = append(rows, d.(map[string]any))
		}
		off, _ := body["offset"].(string)
		if (off == "") != (body["next"] == nil) {
			t.Fatalf("GET %s: offset %q but next %v", next, off, body["next"])
		}
		next = ""
		if off != "" {
			u, _ := url.Parse(path)
			q := u.Query()
			q.Set("offset", off)
			u.RawQuery = q.Encode()
			next = u.String()
		}
		if pages > 100 {
			t.Fatalf("GET %s: no end", path)
		}
	}
	return rows, pages
}

// Kong's /tags (kong/api/routes/tags.lua, spec 04-admin_api/14-tags_spec):
// one row per entity and tag, /tags/{tag} the rows of one tag, ?tags=
// ignored, an invalid tag refused as an invalid primary key.
func TestAdminTags(t *testing.T) {
	f := newFixture(t, fullConfig(t), nil)
	all, _ := walk(t, f, "/tags")
	paged, pages := walk(t, f, "/tags?size=1")
	if len(all) < 8 || len(paged) != len(all) || pages != len(all) {
		t.Fatalf("%d rows, %d by pages of 1 in %d pages", len(all), len(paged), pages)
	}
	for i := range all {
		if all[i]["tag"] != paged[i]["tag"] || all[i]["entity_id"] != paged[i]["entity_id"] {
			t.Fatalf("row %d: %v, paged %v", i, all[i], paged[i])
		}
	}
	users, orders, alice := f.get("/services/users")["id"], f.get("/services/orders")["id"], f.get("/consumers/alice")["id"]
	if !slices.ContainsFunc(all, func(r map[string]any) bool {
		return r["tag"] == "gold" && r["entity_name"] == "consumers" && r["entity_id"] == alice
	}) {
		t.Errorf("no gold row for alice: %v", all)
	}
	public, _ := walk(t, f, "/tags/public")
	if len(public) != 2 || public[0]["entity_id"] != users || public[1]["entity_id"] != orders || public[0]["entity_name"] != "services" {
		t.Errorf("/tags/public = %v", public)
	}
	if got, _ := walk(t, f, "/tags/public?tags=not_a_tag&size=1"); len(got) != 2 {
		t.Errorf("/tags/public?tags= filtered: %v", got)
	}
	if got, _ := walk(t, f, "/tags?tags=invalid@tag"); len(got) != len(all) {
		t.Errorf("/tags?tags= filtered: %d rows", len(got))
	}
	if got, _ := walk(t, f, "/tags/does-not-exist"); len(got) != 0 {
		t.Errorf("/tags/does-not-exist = %v", got)
	}
	body := f.get("/tags/public?size=1")
	if body["next"] != "/tags/public?offset="+body["offset"].(string) {
		t.Errorf("next = %v", body["next"])
	}
	code, body, _ := f.do(http.MethodGet, "/tags/%FF", "")
	if code != 400 || body["message"] != `invalid primary key: '{tag="invalid utf-8 character sequence detected at position 1"}'` {
		t.Errorf("/tags/%%FF = %d %v", code, body)
	}
	code, body, _ = f.do(http.MethodGet, "/tags/a,b", "")
	if code != 400 || !strings.Contains(body["message"].(string), "invalid tag 'a,b'") {
		t.Errorf("/tags/a,b = %d %v", code, body)
	}
	if code, _, _ := f.do(http.MethodPost, "/tags", ""); code != 405 {
		t.Errorf("POST /tags = %d", code)
	}
}

// Kong's next (kong/api/endpoints.lua): /{kind}?offset=..&tags=..&size=..
// for a list; a nested list ignores ?tags= and its next has no size.
func TestAdminPagingNextAsKong(t *testing.T) {
	f := newFixture(t, fullConfig(t), nil)
	body := f.get("/services?tags=public&size=1")
	off := body["offset"].(string)
	if body["next"] != "/services?offset="+off+"&tags=public&size=1" {
		t.Errorf("next = %v", body["next"])
	}
	body = f.get("/services?size=1")
	if body["next"] != "/services?offset="+body["offset"].(string)+"&size=1" {
		t.Errorf("next = %v", body["next"])
	}
	// orders-up has two untagged targets; the nested list ignores the filter.
	body = f.get("/upstreams/orders-up/targets?tags=nothing-has-this&size=1")
	if len(body["data"].([]any)) != 1 || body["next"] != "/upstreams/orders-up/targets?offset="+body["offset"].(string) {
		t.Errorf("nested page = %v", body)
	}
	if rows, _ := walk(t, f, "/upstreams/orders-up/targets?tags=nothing-has-this&size=1"); len(rows) != 2 {
		t.Errorf("nested rows = %v", rows)
	}
	if body := f.get("/services"); body["next"] != nil || body["offset"] != nil {
		t.Errorf("last page = %v", body)
	}
}

// decK lists vaults, keys, key sets and filter chains on every dump and
// sync: Kong OSS's empty lists, its 400 while wasm is off, and 404 for
// the Enterprise ones.
func TestAdminAbsentEntities(t *testing.T) {
	f := newFixture(t, fullConfig(t), nil)
	for _, p := range []string{"/vaults?size=1000", "/keys?size=1000&tags=a,b", "/key-sets?size=1000"} {
		if body := f.get(p); len(body["data"].([]any)) != 0 || body["next"] != nil {
			t.Errorf("GET %s = %v", p, body)
		}
	}
	code, body, _ := f.do(http.MethodGet, "/filter-chains?size=1000", "")
	if code != 400 || body["message"] != "this endpoint is only available when wasm is enabled" {
		t.Errorf("/filter-chains = %d %v", code, body)
	}
	for _, p := range []string{"/consumer_groups?size=1000", "/partials?size=1000", "/licenses?size=1000", "/mtls-auths?size=1000"} {
		if code, _, _ := f.do(http.MethodGet, p, ""); code != 404 {
			t.Errorf("GET %s = %d", p, code)
		}
	}
}

// With a config store GET / says "postgres": entity writes work.
func TestAdminRootDatabaseWithStore(t *testing.T) {
	f := newWriteFixture(t)
	if conf := f.get("/")["configuration"].(map[string]any); conf["database"] != "postgres" {
		t.Errorf("configuration = %v", conf)
	}
}

// benchConfig has n services, each with two tags.
func benchConfig(n int) string {
	var b strings.Builder
	b.WriteString("_format_version: \"3.0\"\nservices:\n")
	for i := range n {
		fmt.Fprintf(&b, "- name: s%d\n  url: http://127.0.0.1:9\n  tags: [bench, t%d]\n", i, i%10)
	}
	return b.String()
}

// BenchmarkAdminListPage is decK's read of a list: one page of 1000 of
// 1000 services, filtered by a tag, then the last page of pages of 100.
func BenchmarkAdminListPage(b *testing.B) {
	f := newFixture(b, benchConfig(1000), nil)
	last := f.get("/services?size=100&offset=" + offsetToken(f.get("/services?size=1000")["data"].([]any)[900].(map[string]any)["id"].(string)))
	if len(last["data"].([]any)) != 100 {
		b.Fatalf("last page: %v", last)
	}
	for _, path := range []string{"/services?size=1000&tags=bench", "/services?size=100&offset=" + offsetToken(last["data"].([]any)[0].(map[string]any)["id"].(string))} {
		b.Run(path[:strings.IndexByte(path, '&')], func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				f.h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}

// BenchmarkAdminTags is a page of /tags and of /tags/{tag} over 1000
// services with two tags each, and the second page of /tags, whose offset
// is found by scanning the rows' keys.
func BenchmarkAdminTags(b *testing.B) {
	f := newFixture(b, benchConfig(1000), nil)
	second := "/tags?size=1000&offset=" + url.QueryEscape(fmt.Sprint(f.get("/tags?size=1000")["offset"]))
	for name, path := range map[string]string{"page": "/tags?size=1000", "tag": "/tags/t3", "second-page": second} {
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				f.h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}

package admin

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkSchemaPluginGet is a GET of a cached plugin schema through the
// whole admin handler: what decK costs per plugin it diffs.
func BenchmarkSchemaPluginGet(b *testing.B) {
	f := newFixture(b, smallConfig, nil)
	req := httptest.NewRequest(http.MethodGet, "/schemas/plugins/rate-limiting", nil)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatal(rec.Code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rec.Body.Reset()
		f.h.ServeHTTP(rec, req)
	}
}

// BenchmarkSchemaBuildAll builds and encodes every entity and plugin
// schema, as the first request for each does once per process.
func BenchmarkSchemaBuildAll(b *testing.B) {
	f := newFixture(b, smallConfig, nil)
	a := newAPI(Source{Registry: f.reg})
	b.ReportAllocs()
	for range b.N {
		c := &schemaCache{}
		for name, wk := range a.writes.kinds {
			c.get(name, func() any { return a.writes.entitySchema(wk) })
		}
		for _, name := range f.reg.Names() {
			reg, _ := f.reg.Lookup(name)
			c.get("plugins/"+name, func() any { return pluginSchema(reg) })
		}
	}
}

package admin

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// BenchmarkAdminWrite is one entity write (a PATCH) on a configuration of
// 1,000 services with a route each: export, edit, render, and the
// commit's parse and compile, which dominate.
func BenchmarkAdminWrite(b *testing.B) { benchWrite(b, false) }

// BenchmarkAdminWriteChecked is BenchmarkAdminWrite with the Check a
// store's commit makes before it stores (cli's storeCommit): the
// document is parsed and compiled twice, the check's compile a dry run
// that cannot be put in force.
func BenchmarkAdminWriteChecked(b *testing.B) { benchWrite(b, true) }

func benchWrite(b *testing.B, check bool) {
	var cfg strings.Builder
	cfg.WriteString("_format_version: \"3.0\"\nservices:\n")
	for i := range 1000 {
		fmt.Fprintf(&cfg, "- name: s%d\n  url: http://127.0.0.1:9/\n  routes: [{name: r%d, paths: [/p%d]}]\n", i, i, i)
	}
	var f *fixture
	f = newFixture(b, cfg.String(), func(src *Source) {
		src.Commit = func(data []byte, _, who string) (*snapshot.Snapshot, error) {
			if check {
				if _, err := f.loader.Check(func() ([]byte, error) { return data, nil }); err != nil {
					return nil, err
				}
			}
			return f.loader.TryApply(data, who)
		}
	})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		req := httptest.NewRequest("PATCH", "/services/s1", strings.NewReader(fmt.Sprintf(`{"retries": %d}`, i%10)))
		req.Header.Set("Content-Type", js)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

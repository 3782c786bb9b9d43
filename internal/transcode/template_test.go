package transcode

import (
	"strings"
	"testing"
)

// TestParseTemplate covers the templates of google/api/http.proto's comments and the grammar's
// corners.
func TestParseTemplate(t *testing.T) {
	tests := []struct {
		name    string
		tmpl    string
		segs    int
		vars    []string
		verb    string
		deep    bool
		wantErr string
	}{
		{name: "variable", tmpl: "/v1/{name=messages/*}", segs: 3, vars: []string{"name"}},
		{name: "plain variable", tmpl: "/v1/messages/{message_id}", segs: 3, vars: []string{"message_id"}},
		{name: "nested field", tmpl: "/v1/messages/{message_id}/{sub.subfield}", segs: 4, vars: []string{"message_id", "sub.subfield"}},
		{name: "deep variable", tmpl: "/v1/{name=shelves/*/books/**}", segs: 5, vars: []string{"name"}, deep: true},
		{name: "verb", tmpl: "/v1/{name=projects/*/topics/*}:publish", segs: 5, vars: []string{"name"}, verb: "publish"},
		{name: "verb after literal", tmpl: "/v1/users:batchGet", segs: 2, verb: "batchGet"},
		{name: "wildcards", tmpl: "/v1/*/x/**", segs: 4, deep: true},
		{name: "deep then verb", tmpl: "/v1/**:undelete", segs: 2, deep: true, verb: "undelete"},
		{name: "no leading slash", tmpl: "v1/users", wantErr: "must start with /"},
		{name: "empty", tmpl: "", wantErr: "must start with /"},
		{name: "root only", tmpl: "/", wantErr: "empty segment"},
		{name: "empty segment", tmpl: "/v1//users", wantErr: "unexpected '/'"},
		{name: "trailing slash", tmpl: "/v1/", wantErr: "empty segment"},
		{name: "deep not last", tmpl: "/v1/**/x", wantErr: "** must be the last segment"},
		{name: "deep in variable not last", tmpl: "/v1/{a=**}/x", wantErr: "** must be the last segment"},
		{name: "nested variables", tmpl: "/v1/{a={b}}", wantErr: "variables cannot nest"},
		{name: "unclosed variable", tmpl: "/v1/{a", wantErr: "not closed"},
		{name: "bad field path", tmpl: "/v1/{a..b}", wantErr: "invalid field path"},
		{name: "field path starts with digit", tmpl: "/v1/{1a}", wantErr: "invalid field path"},
		{name: "empty verb", tmpl: "/v1/x:", wantErr: "empty verb"},
		{name: "stray brace", tmpl: "/v1/x}", wantErr: "unexpected '}'"},
		{name: "verb then more", tmpl: "/v1/x:a/b", wantErr: "unexpected '/'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := parseTemplate(tt.tmpl)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tp.segs) != tt.segs || tp.verb != tt.verb || tp.deep != tt.deep || strings.Join(tp.vars, ",") != strings.Join(tt.vars, ",") {
				t.Errorf("got %d segs, verb %q, deep %v, vars %v", len(tp.segs), tp.verb, tp.deep, tp.vars)
			}
		})
	}
}

package responsetransformer

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func filter(in *Instance, h http.Header) http.Header {
	c := &plugin.Ctx{Resp: plugin.Response{Header: h}}
	in.HeaderFilter(c)
	return h
}

// The cases of Kong's 01-header_transformer_spec.lua.
func TestKongHeaderTransformerSpec(t *testing.T) {
	bodyRule := []string{"p1:v1"}
	tests := []struct {
		name     string
		cfg      *Config
		in, want http.Header
	}{
		{"remove all", &Config{Remove: Lists{Headers: []string{"h1", "h2", "h3"}}, Add: TypedLists{JSON: bodyRule}},
			http.Header{"H1": {"value1"}, "H2": {"value2a", "value2b"}}, http.Header{}},
		{"remove sets content-length nil", &Config{Remove: Lists{Headers: []string{"h1"}}, Add: TypedLists{JSON: bodyRule}},
			http.Header{"Content-Length": {"100"}, "Content-Type": {"application/json"}}, http.Header{"Content-Type": {"application/json"}}},
		{"rename", &Config{Rename: Lists{Headers: []string{"h1:h2", "h3:h4"}}},
			http.Header{"H1": {"v1"}, "H3": {"v3"}}, http.Header{"H2": {"v1"}, "H4": {"v3"}}},
		{"rename empty", &Config{Rename: Lists{Headers: []string{"h1:h2"}}},
			http.Header{"H1": {""}}, http.Header{"H2": {" "}}},
		{"rename absent", &Config{Rename: Lists{Headers: []string{"h1:h2"}}}, http.Header{}, http.Header{}},
		{"rename multiple values", &Config{Rename: Lists{Headers: []string{"h1:h2"}}},
			http.Header{"H1": {"v1", "v2"}}, http.Header{"H2": {"v1", "v2"}}},
		{"replace existing only", &Config{Replace: TypedLists{Headers: []string{"h1:v1", "h2:value:2"}}},
			http.Header{"H1": {"value1"}, "H2": {"value2a", "value2b"}}, http.Header{"H1": {"v1"}, "H2": {"value:2"}}},
		{"replace does not add", &Config{Replace: TypedLists{Headers: []string{"h1:v1", "h2:value:2"}}},
			http.Header{"H2": {"a", "b"}}, http.Header{"H2": {"value:2"}}},
		{"add when absent", &Config{Add: TypedLists{Headers: []string{"h2:v2"}}},
			http.Header{"H1": {"v1"}}, http.Header{"H1": {"v1"}, "H2": {"v2"}}},
		{"add not over existing", &Config{Add: TypedLists{Headers: []string{"h2:v2"}}},
			http.Header{"H1": {"v1"}, "H2": {"v3"}}, http.Header{"H1": {"v1"}, "H2": {"v3"}}},
		{"append new", &Config{Append: TypedLists{Headers: []string{"h1:v2"}}}, http.Header{}, http.Header{"H1": {"v2"}}},
		{"append existing", &Config{Append: TypedLists{Headers: []string{"h1:v2"}}},
			http.Header{"H1": {"v1"}}, http.Header{"H1": {"v1", "v2"}}},
		{"together", &Config{Remove: Lists{Headers: []string{"h1:v1"}}, Replace: TypedLists{Headers: []string{"h2:v3"}},
			Add: TypedLists{Headers: []string{"h3:v3"}}, Append: TypedLists{Headers: []string{"h3:v4"}}},
			http.Header{"H1": {"v1"}, "H2": {"v2"}}, http.Header{"H2": {"v3"}, "H3": {"v3", "v4"}}},
		{"json with charset drops length", &Config{Replace: TypedLists{JSON: []string{"p1:v1"}}},
			http.Header{"Content-Length": {"100"}, "Content-Type": {"application/json; charset=utf-8"}},
			http.Header{"Content-Type": {"application/json; charset=utf-8"}}},
		{"form keeps length", &Config{Replace: TypedLists{JSON: []string{"p1:v1"}}},
			http.Header{"Content-Length": {"100"}, "Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}},
			http.Header{"Content-Length": {"100"}, "Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}}},
		{"no json rule keeps length", &Config{Remove: Lists{Headers: []string{"h1"}}},
			http.Header{"Content-Length": {"100"}, "Content-Type": {"application/json"}},
			http.Header{"Content-Length": {"100"}, "Content-Type": {"application/json"}}},
		{"underscore is dash", &Config{Remove: Lists{Headers: []string{"x_foo"}}}, http.Header{"X-Foo": {"1"}}, http.Header{}},
		{"framing headers never set", &Config{Add: TypedLists{Headers: []string{"transfer-encoding:x", "content-length:1"}}},
			http.Header{}, http.Header{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := filter(build(t, tt.cfg), tt.in)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json":                                    true,
		"application/json; charset=utf-8":                     true,
		"application/problem+json":                            true,
		"Application/Problem+JSON; charset=utf-8":             true,
		"application/x-www-form-urlencoded, application/json": true,
		"application/x-www-form-urlencoded":                   false,
		"application/json;":                                   false,
		"text/json":                                           false,
		"application/+json":                                   true,
		`application/json; a="b;c"`:                           true,
		"":                                                    false,
	} {
		if got := isJSON(ct); got != want {
			t.Errorf("isJSON(%q) = %v", ct, got)
		}
	}
}

// The cases of Kong's 03-api_spec.lua, and Turnpike's refusals.
func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  *Config
		want plugin.Errors
	}{
		{"remove without colons", &Config{Remove: Lists{Headers: []string{"just_a_key"}, JSON: []string{"just_a_key"}}}, nil},
		{"rename with colons", &Config{Rename: Lists{Headers: []string{"x-request-id:x-custom-request-id"}, JSON: []string{"old_key:new_key"}}}, nil},
		{"rename missing colon", &Config{Rename: Lists{Headers: []string{"x-request-idx-custom-request-id"}}},
			plugin.Errors{{Path: "rename.headers[0]", Message: "invalid value: x-request-idx-custom-request-id"}}},
		{"rename invalid header", &Config{Rename: Lists{Headers: []string{"x-requ,est-id:x-custom-request-id"}}},
			plugin.Errors{{Path: "rename.headers[0]", Message: "'x-requ,est-id' is not a valid header"}}},
		{"rename invalid new header", &Config{Rename: Lists{Headers: []string{"a:b c"}}},
			plugin.Errors{{Path: "rename.headers[0]", Message: "'b c' is not a valid header"}}},
		{"add missing colon", &Config{Add: TypedLists{Headers: []string{"just_a_key"}}},
			plugin.Errors{{Path: "add.headers[0]", Message: "invalid value: just_a_key"}}},
		{"replace missing colon", &Config{Replace: TypedLists{Headers: []string{"just_a_key"}}},
			plugin.Errors{{Path: "replace.headers[0]", Message: "invalid value: just_a_key"}}},
		{"append missing colon", &Config{Append: TypedLists{Headers: []string{"just_a_key"}, JSON: []string{":x"}}},
			plugin.Errors{{Path: "append.headers[0]", Message: "invalid value: just_a_key"}, {Path: "append.json[0]", Message: "invalid value: :x"}}},
		{"json_types one of", &Config{Add: TypedLists{JSON: []string{"a:1"}, JSONTypes: []string{"integer"}}},
			plugin.Errors{{Path: "add.json_types[0]", Message: "expected one of: boolean, number, string"}}},
		{"control bytes refused", &Config{Add: TypedLists{Headers: []string{"x-a:b\r\nSet-Cookie: c"}}},
			plugin.Errors{{Path: "add.headers[0]", Message: "a header name or value may not hold control characters"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, plugin.Env{})
			var got plugin.Errors
			if err != nil && !errors.As(err, &got) {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("(-want +got)\n%s", d)
			}
		})
	}
}

func readBody(t *testing.T, in *Instance, h http.Header, body io.Reader) (string, http.Header) {
	t.Helper()
	c := &plugin.Ctx{Resp: plugin.Response{Header: h}}
	in.HeaderFilter(c)
	out, err := io.ReadAll(in.BodyFilter(c, body))
	if err != nil {
		t.Fatal(err)
	}
	return string(out), h
}

func TestBodyFilter(t *testing.T) {
	in := build(t, &Config{Remove: Lists{JSON: []string{"secret"}}})
	jsonH := func() http.Header {
		return http.Header{"Content-Type": {"application/json"}, "Content-Length": {"29"}}
	}
	body, h := readBody(t, in, jsonH(), iotest.OneByteReader(strings.NewReader(`{"secret":"x", "keep": [1,2]}`)))
	if body != `{"keep":[1,2]}` || h.Get("Content-Length") != "14" {
		t.Fatalf("got %q, Content-Length %q", body, h.Get("Content-Length"))
	}
	// Invalid JSON: unchanged, with its length.
	body, h = readBody(t, in, jsonH(), strings.NewReader(`{"secret":`))
	if body != `{"secret":` || h.Get("Content-Length") != "10" {
		t.Fatalf("got %q, Content-Length %q", body, h.Get("Content-Length"))
	}
	// Not JSON, or encoded: the reader itself streams through, with its
	// length.
	src := strings.NewReader(`{"secret":1}`)
	for _, hh := range []http.Header{{"Content-Type": {"text/plain"}, "Content-Length": {"12"}},
		{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}, "Content-Length": {"12"}}} {
		c := &plugin.Ctx{Resp: plugin.Response{Header: hh}}
		in.HeaderFilter(c)
		if r := in.BodyFilter(c, src); r != io.Reader(src) || hh.Get("Content-Length") != "12" {
			t.Errorf("%v: body wrapped or its length dropped", hh)
		}
	}
	// An identity JSON body is transformed even when a later header filter
	// (compression) has set a Content-Encoding by the time body filters
	// are built.
	c := &plugin.Ctx{Resp: plugin.Response{Header: jsonH()}}
	in.HeaderFilter(c)
	c.Resp.Header.Set("Content-Encoding", "zstd")
	out, _ := io.ReadAll(in.BodyFilter(c, strings.NewReader(`{"secret":"x","keep":1}`)))
	if string(out) != `{"keep":1}` {
		t.Errorf("behind compression: %q", out)
	}
	// No json rule: never wrapped.
	hdrOnly := build(t, &Config{Remove: Lists{Headers: []string{"x"}}})
	c = &plugin.Ctx{Resp: plugin.Response{Header: jsonH()}}
	hdrOnly.HeaderFilter(c)
	if r := hdrOnly.BodyFilter(c, src); r != io.Reader(src) {
		t.Error("body wrapped without a json rule")
	}
}

func TestBodyOverLimitStreamsUnchanged(t *testing.T) {
	in := build(t, &Config{Remove: Lists{JSON: []string{"a"}}})
	in.limit = 64
	big := `{"a":"` + strings.Repeat("x", 200) + `"}`
	body, h := readBody(t, in, http.Header{"Content-Type": {"application/json"}}, iotest.HalfReader(strings.NewReader(big)))
	if body != big || h.Get("Content-Length") != "" {
		t.Fatalf("got %d bytes, Content-Length %q", len(body), h.Get("Content-Length"))
	}
}

func TestBodyErrorPassesThrough(t *testing.T) {
	in := build(t, &Config{Remove: Lists{JSON: []string{"a"}}})
	boom := errors.New("boom")
	c := &plugin.Ctx{Resp: plugin.Response{Header: http.Header{"Content-Type": {"application/json"}}}}
	r := in.BodyFilter(c, io.MultiReader(strings.NewReader(`{"a":`), iotest.ErrReader(boom)))
	out, err := io.ReadAll(r)
	if !errors.Is(err, boom) || !bytes.Equal(out, []byte(`{"a":`)) {
		t.Fatalf("got %q, %v", out, err)
	}
}

package transcode

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzMatch throws arbitrary methods and paths at the matcher: it must never panic, every capture
// must be a piece of the path, and a match must build a request or fail with a client error.
func FuzzMatch(f *testing.F) {
	for _, seed := range []struct{ method, path string }{
		{"GET", "/v1/users/42"}, {"GET", "/v1/users/me"}, {"GET", "/v1/users/42:activate"},
		{"GET", "/v1/a%2Fb/c%20d"}, {"GET", "/v3/shelves/1/books/x/y"}, {"GET", "/v3/shelves/1/books"},
		{"HEAD", "/v1/users/9"}, {"GET", "/v1/"}, {"GET", "//"}, {"GET", "/v1/users/%zz"},
		{"GET", "/v1/users/:activate"}, {"GET", "/v1/path/s/1/2/3/4/5/6/7/8/9/10/1.5/2.5/true/AQI/RED"},
		{"GET", "/v1/wkt/n/2024-01-02T03:04:05Z/1s/7/a,b"}, {"POST", "/v1/all:ids"}, {"GET", "/:"},
	} {
		f.Add(seed.method, seed.path)
	}
	p, err := CompileSource(map[string]string{"p.proto": precedenceProto}, "p.proto")
	if err != nil {
		f.Fatal(err)
	}
	k := kitchenSet(f)
	f.Fuzz(func(t *testing.T, method, path string) {
		for _, s := range []*Set{p, k} {
			b, vars, ok := s.Match(method, path)
			if !ok {
				continue
			}
			for i := range vars.Len() {
				if !strings.Contains(path, vars.Raw(i)) {
					t.Fatalf("capture %q is not in %q", vars.Raw(i), path)
				}
			}
			wire, err := b.Request(nil, vars, "", nil)
			checkRequest(t, b, wire, err)
		}
	})
}

// FuzzRequest throws arbitrary query strings and bodies at the request builder of each body form.
func FuzzRequest(f *testing.F) {
	f.Add("/v1/all/x", "s=1&ids=2&ids=3&nested.child.name=n", `{"s":"a","i32":4}`)
	f.Add("/v1/all:nested", "s=q&colors=RED&colors=2&wi32=5", `{"name":"b","child":{"n":2}}`)
	f.Add("/v1/all:ids", "one=1&two=2", `[1,2,3]`)
	f.Add("/v1/all/%zz", "ts=2024-01-02T03:04:05Z&dur=1s&mask=a.b", `{"st":{"k":[1,"x",null]}}`)
	f.Add("/v1/all/y", "by=AQI%3D&%zz=1&b=true", `{"any":{"@type":"type.googleapis.com/kitchen.Nested","name":"x"}}`)
	f.Add("/v1/all:ids", "", `[1], "s": "x"`)
	f.Add("/v1/all/z", "labels=x&nested=y&u64=18446744073709551616", `{"labels":{"a":"b"},"times":["2024-01-02T03:04:05Z"]}`)
	s := kitchenSet(f)
	f.Fuzz(func(t *testing.T, path, query, body string) {
		b, vars, ok := s.Match("POST", path)
		if !ok {
			b, vars, _ = s.Match("GET", "/v1/all")
		}
		wire, err := b.Request(nil, vars, query, []byte(body))
		checkRequest(t, b, wire, err)
	})
}

func checkRequest(t *testing.T, b *Binding, wire []byte, err error) {
	t.Helper()
	if err != nil {
		if e, ok := err.(*Error); !ok || e.Status != 400 || e.Message == "" {
			t.Fatalf("error %v (%T), want an *Error with a 400", err, err)
		}
		return
	}
	if err := proto.Unmarshal(wire, b.Method.input.New().Interface()); err != nil {
		t.Fatalf("request bytes do not decode: %v", err)
	}
}

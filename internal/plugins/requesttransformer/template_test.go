package requesttransformer

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func TestMethod(t *testing.T) {
	tests := []accessCase{
		{
			name:   "GET to POST keeps the query",
			set:    func(c *Config) { c.HTTPMethod = str("POST") },
			target: "/request?hello=world&name=marco",
			want:   upstream{Method: "POST", RawQuery: "hello=world&name=marco"},
		},
		{
			name:   "POST to GET moves the form into the query",
			set:    func(c *Config) { c.HTTPMethod = str("GET") },
			method: "POST",
			target: "/request?hello=world",
			body:   "name=marco&hello=again",
			header: http.Header{"Content-Type": {form}},
			want: upstream{
				Method: "GET", RawQuery: "hello=world&hello=again&name=marco",
				Header: http.Header{"Content-Type": {form}}, Body: "name=marco&hello=again",
			},
		},
		{
			name:   "POST to HEAD with a JSON body leaves the query",
			set:    func(c *Config) { c.HTTPMethod = str("HEAD") },
			method: "POST",
			target: "/request?b=1&a=2",
			body:   `{"a":1}`,
			header: http.Header{"Content-Type": {jsn}},
			want:   upstream{Method: "HEAD", RawQuery: "b=1&a=2", Header: http.Header{"Content-Type": {jsn}}, Body: `{"a":1}`},
		},
		{
			name: "GET to POST with an added JSON body",
			set: func(c *Config) {
				c.HTTPMethod = str("POST")
				c.Add.Headers = []string{"Content-Type:application/json"}
				c.Add.Body = []string{"body:somecontent"}
			},
			want: upstream{Method: "POST", Header: http.Header{"Content-Type": {jsn}}, Body: `{"body":"somecontent"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runAccess(t, tt) })
	}
}

func TestTemplates(t *testing.T) {
	tests := []accessCase{
		{
			name: "captures as querystring parameters",
			set: func(c *Config) {
				c.Add.Querystring = []string{"uri_param1:$(uri_captures.user1)", "uri_param2[some_index][1]:$(uri_captures.user2)"}
			},
			target: "/requests/user1/foo/user2/bar?q1=20",
			capt:   userCaptures,
			want:   upstream{RawQuery: "q1=20&uri_param1=foo&uri_param2%5Bsome_index%5D%5B1%5D=bar"},
		},
		{
			name: "headers and query params",
			set: func(c *Config) {
				c.Add.Querystring = []string{"uri_param1:$(uri_captures.user1)", "uri_param2:$(headers.host)"}
				c.Add.Headers = []string{"x-test-header:$(query_params.q1)"}
				c.Remove.Querystring = []string{"q1"}
			},
			target: "/requests/user1/foo/user2/bar?q1=20",
			capt:   userCaptures,
			want:   upstream{RawQuery: "uri_param1=foo&uri_param2=test.test", Header: http.Header{"X-Test-Header": {"20"}}},
		},
		{
			name: "a removed header can be used",
			set: func(c *Config) {
				c.Replace.Querystring = []string{"q2:$(headers['x-remove-header'])"}
				c.Add.Querystring = []string{"q1:$(uri_captures.user1)"}
				c.Add.Headers = []string{"x-test-header:$(headers['x-remove-header'])"}
				c.Remove.Headers = []string{"x-remove-header"}
			},
			target: "/requests/user1/foo/user2/bar?q2=20",
			header: http.Header{"X-Remove-Header": {"its a test"}},
			capt:   userCaptures,
			want:   upstream{RawQuery: "q1=foo&q2=its%20a%20test", Header: http.Header{"X-Test-Header": {"its a test"}}},
		},
		{
			name: "a replaced header renders with its old value",
			set: func(c *Config) {
				c.Replace.Querystring = []string{"q2:$(headers['x-replace-header'])"}
				c.Replace.Headers = []string{"x-replace-header:the new value"}
				c.Add.Querystring = []string{"q1:$(uri_captures.user1)"}
				c.Add.Headers = []string{"x-test-header:$(headers['x-replace-header'])"}
			},
			target: "/requests/user1/foo/user2/bar?q2=20",
			header: http.Header{"X-Replace-Header": {"the old value"}},
			capt:   userCaptures,
			want: upstream{
				RawQuery: "q1=foo&q2=the%20old%20value",
				Header:   http.Header{"X-Replace-Header": {"the new value"}, "X-Test-Header": {"the old value"}},
			},
		},
		{
			name:   "query templates see headers edited earlier when nothing read them before",
			set:    func(c *Config) { c.Add.Headers = []string{"x-a:new"}; c.Add.Querystring = []string{"q:$(headers.x_a)"} },
			target: "/request",
			want:   upstream{RawQuery: "q=new", Header: http.Header{"X-A": {"new"}}},
		},
		{
			name:   "a template can be escaped as a literal",
			set:    func(c *Config) { c.Add.Querystring = []string{"q1:$('$(uri_captures.user1)')"} },
			target: "/requests/user1/foo/user2/bar?q2=20",
			capt:   userCaptures,
			want:   upstream{RawQuery: "q1=%24%28uri_captures.user1%29&q2=20"},
		},
		{
			name: "missing lookups render empty",
			set: func(c *Config) {
				c.Add.Querystring = []string{"a:x$(uri_captures.nothing)$(uri_captures[7])$(headers.none)$(query_params.none)y"}
			},
			target: "/request",
			want:   upstream{RawQuery: "a=xy"},
		},
		{
			name:   "a repeated header renders as Lua's tostring of a table",
			set:    func(c *Config) { c.Add.Headers = []string{"x-ua:$(headers[\"User-Agent\"])"} },
			header: http.Header{"User-Agent": {"a", "b"}},
			want:   upstream{Header: http.Header{"User-Agent": {"a", "b"}, "X-Ua": {tableText}}},
		},
		{
			name:   "a bare query argument renders as true",
			set:    func(c *Config) { c.Add.Querystring = []string{"b:$(query_params.a)"} },
			target: "/request?a",
			want:   upstream{RawQuery: "a&b=true"},
		},
		{
			name: "remove then add the same header",
			set: func(c *Config) {
				c.HTTPMethod = str("POST")
				c.Remove.Headers = []string{"Authorization"}
				c.Add.Headers = []string{"Authorization:Basic test"}
			},
			header: http.Header{"Authorization": {"Basic dGVzdDp0ZXN0"}, "Content-Type": {jsn}},
			want:   upstream{Method: "POST", Header: http.Header{"Authorization": {"Basic test"}, "Content-Type": {jsn}}},
		},
		{
			name: "remove then add a header the request lacks",
			set: func(c *Config) {
				c.Remove.Headers = []string{"Authorization"}
				c.Add.Headers = []string{"Authorization:Basic test"}
			},
			want: upstream{Header: http.Header{"Authorization": {"Basic test"}}},
		},
		{
			name: "case of configured names does not matter",
			set: func(c *Config) {
				c.Add.Headers = []string{"X-aDDed:a1", "x-aDDed2:b1"}
				c.Remove.Headers = []string{"X-To-Remove"}
				c.Append.Headers = []string{"X-aDDed:a2", "X-aDDed:a3"}
				c.Replace.Headers = []string{"x-to-Replace:false"}
			},
			header: http.Header{"X-To-Remove": {"true"}, "X-To-Replace": {"true"}},
			want:   upstream{Header: http.Header{"X-Added": {"a1", "a2", "a3"}, "X-Added2": {"b1"}, "X-To-Replace": {"false"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runAccess(t, tt) })
	}
}

func TestQueryUntouchedWithoutQueryOps(t *testing.T) {
	runAccess(t, accessCase{
		name:   "raw query preserved",
		set:    func(c *Config) { c.Add.Headers = []string{"x-a:1"} },
		target: "/request?expected=$&+,/:;?@",
		want:   upstream{RawQuery: "expected=$&+,/:;?@", Header: http.Header{"X-A": {"1"}}},
	})
}

func TestMultipartWithoutBoundary(t *testing.T) {
	in, err := build(t, func(c *Config) { c.Add.Body = []string{"p1:v1"} })
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Content-Type", "multipart/form-data")
	c := &plugin.Ctx{Req: r, Method: "POST", Path: "/"}
	if err := in.Access(c); err != nil {
		t.Fatal(err)
	}
	b := in.boundary
	if got, want := r.Header.Get("Content-Type"), "multipart/form-data; boundary="+b; got != want {
		t.Fatalf("content type %q, want %q", got, want)
	}
	body, _ := io.ReadAll(r.Body)
	want := "--" + b + "\r\nContent-Disposition: form-data; name=\"p1\"\r\n\r\nv1\r\n--" + b + "--\r\n"
	if string(body) != want || r.ContentLength != int64(len(want)) {
		t.Fatalf("body %q (%d), want %q", body, r.ContentLength, want)
	}
}

func TestBodyNotReadWithoutBodyOps(t *testing.T) {
	in, err := build(t, func(c *Config) { c.Add.Headers = []string{"x-a:1"}; c.Add.Querystring = []string{"q:1"} })
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/", bytes.NewReader([]byte("a=1")))
	r.Header.Set("Content-Type", form)
	orig := r.Body
	c := &plugin.Ctx{Req: r, Method: "POST", Path: "/"}
	if err := in.Access(c); err != nil {
		t.Fatal(err)
	}
	if r.Body != orig {
		t.Fatal("body replaced although no body transform is configured")
	}
}

func TestHeaderOnlyAllocations(t *testing.T) {
	in, err := build(t, func(c *Config) {
		c.Remove.Headers = []string{"x-remove"}
		c.Replace.Headers = []string{"x-replace:v"}
	})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	c := &plugin.Ctx{Req: r, Method: "GET", Path: "/"}
	if n := testing.AllocsPerRun(100, func() { _ = in.Access(c) }); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

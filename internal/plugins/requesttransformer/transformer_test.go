package requesttransformer

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// upstream is what the plugin leaves for the proxy.
type upstream struct {
	Method, Path, RawQuery, Host string
	Header                       http.Header
	Body                         string
	ContentLength                int64
}

const (
	form = "application/x-www-form-urlencoded"
	jsn  = "application/json"
)

var userCaptures = plugin.Captures{
	Positional: []string{"/requests/user1/foo/user2/bar", "foo", "bar"},
	Names:      []string{"", "user1", "user2"},
}

type accessCase struct {
	name   string
	set    func(*Config)
	method string
	target string
	body   string
	header http.Header
	capt   plugin.Captures
	// want fields left empty default to the request's own values;
	// ContentLength is always the length of Body.
	want    upstream
	wantErr bool
}

func runAccess(t *testing.T, tt accessCase) {
	t.Helper()
	in, err := build(t, tt.set)
	if err != nil {
		t.Fatal(err)
	}
	method, target := tt.method, tt.target
	if method == "" {
		method = "GET"
	}
	if target == "" {
		target = "/request"
	}
	var body io.Reader
	if tt.body != "" {
		body = strings.NewReader(tt.body)
	}
	r := httptest.NewRequest(method, target, body)
	r.Host = "test.test"
	for k, vs := range tt.header {
		r.Header[k] = vs
	}
	c := &plugin.Ctx{Req: r, Method: method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Captures: tt.capt}
	err = in.Access(c)
	if tt.wantErr {
		var e *plugin.Exit
		if err == nil || errors.As(err, &e) {
			t.Fatalf("got %v, want an internal error", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	host := c.Req.Host
	if c.UpstreamHost != "" {
		host = c.UpstreamHost
	}
	got := upstream{Method: c.Method, Path: c.Path, RawQuery: c.RawQuery, Host: host, Header: c.Req.Header, ContentLength: c.Req.ContentLength}
	if c.Req.Body != nil {
		b, _ := io.ReadAll(c.Req.Body)
		got.Body = string(b)
	}
	want := tt.want
	if want.Method == "" {
		want.Method = method
	}
	if want.Path == "" {
		want.Path = r.URL.EscapedPath()
	}
	if want.Host == "" {
		want.Host = "test.test"
	}
	if want.Header == nil {
		want.Header = http.Header{}
	}
	// The length must always describe the body the proxy will send.
	want.ContentLength = int64(len(want.Body))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("upstream request (-want +got):\n%s", diff)
	}
}

func TestAdd(t *testing.T) {
	route1 := func(c *Config) {
		c.Add = Lists{Headers: []string{"h1:v1", "h2:value:2"}, Querystring: []string{"q1:v1"}, Body: []string{"p1:v1"}}
	}
	tests := []accessCase{
		{
			name: "new headers and querystring",
			set:  route1,
			want: upstream{Header: http.Header{"H1": {"v1"}, "H2": {"value:2"}}, RawQuery: "q1=v1"},
		},
		{
			name:   "does not change an existing header",
			set:    route1,
			header: http.Header{"H1": {"v3"}},
			want:   upstream{Header: http.Header{"H1": {"v3"}, "H2": {"value:2"}}, RawQuery: "q1=v1"},
		},
		{
			name:   "new parameter in url encoded body",
			set:    route1,
			method: "POST",
			body:   "hello=world",
			header: http.Header{"Content-Type": {form}},
			want: upstream{
				Header: http.Header{"Content-Type": {form}, "H1": {"v1"}, "H2": {"value:2"}}, RawQuery: "q1=v1",
				Body: "hello=world&p1=v1",
			},
		},
		{
			name:   "does not change an existing url encoded parameter",
			set:    route1,
			method: "POST",
			body:   "p1=should+not+change&hello=world",
			header: http.Header{"Content-Type": {form}},
			want: upstream{
				Header: http.Header{"Content-Type": {form}, "H1": {"v1"}, "H2": {"value:2"}}, RawQuery: "q1=v1",
				Body: "p1=should+not+change&hello=world",
			},
		},
		{
			name:   "new parameter in JSON body",
			set:    route1,
			method: "POST",
			body:   `{"hello": "world"}`,
			header: http.Header{"Content-Type": {jsn}},
			want: upstream{
				Header: http.Header{"Content-Type": {jsn}, "H1": {"v1"}, "H2": {"value:2"}}, RawQuery: "q1=v1",
				Body: `{"hello":"world","p1":"v1"}`,
			},
		},
		{
			name:   "does not change an existing JSON parameter",
			set:    route1,
			method: "POST",
			body:   `{"p1":"this should not change","hello":"world"}`,
			header: http.Header{"Content-Type": {jsn}},
			want: upstream{
				Header: http.Header{"Content-Type": {jsn}, "H1": {"v1"}, "H2": {"value:2"}}, RawQuery: "q1=v1",
				Body: `{"p1":"this should not change","hello":"world"}`,
			},
		},
		{
			name:   "JSON false is replaced by add, as Lua sees it as absent",
			set:    route1,
			method: "POST",
			body:   `{"p1":false}`,
			header: http.Header{"Content-Type": {jsn}},
			want: upstream{
				Header: http.Header{"Content-Type": {jsn}, "H1": {"v1"}, "H2": {"value:2"}}, RawQuery: "q1=v1",
				Body: `{"p1":"v1"}`,
			},
		},
		{
			name:   "malformed JSON is left alone",
			set:    route1,
			method: "POST",
			body:   "malformed json body",
			header: http.Header{"Content-Type": {jsn}},
			want: upstream{
				Header: http.Header{"Content-Type": {jsn}, "H1": {"v1"}, "H2": {"value:2"}}, RawQuery: "q1=v1",
				Body: "malformed json body",
			},
		},
		{
			name:   "preserves an empty JSON array",
			set:    route1,
			method: "POST",
			body:   `{"emptyarray":[]}`,
			header: http.Header{"Content-Type": {jsn}},
			want: upstream{
				Header: http.Header{"Content-Type": {jsn}, "H1": {"v1"}, "H2": {"value:2"}}, RawQuery: "q1=v1",
				Body: `{"emptyarray":[],"p1":"v1"}`,
			},
		},
		{
			name:   "new parameter on multipart",
			set:    func(c *Config) { c.Add.Body = []string{"p1:v1"} },
			method: "POST",
			body:   "--B\r\nContent-Disposition: form-data; name=\"hello\"\r\n\r\nworld\r\n--B--\r\n",
			header: http.Header{"Content-Type": {"multipart/form-data; boundary=B"}},
			want: upstream{
				Header: http.Header{"Content-Type": {"multipart/form-data; boundary=B"}},
				Body: "--B\r\nContent-Disposition: form-data; name=\"hello\"\r\n\r\nworld\r\n" +
					"--B\r\nContent-Disposition: form-data; name=\"p1\"\r\n\r\nv1\r\n--B--\r\n",
			},
		},
		{
			name:   "does not change an existing multipart parameter",
			set:    func(c *Config) { c.Add.Body = []string{"p1:v1"} },
			method: "POST",
			body:   "--B\r\nContent-Disposition: form-data; name=\"p1\"\r\n\r\nthis should not change\r\n--B--\r\n",
			header: http.Header{"Content-Type": {"multipart/form-data; boundary=B"}},
			want: upstream{
				Header: http.Header{"Content-Type": {"multipart/form-data; boundary=B"}},
				Body:   "--B\r\nContent-Disposition: form-data; name=\"p1\"\r\n\r\nthis should not change\r\n--B--\r\n",
			},
		},
		{
			name:   "new querystring on GET",
			set:    route1,
			target: "/request?q2=v2",
			want:   upstream{Header: http.Header{"H1": {"v1"}, "H2": {"value:2"}}, RawQuery: "q1=v1&q2=v2"},
		},
		{
			name:   "does not change an existing querystring",
			set:    route1,
			target: "/request?q1=v2",
			want:   upstream{Header: http.Header{"H1": {"v1"}, "H2": {"value:2"}}, RawQuery: "q1=v2"},
		},
		{
			name: "does not change the host header",
			set:  func(c *Config) { c.Add.Headers = []string{"host:mark"} },
		},
		{
			name: "header without a value is a no-op",
			set:  func(c *Config) { c.Add.Headers = []string{"x-empty:"} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runAccess(t, tt) })
	}
}

func TestRemove(t *testing.T) {
	route4 := func(c *Config) {
		c.Remove = Lists{Headers: []string{"x-to-remove"}, Querystring: []string{"q1"}, Body: []string{"toremoveform"}}
	}
	tests := []accessCase{
		{
			name:   "specified header",
			set:    route4,
			header: http.Header{"X-To-Remove": {"true"}, "X-Another-Header": {"true"}},
			want:   upstream{Header: http.Header{"X-Another-Header": {"true"}}},
		},
		{
			name:   "parameters on url encoded form",
			set:    route4,
			method: "POST",
			body:   "toremoveform=yes&nottoremove=yes",
			header: http.Header{"Content-Type": {form}},
			want:   upstream{Header: http.Header{"Content-Type": {form}}, Body: "nottoremove=yes"},
		},
		{
			name:   "parameters from JSON body",
			set:    route4,
			method: "POST",
			body:   `{"toremoveform":"yes","nottoremove":"yes"}`,
			header: http.Header{"Content-Type": {jsn}},
			want:   upstream{Header: http.Header{"Content-Type": {jsn}}, Body: `{"nottoremove":"yes"}`},
		},
		{
			name:   "malformed JSON body",
			set:    route4,
			method: "POST",
			body:   "malformed json body",
			header: http.Header{"Content-Type": {jsn}},
			want:   upstream{Header: http.Header{"Content-Type": {jsn}}, Body: "malformed json body"},
		},
		{
			name:   "empty JSON object",
			set:    route4,
			method: "POST",
			body:   "{}",
			header: http.Header{"Content-Type": {jsn}},
			want:   upstream{Header: http.Header{"Content-Type": {jsn}}, Body: "{}"},
		},
		{
			name:   "empty body without content type",
			set:    route4,
			method: "POST",
		},
		{
			name:   "parameters on multipart",
			set:    route4,
			method: "POST",
			body: "--B\r\nContent-Disposition: form-data; name=\"toremoveform\"\r\n\r\nyes\r\n" +
				"--B\r\nContent-Disposition: form-data; name=\"nottoremove\"\r\nContent-Type: text/plain\r\n\r\nyes\r\n--B--\r\n",
			header: http.Header{"Content-Type": {"multipart/form-data; boundary=B"}},
			want: upstream{
				Header: http.Header{"Content-Type": {"multipart/form-data; boundary=B"}},
				Body:   "--B\r\nContent-Disposition: form-data; name=\"nottoremove\"\r\nContent-Type: text/plain\r\n\r\nyes\r\n--B--\r\n",
			},
		},
		{
			name:   "args on GET",
			set:    route4,
			target: "/request?q1=v1&q2=v2",
			want:   upstream{RawQuery: "q2=v2"},
		},
		{
			name:   "preserves an empty JSON array",
			set:    route4,
			method: "POST",
			body:   `{"emptyarray": [ ]}`,
			header: http.Header{"Content-Type": {jsn}},
			want:   upstream{Header: http.Header{"Content-Type": {jsn}}, Body: `{"emptyarray":[]}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runAccess(t, tt) })
	}
}

func TestRename(t *testing.T) {
	route9 := func(c *Config) {
		c.Rename = Lists{Headers: []string{"x-to-rename:x-is-renamed"}, Querystring: []string{"originalparam:renamedparam"}, Body: []string{"originalparam:renamedparam"}}
	}
	tests := []accessCase{
		{
			name:   "specified header",
			set:    route9,
			header: http.Header{"X-To-Rename": {"true"}, "X-Another-Header": {"true"}},
			want:   upstream{Header: http.Header{"X-Is-Renamed": {"true"}, "X-Another-Header": {"true"}}, RawQuery: ""},
		},
		{
			name:   "absent header is not added",
			set:    route9,
			header: http.Header{"X-A-Header": {"true"}},
			want:   upstream{Header: http.Header{"X-A-Header": {"true"}}},
		},
		{
			name:   "overrides an existing target header",
			set:    route9,
			header: http.Header{"X-To-Rename": {"new-result"}, "X-Is-Renamed": {"old-result"}},
			want:   upstream{Header: http.Header{"X-Is-Renamed": {"new-result"}}},
		},
		{
			name:   "url encoded body",
			set:    route9,
			method: "POST",
			body:   "originalparam=yes",
			header: http.Header{"Content-Type": {form}},
			want:   upstream{Header: http.Header{"Content-Type": {form}}, Body: "renamedparam=yes"},
		},
		{
			name:   "absent url encoded parameter",
			set:    route9,
			method: "POST",
			body:   "x-a-header=true",
			header: http.Header{"Content-Type": {form}},
			want:   upstream{Header: http.Header{"Content-Type": {form}}, Body: "x-a-header=true"},
		},
		{
			name:   "JSON body",
			set:    route9,
			method: "POST",
			body:   `{"originalparam":"yes","nottorename":"yes"}`,
			header: http.Header{"Content-Type": {jsn}},
			want:   upstream{Header: http.Header{"Content-Type": {jsn}}, Body: `{"nottorename":"yes","renamedparam":"yes"}`},
		},
		{
			name:   "multipart body",
			set:    route9,
			method: "POST",
			body: "--B\r\nContent-Disposition: form-data; name=\"originalparam\"\r\n\r\nyes\r\n" +
				"--B\r\nContent-Disposition: form-data; name=\"nottorename\"\r\n\r\nyes\r\n--B--\r\n",
			header: http.Header{"Content-Type": {"multipart/form-data; boundary=B"}},
			want: upstream{
				Header: http.Header{"Content-Type": {"multipart/form-data; boundary=B"}},
				Body: "--B\r\nContent-Disposition: form-data; name=\"nottorename\"\r\n\r\nyes\r\n" +
					"--B\r\nContent-Disposition: form-data; name=\"renamedparam\"\r\n\r\nyes\r\n--B--\r\n",
			},
		},
		{
			name:   "args on GET",
			set:    route9,
			target: "/request?originalparam=true&nottorename=true",
			want:   upstream{RawQuery: "nottorename=true&renamedparam=true"},
		},
		{
			name:   "does not override an existing value with nothing",
			set:    func(c *Config) { c.Rename.Querystring = []string{"inexist:exist"} },
			target: "/request?exist=true",
			want:   upstream{RawQuery: "exist=true"},
		},
		{
			name:   "renaming to the identical or case-changed name keeps the header",
			set:    func(c *Config) { c.Rename.Headers = []string{"rename:Rename", "identical:identical"} },
			header: http.Header{"Rename": {"true"}, "Identical": {"true"}},
			want:   upstream{Header: http.Header{"Rename": {"true"}, "Identical": {"true"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runAccess(t, tt) })
	}
}

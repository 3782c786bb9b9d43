package requesttransformer

import (
	"net/http"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func TestReplace(t *testing.T) {
	route5 := func(c *Config) {
		c.Replace.Headers = []string{"h1:v1"}
		c.Replace.Querystring = []string{"q1:v1"}
		c.Replace.Body = []string{"p1:v1"}
	}
	tests := []accessCase{
		{
			name:   "existing header",
			set:    route5,
			header: http.Header{"H1": {"V"}, "H2": {"v2"}},
			want:   upstream{Header: http.Header{"H1": {"v1"}, "H2": {"v2"}}},
		},
		{
			name:   "absent header is not added",
			set:    route5,
			header: http.Header{"H2": {"v2"}},
			want:   upstream{Header: http.Header{"H2": {"v2"}}},
		},
		{
			name:   "url encoded body",
			set:    route5,
			method: "POST",
			body:   "p1=v&p2=v1",
			header: http.Header{"Content-Type": {form}},
			want:   upstream{Header: http.Header{"Content-Type": {form}}, Body: "p1=v1&p2=v1"},
		},
		{
			name:   "absent url encoded parameter",
			set:    route5,
			method: "POST",
			body:   "p2=v1",
			header: http.Header{"Content-Type": {form}},
			want:   upstream{Header: http.Header{"Content-Type": {form}}, Body: "p2=v1"},
		},
		{
			name:   "JSON body",
			set:    route5,
			method: "POST",
			body:   `{"p1":"v","p2":"v1","emptyarray":[]}`,
			header: http.Header{"Content-Type": {jsn}},
			want:   upstream{Header: http.Header{"Content-Type": {jsn}}, Body: `{"p1":"v1","p2":"v1","emptyarray":[]}`},
		},
		{
			name:   "absent JSON parameter",
			set:    route5,
			method: "POST",
			body:   `{"p2":"v1"}`,
			header: http.Header{"Content-Type": {jsn}},
			want:   upstream{Header: http.Header{"Content-Type": {jsn}}, Body: `{"p2":"v1"}`},
		},
		{
			name:   "multipart body moves the replaced part last",
			set:    route5,
			method: "POST",
			body: "--B\r\nContent-Disposition: form-data; name=\"p1\"\r\n\r\nv\r\n" +
				"--B\r\nContent-Disposition: form-data; name=\"p2\"\r\n\r\nv1\r\n--B--\r\n",
			header: http.Header{"Content-Type": {"multipart/form-data; boundary=B"}},
			want: upstream{
				Header: http.Header{"Content-Type": {"multipart/form-data; boundary=B"}},
				Body: "--B\r\nContent-Disposition: form-data; name=\"p2\"\r\n\r\nv1\r\n" +
					"--B\r\nContent-Disposition: form-data; name=\"p1\"\r\n\r\nv1\r\n--B--\r\n",
			},
		},
		{
			name:   "args on POST",
			set:    route5,
			method: "POST",
			target: "/request?q1=v&q2=v2",
			body:   "hello=world",
			header: http.Header{"Content-Type": {form}},
			want:   upstream{Header: http.Header{"Content-Type": {form}}, RawQuery: "q1=v1&q2=v2", Body: "hello=world"},
		},
		{
			name:   "absent args are not added",
			set:    route5,
			method: "POST",
			target: "/request?q2=v2",
			body:   "hello=world",
			header: http.Header{"Content-Type": {form}},
			want:   upstream{Header: http.Header{"Content-Type": {form}}, RawQuery: "q2=v2", Body: "hello=world"},
		},
		{
			name: "host sets the upstream host",
			set:  func(c *Config) { c.Replace.Headers = []string{"host:upstream.test"} },
			want: upstream{Host: "upstream.test"},
		},
		{
			name: "uri with named captures",
			set: func(c *Config) {
				c.Replace.URI = str("/requests/user2/$(uri_captures.user2)/user1/$(uri_captures.user1)")
			},
			target: "/requests/user1/foo/user2/bar",
			capt:   userCaptures,
			want:   upstream{Path: "/requests/user2/bar/user1/foo"},
		},
		{
			name:   "uri with the whole match",
			set:    func(c *Config) { c.Replace.URI = str("/requests$(uri_captures[0])") },
			target: "/user1/foo/user2/bar",
			capt:   plugin.Captures{Positional: []string{"/user1/foo/user2/bar", "foo", "bar"}},
			want:   upstream{Path: "/requests/user1/foo/user2/bar"},
		},
		{
			name:   "uri with an optional capture left empty",
			set:    func(c *Config) { c.Replace.URI = str(`/api/v2/$(uri_captures["subpath"])`) },
			target: "/api/htest",
			capt:   plugin.Captures{Positional: []string{"/api/htest", "", "htest"}, Names: []string{"", "", "subpath"}, Unmatched: []bool{false, true, false}},
			want:   upstream{Path: "/api/v2/htest"},
		},
		{
			name: "uri escapes UTF-8",
			set:  func(c *Config) { c.Replace.URI = str("/requests/tést") },
			want: upstream{Path: "/requests/t%C3%A9st"},
		},
		{
			name:    "uri rendering to a relative path fails",
			set:     func(c *Config) { c.Replace.URI = str("$(uri_captures.nothing)") },
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runAccess(t, tt) })
	}
}

func TestAppend(t *testing.T) {
	route6 := func(c *Config) {
		c.Append = Lists{
			Headers:     []string{"h1:v1", "h1:v2", "h1:#value_with_hash", "h2:v1"},
			Querystring: []string{"q1:v1", "q1:v2", "q2:v1"},
			Body:        []string{"p1:v1", "p1:v2", "p2:value:1"},
		}
	}
	tests := []accessCase{
		{
			name: "new and repeated headers and args",
			set:  route6,
			want: upstream{Header: http.Header{"H1": {"v1", "v2", "#value_with_hash"}, "H2": {"v1"}}, RawQuery: "q1=v1&q1=v2&q2=v1"},
		},
		{
			name:   "values to existing headers and args",
			set:    route6,
			target: "/request?q1=v0",
			header: http.Header{"H2": {"v0"}},
			want:   upstream{Header: http.Header{"H1": {"v1", "v2", "#value_with_hash"}, "H2": {"v0", "v1"}}, RawQuery: "q1=v0&q1=v1&q1=v2&q2=v1"},
		},
		{
			name:   "new url encoded parameters",
			set:    route6,
			method: "POST",
			header: http.Header{"Content-Type": {form}},
			want: upstream{
				Header: http.Header{"Content-Type": {form}, "H1": {"v1", "v2", "#value_with_hash"}, "H2": {"v1"}}, RawQuery: "q1=v1&q1=v2&q2=v1",
				Body: "p1=v1&p1=v2&p2=value%3A1",
			},
		},
		{
			name:   "values to an existing url encoded parameter",
			set:    route6,
			method: "POST",
			body:   "p1=v0",
			header: http.Header{"Content-Type": {form}},
			want: upstream{
				Header: http.Header{"Content-Type": {form}, "H1": {"v1", "v2", "#value_with_hash"}, "H2": {"v1"}}, RawQuery: "q1=v1&q1=v2&q2=v1",
				Body: "p1=v0&p1=v1&p1=v2&p2=value%3A1",
			},
		},
		{
			name:   "JSON values",
			set:    route6,
			method: "POST",
			body:   `{"p1":"v0","p2":[1],"x":[]}`,
			header: http.Header{"Content-Type": {jsn}},
			want: upstream{
				Header: http.Header{"Content-Type": {jsn}, "H1": {"v1", "v2", "#value_with_hash"}, "H2": {"v1"}}, RawQuery: "q1=v1&q1=v2&q2=v1",
				Body: `{"p1":["v0","v1","v2"],"p2":[1,"value:1"],"x":[]}`,
			},
		},
		{
			name:   "multipart has no append",
			set:    route6,
			method: "POST",
			body:   "--B\r\nContent-Disposition: form-data; name=\"p1\"\r\n\r\nThis should not change\r\n--B--\r\n",
			header: http.Header{"Content-Type": {"multipart/form-data; boundary=B"}},
			want: upstream{
				Header:   http.Header{"Content-Type": {"multipart/form-data; boundary=B"}, "H1": {"v1", "v2", "#value_with_hash"}, "H2": {"v1"}},
				RawQuery: "q1=v1&q1=v2&q2=v1",
				Body:     "--B\r\nContent-Disposition: form-data; name=\"p1\"\r\n\r\nThis should not change\r\n--B--\r\n",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runAccess(t, tt) })
	}
}

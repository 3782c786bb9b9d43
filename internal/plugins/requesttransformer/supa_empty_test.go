package requesttransformer

import (
	"net/http"
	"testing"
)

// TestSupaEmptyHeaderValue: Kong hands each rendered header value to
// ngx.req.set_header, and lua-nginx-module's ngx_http_set_header_helper
// (src/ngx_http_lua_headers_in.c) removes every header of that name for an
// empty value and returns before adding one. A list (append) is set as its
// first element, then each further element added, even empty.
func TestSupaEmptyHeaderValue(t *testing.T) {
	tests := []accessCase{
		{name: "add of an empty value adds nothing",
			set: func(c *Config) { c.Add.Headers = []string{"x-n:$(headers.missing)", "x-e:"} }},
		{name: "replace with an empty value removes the header",
			set:    func(c *Config) { c.Replace.Headers = []string{"x-a:$(headers.missing)"} },
			header: http.Header{"X-A": {"1", "2"}, "X-K": {"k"}},
			want:   upstream{Header: http.Header{"X-K": {"k"}}}},
		{name: "append of an empty value to an absent header adds nothing",
			set: func(c *Config) { c.Append.Headers = []string{"x-b:$(headers.missing)"} }},
		{name: "append of an empty value to a present header sends it empty",
			set:    func(c *Config) { c.Append.Headers = []string{"x-b:$(headers.missing)"} },
			header: http.Header{"X-B": {"2"}},
			want:   upstream{Header: http.Header{"X-B": {"2", ""}}}},
		{name: "an empty replace still counts as present for add",
			set: func(c *Config) {
				c.Replace.Headers = []string{"x-a:$(headers.missing)"}
				c.Add.Headers = []string{"x-a:new"}
			},
			header: http.Header{"X-A": {"1"}}},
		{name: "append after an empty add keeps only the appended value",
			set: func(c *Config) {
				c.Add.Headers = []string{"x-n:$(headers.missing)"}
				c.Append.Headers = []string{"x-n:v"}
			},
			want: upstream{Header: http.Header{"X-N": {"v"}}}},
		{name: "a non-empty value is set as before",
			set:    func(c *Config) { c.Replace.Headers = []string{"x-a:$(headers.x_a .. '!')"} },
			header: http.Header{"X-A": {"1"}},
			want:   upstream{Header: http.Header{"X-A": {"1!"}}}},
		{name: "query string keeps an empty value",
			set:  func(c *Config) { c.Add.Querystring = []string{"q:$(headers.missing)"} },
			want: upstream{RawQuery: "q="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runAccess(t, tt) })
	}
}

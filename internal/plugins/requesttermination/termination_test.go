package requesttermination

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func str(s string) *string { return &s }

// build mirrors the loader: defaults first, then the user's values.
func build(t *testing.T, set func(*Config)) (plugin.Instance, error) {
	t.Helper()
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	if set != nil {
		set(cfg)
	}
	return reg.New(cfg, plugin.Env{})
}

func newCtx(method, target, body string, hdr map[string]string) *plugin.Ctx {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return &plugin.Ctx{Req: r, Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Scheme: "http"}
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "request-termination" || reg.Priority != 2 {
		t.Fatalf("got %q %d", reg.Name, reg.Priority)
	}
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	if diff := cmp.Diff(&Config{StatusCode: 503}, cfg); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want plugin.Errors
	}{
		{name: "valid status", set: func(c *Config) { c.StatusCode = 404 }},
		{name: "valid message", set: func(c *Config) { c.Message = str("Not found") }},
		{name: "valid content_type with body", set: func(c *Config) { c.ContentType = str("text/html"); c.Body = str("<h1>x</h1>") }},
		{name: "valid body", set: func(c *Config) { c.Body = str("<h1>x</h1>") }},
		{name: "valid trigger", set: func(c *Config) { c.Echo = true; c.Trigger = str("header_name") }},
		{name: "trigger without echo", set: func(c *Config) { c.Trigger = str("x-debug") }},
		{name: "empty strings are absent", set: func(c *Config) { c.Message = str("m"); c.Body = str(""); c.ContentType = str("") }},
		{
			name: "status below 100",
			set:  func(c *Config) { c.StatusCode = 99 },
			want: plugin.Errors{{Path: "status_code", Message: "value should be between 100 and 599"}},
		},
		{
			name: "status above 599",
			set:  func(c *Config) { c.StatusCode = 600 },
			want: plugin.Errors{{Path: "status_code", Message: "value should be between 100 and 599"}},
		},
		{
			name: "message with body",
			set:  func(c *Config) { c.Message = str("error"); c.Body = str("test") },
			want: plugin.Errors{{Path: "", Message: "message cannot be used with content_type or body"}},
		},
		{
			name: "message with body and content_type",
			set:  func(c *Config) { c.Message = str("error"); c.Body = str("test"); c.ContentType = str("text/html") },
			want: plugin.Errors{{Path: "", Message: "message cannot be used with content_type or body"}},
		},
		{
			name: "message with content_type",
			set:  func(c *Config) { c.Message = str("error"); c.ContentType = str("text/html") },
			want: plugin.Errors{{Path: "", Message: "message cannot be used with content_type or body"}},
		},
		{
			name: "content_type without body",
			set:  func(c *Config) { c.ContentType = str("text/html") },
			want: plugin.Errors{{Path: "", Message: "content_type requires a body"}},
		},
		{
			name: "echo with body and content_type",
			set:  func(c *Config) { c.Echo = true; c.ContentType = str("text/html"); c.Body = str("x") },
			want: plugin.Errors{{Path: "", Message: "echo cannot be used with content_type and body"}},
		},
		{
			name: "bad trigger",
			set:  func(c *Config) { c.Echo = true; c.Trigger = str("a b") },
			want: plugin.Errors{{Path: "trigger", Message: "bad header name 'a b', allowed characters are A-Z, a-z, 0-9, '_', and '-'"}},
		},
		{
			name: "empty trigger",
			set:  func(c *Config) { c.Trigger = str("") },
			want: plugin.Errors{{Path: "trigger", Message: "no header name provided"}},
		},
		{
			name: "several problems",
			set:  func(c *Config) { c.StatusCode = 42; c.ContentType = str("text/plain") },
			want: plugin.Errors{
				{Path: "status_code", Message: "value should be between 100 and 599"},
				{Path: "", Message: "content_type requires a body"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, tt.set)
			var got plugin.Errors
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("error %v is not plugin.Errors", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTerminate(t *testing.T) {
	tests := []struct {
		name   string
		set    func(*Config)
		target string
		header map[string]string
		want   *plugin.Exit
	}{
		{
			name: "default status code and message",
			want: &plugin.Exit{Status: 503, Body: []byte(`{"message":"Service unavailable"}`), ContentType: jsonContentType},
		},
		{
			name:   "a gRPC call gets the message as its gRPC message",
			header: map[string]string{"Content-Type": "application/grpc"},
			want:   &plugin.Exit{Status: 503, Message: "Service unavailable"},
		},
		{
			name: "status code with default message",
			set:  func(c *Config) { c.StatusCode = 404 },
			want: &plugin.Exit{Status: 404, Body: []byte(`{"message":"Not found"}`), ContentType: jsonContentType},
		},
		{
			name: "status code with custom message",
			set:  func(c *Config) { c.StatusCode = 406; c.Message = str("Invalid") },
			want: &plugin.Exit{Status: 406, Body: []byte(`{"message":"Invalid"}`), ContentType: jsonContentType},
		},
		{
			name: "message is JSON-escaped without HTML escaping",
			set:  func(c *Config) { c.Message = str(`say "<hi>" & go`) },
			want: &plugin.Exit{Status: 503, Body: []byte(`{"message":"say \"<hi>\" & go"}`), ContentType: jsonContentType},
		},
		{
			name: "empty message is still sent",
			set:  func(c *Config) { c.Message = str("") },
			want: &plugin.Exit{Status: 503, Body: []byte(`{"message":""}`), ContentType: jsonContentType},
		},
		{
			name: "status without default message has no body",
			set:  func(c *Config) { c.StatusCode = 418 },
			want: &plugin.Exit{Status: 418},
		},
		{
			name: "204 has no body",
			set:  func(c *Config) { c.StatusCode = 204 },
			want: &plugin.Exit{Status: 204},
		},
		{
			name: "default status code and body has no content type",
			set:  func(c *Config) { c.Body = str("<html><body><h1>Service is down for maintenance</h1></body></html>") },
			want: &plugin.Exit{
				Status: 503,
				Body:   []byte("<html><body><h1>Service is down for maintenance</h1></body></html>"),
			},
		},
		{
			name: "status code, content type and body",
			set: func(c *Config) {
				c.StatusCode = 451
				c.ContentType = str("text/html")
				c.Body = str("<html><body><h1>Service is down due to content infringement</h1></body></html>")
			},
			want: &plugin.Exit{
				Status:      451,
				Body:        []byte("<html><body><h1>Service is down due to content infringement</h1></body></html>"),
				ContentType: "text/html",
			},
		},
		{
			name: "JSON body sent as is",
			set:  func(c *Config) { c.Body = str(`{"code": 1, "message": "Service unavailable"}`) },
			want: &plugin.Exit{
				Status: 503,
				Body:   []byte(`{"code": 1, "message": "Service unavailable"}`),
			},
		},
		{
			name: "trigger absent lets the request through",
			set:  func(c *Config) { c.Trigger = str("x-stop") },
		},
		{
			name:   "trigger as header terminates",
			set:    func(c *Config) { c.Trigger = str("x-stop") },
			header: map[string]string{"X-Stop": ""},
			want:   &plugin.Exit{Status: 503, Body: []byte(`{"message":"Service unavailable"}`), ContentType: jsonContentType},
		},
		{
			name:   "trigger with underscore matches the hyphenated header",
			set:    func(c *Config) { c.Trigger = str("x_stop") },
			header: map[string]string{"X-Stop": "1"},
			want:   &plugin.Exit{Status: 503, Body: []byte(`{"message":"Service unavailable"}`), ContentType: jsonContentType},
		},
		{
			name:   "trigger with underscore matches the header spelt with it",
			set:    func(c *Config) { c.Trigger = str("x_stop") },
			header: map[string]string{"x_stop": "1"},
			want:   &plugin.Exit{Status: 503, Body: []byte(`{"message":"Service unavailable"}`), ContentType: jsonContentType},
		},
		{
			name:   "hyphenated trigger does not match the underscore header",
			set:    func(c *Config) { c.Trigger = str("x-stop") },
			header: map[string]string{"x_stop": "1"},
		},
		{
			name:   "trigger as bare query argument terminates",
			set:    func(c *Config) { c.Trigger = str("stop") },
			target: "/?a=1&stop",
			want:   &plugin.Exit{Status: 503, Body: []byte(`{"message":"Service unavailable"}`), ContentType: jsonContentType},
		},
		{
			name:   "trigger as escaped query argument terminates",
			set:    func(c *Config) { c.Trigger = str("stop-it") },
			target: "/?stop%2Dit=",
			want:   &plugin.Exit{Status: 503, Body: []byte(`{"message":"Service unavailable"}`), ContentType: jsonContentType},
		},
		{
			name:   "query argument names are case sensitive",
			set:    func(c *Config) { c.Trigger = str("stop") },
			target: "/?STOP=1&stopper=1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := build(t, tt.set)
			if err != nil {
				t.Fatal(err)
			}
			target := tt.target
			if target == "" {
				target = "/status/200"
			}
			err = in.(plugin.Accessor).Access(newCtx("GET", target, "", tt.header))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want the request to go through", err)
				}
				return
			}
			var got *plugin.Exit
			if !errors.As(err, &got) {
				t.Fatalf("got %v, want an Exit", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("exit (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEcho(t *testing.T) {
	host, _ := os.Hostname()
	kong := `{"kong":{"hostname":"` + host + `","worker_pid":` + strconv.Itoa(os.Getpid()) + `}`
	// The entities as the snapshot renders them (tested there).
	route := &plugin.RouteInfo{ID: "r1", Entity: plugin.NewRendered(func() []byte { return []byte(`{"id":"r1"}`) })}
	tests := []struct {
		name    string
		set     func(*Config)
		method  string
		target  string
		body    string
		header  map[string]string
		route   *plugin.RouteInfo
		service *plugin.ServiceInfo
		capt    plugin.Captures
		pass    bool
		want    string
	}{
		{
			name:   "echoes a request if no trigger is set",
			set:    func(c *Config) { c.Echo = true; c.StatusCode = 404 },
			target: "http://api9.request-termination.test/status/200?hello=there",
			body:   "cool body",
			route:  route,
			capt:   plugin.Captures{Positional: []string{"/status/200", "status"}, Names: []string{"", "parameter"}},
			want: kong + `,"matched_route":{"id":"r1"}` +
				`,"message":"Not found","request":{"headers":{"host":"api9.request-termination.test"},` +
				`"host":"api9.request-termination.test","method":"GET","path":"/status/200","port":80,` +
				`"query":{"hello":"there"},"raw_body":"cool body","scheme":"http",` +
				`"uri_captures":{"named":{"parameter":"status"},"unnamed":["status"]}}}`,
		},
		{
			// ngx.re.match gives false for a group that took no part.
			name:   "echo shows a group that took no part as false",
			set:    func(c *Config) { c.Echo = true; c.StatusCode = 404 },
			target: "/t",
			capt: plugin.Captures{Positional: []string{"/t", "", "", ""}, Names: []string{"", "", "", "tag"},
				Unmatched: []bool{false, true, true, true}},
			want: kong + `,"message":"Not found","request":{"headers":{"host":"example.com"},` +
				`"host":"example.com","method":"GET","path":"/t","port":80,"query":{},"raw_body":"","scheme":"http",` +
				`"uri_captures":{"named":{"tag":false},"unnamed":[false,false,false]}}}`,
		},
		{
			name: "does not echo if the trigger is set but absent",
			set:  func(c *Config) { c.Echo = true; c.Trigger = str("gimme-an-echo"); c.StatusCode = 404 },
			pass: true,
		},
		{
			name:    "echoes if the trigger is a header",
			set:     func(c *Config) { c.Echo = true; c.Trigger = str("gimme-an-echo"); c.StatusCode = 404 },
			target:  "http://api10.request-termination.test:8000/status/200?hello=there",
			header:  map[string]string{"Gimme-An-Echo": "anything will do"},
			service: &plugin.ServiceInfo{ID: "s1", Entity: plugin.NewRendered(func() []byte { return []byte(`{"id":"s1"}`) })},
			want: kong + `,"matched_service":{"id":"s1"}` +
				`,"message":"Not found","request":{"headers":{"gimme-an-echo":"anything will do","host":"api10.request-termination.test:8000"},` +
				`"host":"api10.request-termination.test","method":"GET","path":"/status/200","port":8000,` +
				`"query":{"hello":"there"},"raw_body":"","scheme":"http","uri_captures":{"named":{},"unnamed":[]}}}`,
		},
		{
			name:   "echoes if the trigger is a query argument",
			set:    func(c *Config) { c.Echo = true; c.Trigger = str("gimme-an-echo"); c.StatusCode = 404 },
			target: "/status/200?hello=there&gimme-an-echo=anything+will+do&flag&hello=again",
			want: kong + `,"message":"Not found","request":{"headers":{"host":"example.com"},` +
				`"host":"example.com","method":"GET","path":"/status/200","port":80,` +
				`"query":{"flag":true,"gimme-an-echo":"anything will do","hello":["there","again"]},"raw_body":"","scheme":"http",` +
				`"uri_captures":{"named":{},"unnamed":[]}}}`,
		},
		{
			name:   "echo parses a JSON body and repeats headers as arrays",
			set:    func(c *Config) { c.Echo = true; c.StatusCode = 418; c.Message = str("teapot") },
			method: "POST",
			target: "/x",
			body:   `{"a": [1, 2]}`,
			header: map[string]string{"Content-Type": "application/json"},
			want: kong + `,"message":"teapot","request":{"body":{"a":[1,2]},"headers":{"content-type":"application/json","host":"example.com"},` +
				`"host":"example.com","method":"POST","path":"/x","port":80,"query":{},"raw_body":"{\"a\": [1, 2]}","scheme":"http",` +
				`"uri_captures":{"named":{},"unnamed":[]}}}`,
		},
		{
			name:   "echo parses a form body and omits an absent message",
			set:    func(c *Config) { c.Echo = true; c.StatusCode = 200 },
			method: "POST",
			target: "/x",
			body:   "a=1&b=x%20y&a=2",
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			want: kong + `,"request":{"body":{"a":["1","2"],"b":"x y"},"headers":{"content-type":"application/x-www-form-urlencoded","host":"example.com"},` +
				`"host":"example.com","method":"POST","path":"/x","port":80,"query":{},"raw_body":"a=1&b=x%20y&a=2","scheme":"http",` +
				`"uri_captures":{"named":{},"unnamed":[]}}}`,
		},
		{
			name:   "echo parses a multipart body",
			set:    func(c *Config) { c.Echo = true },
			method: "POST",
			target: "/x",
			body:   "--XX\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--XX--\r\n",
			header: map[string]string{"Content-Type": "multipart/form-data; boundary=XX"},
			want: kong + `,"message":"Service unavailable","request":{"body":{"f":"v"},"headers":{"content-type":"multipart/form-data; boundary=XX","host":"example.com"},` +
				`"host":"example.com","method":"POST","path":"/x","port":80,"query":{},` +
				`"raw_body":"--XX\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--XX--\r\n","scheme":"http",` +
				`"uri_captures":{"named":{},"unnamed":[]}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := build(t, tt.set)
			if err != nil {
				t.Fatal(err)
			}
			method, target := tt.method, tt.target
			if method == "" {
				method = "GET"
			}
			if target == "" {
				target = "/status/200"
			}
			c := newCtx(method, target, tt.body, tt.header)
			c.Route, c.Service, c.Captures = tt.route, tt.service, tt.capt
			err = in.(plugin.Accessor).Access(c)
			if tt.pass {
				if err != nil {
					t.Fatalf("got %v, want the request to go through", err)
				}
				return
			}
			var got *plugin.Exit
			if !errors.As(err, &got) {
				t.Fatalf("got %v, want an Exit", err)
			}
			if got.ContentType != jsonContentType {
				t.Errorf("content type %q", got.ContentType)
			}
			if diff := cmp.Diff(tt.want, string(got.Body)); diff != "" {
				t.Fatalf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEchoPortFromLocalAddr(t *testing.T) {
	in, err := build(t, func(c *Config) { c.Echo = true })
	if err != nil {
		t.Fatal(err)
	}
	c := newCtx("GET", "/", "", nil)
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}
	c.Req = c.Req.WithContext(context.WithValue(c.Req.Context(), http.LocalAddrContextKey, addr))
	var e *plugin.Exit
	if !errors.As(in.(plugin.Accessor).Access(c), &e) {
		t.Fatal("no exit")
	}
	if !strings.Contains(string(e.Body), `"port":8443,`) {
		t.Fatalf("port missing in %s", e.Body)
	}
}

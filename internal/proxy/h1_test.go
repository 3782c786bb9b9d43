package proxy

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestReadHead(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		head      bool
		websocket bool
		want      upstreamHead
		header    http.Header
		wantErr   bool
	}{
		{
			name:   "content length",
			raw:    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
			want:   upstreamHead{status: 200, contentLength: 5},
			header: http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"5"}},
		},
		{
			name:   "chunked",
			raw:    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
			want:   upstreamHead{status: 200, contentLength: -1, chunked: true},
			header: http.Header{},
		},
		{name: "chunked with content length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", wantErr: true},
		{name: "chunked in HTTP/1.0", raw: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", wantErr: true},
		{
			name:   "status line without reason, value with tab and obs-text",
			raw:    "HTTP/1.1 200\r\nX-A: a\tb\xe9\r\nContent-Length: 0\r\n\r\n",
			want:   upstreamHead{status: 200, contentLength: 0},
			header: http.Header{"X-A": {"a\tb\xe9"}, "Content-Length": {"0"}},
		},
		{name: "space before colon", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n", wantErr: true},
		{name: "separator in name", raw: "HTTP/1.1 200 OK\r\nX(A): 1\r\n\r\n", wantErr: true},
		{name: "empty name", raw: "HTTP/1.1 200 OK\r\n: 1\r\n\r\n", wantErr: true},
		{name: "no colon", raw: "HTTP/1.1 200 OK\r\nX-A\r\n\r\n", wantErr: true},
		{name: "NUL in value", raw: "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n", wantErr: true},
		{name: "bare CR in value", raw: "HTTP/1.1 200 OK\r\nX-A: a\rSet-Cookie: x=1\r\n\r\n", wantErr: true},
		{name: "DEL in value", raw: "HTTP/1.1 200 OK\r\nX-A: a\x7f\r\n\r\n", wantErr: true},
		{name: "unknown version", raw: "HTTP/1.7 200 OK\r\n\r\n", wantErr: true},
		{name: "no space after status", raw: "HTTP/1.1 200OK\r\n\r\n", wantErr: true},
		{
			name:   "hop-by-hop and connection tokens removed",
			raw:    "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Keep: 2\r\nContent-Length: 0\r\n\r\n",
			want:   upstreamHead{status: 200, contentLength: 0},
			header: http.Header{"X-Keep": {"2"}, "Content-Length": {"0"}},
		},
		{
			name:   "connection close",
			raw:    "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
			want:   upstreamHead{status: 204, contentLength: 0, close: true},
			header: http.Header{},
		},
		{
			name:   "http/1.0 closes unless keep-alive",
			raw:    "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
			want:   upstreamHead{status: 200, contentLength: 0, close: true},
			header: http.Header{"Content-Length": {"0"}},
		},
		{
			name:   "interim 100 skipped",
			raw:    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
			want:   upstreamHead{status: 201, contentLength: 0},
			header: http.Header{"Content-Length": {"0"}},
		},
		{
			name:   "HEAD has no body whatever the length says",
			raw:    "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
			head:   true,
			want:   upstreamHead{status: 200, contentLength: 0},
			header: http.Header{"Content-Length": {"100"}},
		},
		{
			name:   "repeated headers and lower-case names",
			raw:    "HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nx-custom-thing:  v \r\nContent-Length: 0\r\n\r\n",
			want:   upstreamHead{status: 200, contentLength: 0},
			header: http.Header{"Set-Cookie": {"a=1", "b=2"}, "X-Custom-Thing": {"v"}, "Content-Length": {"0"}},
		},
		{
			name:      "websocket switch",
			raw:       "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Accept: x\r\n\r\n",
			websocket: true,
			want:      upstreamHead{status: 101, contentLength: -1, upgrade: true, websocket: true},
			header:    http.Header{"Sec-Websocket-Accept": {"x"}},
		},
		{name: "switch nobody asked for", raw: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", wantErr: true},
		{name: "switch without Upgrade", raw: "HTTP/1.1 101 Switching Protocols\r\n\r\n", websocket: true, wantErr: true},
		{name: "switch to another protocol", raw: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", websocket: true, wantErr: true},
		{
			name:   "field longer than the read buffer",
			raw:    "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 40000) + "\r\nContent-Length: 0\r\n\r\n",
			want:   upstreamHead{status: 200, contentLength: 0},
			header: http.Header{"X-Long": {strings.Repeat("a", 40000)}, "Content-Length": {"0"}},
		},
		{name: "head over the limit", raw: "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 70000) + "\r\n\r\n", wantErr: true},
		{name: "many fields over the limit", raw: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: "+strings.Repeat("a", 1000)+"\r\n", 70) + "\r\n", wantErr: true},
		{name: "interim flood", raw: strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", 3000) + "HTTP/1.1 204 No Content\r\n\r\n", wantErr: true},
		{name: "conflicting lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", wantErr: true},
		{name: "negative length", raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: true},
		{name: "signed length", raw: "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", wantErr: true},
		{name: "gzip then chunked is not re-framed", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", wantErr: true},
		{name: "unknown coding", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", wantErr: true},
		{name: "chunked twice in two fields", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", wantErr: true},
		{name: "chunked twice in one field", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", wantErr: true},
		{name: "chunked then gzip", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", wantErr: true},
		{name: "folded header", raw: "HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\n\r\n", wantErr: true},
		{name: "not http", raw: "SSH-2.0-OpenSSH\r\n\r\n", wantErr: true},
		{name: "bad status", raw: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: true},
		{name: "truncated", raw: "HTTP/1.1 200 OK\r\nContent-", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := http.Header{}
			head, err := readHead(bufio.NewReader(strings.NewReader(tt.raw)), dst, headRequest{noBody: tt.head, websocket: tt.websocket, maxBytes: DefaultMaxResponseHeaderBytes})
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error; head %+v", head)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, head, cmp.AllowUnexported(upstreamHead{}), cmpopts.IgnoreFields(upstreamHead{}, "budget")); diff != "" {
				t.Errorf("head (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.header, dst); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteHead(t *testing.T) {
	var sb strings.Builder
	bw := bufio.NewWriter(&sb)
	h := http.Header{"X-A": {"1", "2"}, "X-Evil": {"a\r\nInjected: yes"}, "Content-Length": {"99"}, "Expect": {"100-continue"},
		"Proxy-Authorization": {"Basic c2VjcmV0"}}
	writeHead(bw, "POST", "/p", "q=1", "up:8080", h, 12, "")
	bw.Flush()
	got := sb.String()
	for _, want := range []string{"POST /p?q=1 HTTP/1.1\r\nHost: up:8080\r\n", "X-A: 1\r\n", "X-A: 2\r\n", "Content-Length: 12\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in %q", want, got)
		}
	}
	for _, bad := range []string{"Injected", "99", "Expect", "Proxy-Authorization"} {
		if strings.Contains(got, bad) {
			t.Errorf("%q leaked into %q", bad, got)
		}
	}
	if !strings.HasSuffix(got, "\r\n\r\n") {
		t.Errorf("head not terminated: %q", got)
	}
}

func TestStripRequestHeaders(t *testing.T) {
	h := http.Header{
		"Connection":              {"keep-alive, X-Hop, Upgrade"},
		"Upgrade":                 {"websocket"},
		"X-Hop":                   {"1"},
		"Keep-Alive":              {"300"},
		"Te":                      {"trailers"},
		"Proxy-Authorization":     {"secret"},
		"X-Consumer-Id":           {"forged"},
		"X-Consumer-Username":     {"forged"},
		"X-Credential-Identifier": {"forged"},
		"X-Anonymous-Consumer":    {"true"},
		"X-Authenticated-Scope":   {"all"},
		"X-Consumers":             {"kept: not a prefix match"},
		"Authorization":           {"Bearer kept"},
	}
	upgrade := stripRequestHeaders(h, nil)
	if upgrade != "websocket" {
		t.Errorf("upgrade %q", upgrade)
	}
	// Proxy-Authorization stays for the plugins (basic-auth reads it);
	// writeHead never sends it upstream.
	want := http.Header{"X-Consumers": {"kept: not a prefix match"}, "Authorization": {"Bearer kept"}, "Proxy-Authorization": {"secret"}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Only WebSocket upgrades pass; an h2c upgrade loses Upgrade and
	// HTTP2-Settings, whether or not Connection names the latter.
	for _, up := range []string{"h2c", "websocket, h2c", "TLS/1.2"} {
		h := http.Header{"Connection": {"Upgrade"}, "Upgrade": {up}, "Http2-Settings": {"AAMAAABkAAQCAAAAAAIAAAAA"}}
		if got := stripRequestHeaders(h, nil); got != "" || len(h) != 0 {
			t.Errorf("Upgrade %q: upgrade %q, left %v", up, got, h)
		}
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name, accept string
		want         mediaType
	}{
		{name: "none", want: mediaJSON},
		{name: "html", accept: "text/html", want: mediaHTML},
		{name: "q wins", accept: "text/html;q=0.5, application/xml;q=0.9", want: mediaXML},
		{name: "text wildcard", accept: "text/*", want: mediaPlain},
		{name: "any", accept: "*/*", want: mediaJSON},
		{name: "unknown keeps json", accept: "image/png", want: mediaJSON},
		{name: "grpc wanted", accept: "application/grpc", want: mediaGRPC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			if got := negotiate(r); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if got := string(errorBody(mediaJSON, `say "hi"`, "id1")); got != "{\n  \"message\":\"say \\\"hi\\\"\",\n  \"request_id\":\"id1\"\n}" {
		t.Errorf("json body %q", got)
	}
}

// A cached field's value read again is the same string without an
// allocation; another value in its slot replaces it.
func TestHeadValueCache(t *testing.T) {
	_, group := commonKey([]byte("content-type"))
	if group == 0 {
		t.Fatal("Content-Type values are not cached")
	}
	a, b := []byte("text/plain"), []byte("text/plaiN")
	if v := headValue(group, a); v != "text/plain" {
		t.Fatal(v)
	}
	if n := testing.AllocsPerRun(100, func() { headValue(group, a) }); n != 0 {
		t.Errorf("%v allocations for a cached value", n)
	}
	for range 3 {
		if headValue(group, a) != "text/plain" || headValue(group, b) != "text/plaiN" {
			t.Fatal("wrong value from the cache")
		}
	}
	if _, g := commonKey([]byte("Set-Cookie")); g != 0 {
		t.Error("Set-Cookie values are cached")
	}
}

// Content-Length values below maxCachedLength each keep their own
// string: lengths that alternate cost nothing once seen.
func TestLengthValueCache(t *testing.T) {
	a, b := []byte("1234"), []byte("987")
	if lengthValue(1234, a) != "1234" || lengthValue(987, b) != "987" {
		t.Fatal("wrong value")
	}
	if n := testing.AllocsPerRun(100, func() { lengthValue(1234, a); lengthValue(987, b) }); n != 0 {
		t.Errorf("%v allocations for lengths seen before", n)
	}
	if lengthValue(70000, []byte("70000")) != "70000" {
		t.Fatal("wrong value past the cache")
	}
}

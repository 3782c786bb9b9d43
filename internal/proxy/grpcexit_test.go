package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

func grpcRequest(ct string, major int) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/pkg.Svc/Call", nil)
	r.ProtoMajor = major
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

// A native gRPC call gets the gateway's answers as trailers-only responses
// with Kong's codes; everything else keeps the HTTP answer.
func TestWriteExitGRPC(t *testing.T) {
	tests := []struct {
		name       string
		ct         string
		major      int
		exit       plugin.Exit
		wantStatus int
		wantCode   string
		wantMsg    string
		wantHeader http.Header
	}{
		{name: "no route", ct: "application/grpc", major: 2, exit: plugin.Exit{Status: 404, Message: msgNoRoute},
			wantStatus: 200, wantCode: "5", wantMsg: msgNoRoute},
		{name: "+proto", ct: "application/grpc+proto", major: 2, exit: plugin.Exit{Status: 401, Message: "No API key found in request"},
			wantStatus: 200, wantCode: "16", wantMsg: "No API key found in request"},
		{name: "params", ct: "application/grpc; charset=utf-8", major: 2, exit: plugin.Exit{Status: 403, Message: "You cannot consume this service"},
			wantStatus: 200, wantCode: "7", wantMsg: "You cannot consume this service"},
		{name: "rate limit keeps its headers", ct: "application/grpc", major: 2,
			exit:       plugin.Exit{Status: 429, Message: "API rate limit exceeded", Header: http.Header{"Retry-After": {"42"}, "Ratelimit-Remaining": {"0"}}},
			wantStatus: 200, wantCode: "8", wantMsg: "API rate limit exceeded", wantHeader: http.Header{"Retry-After": {"42"}, "Ratelimit-Remaining": {"0"}}},
		{name: "bad gateway", ct: "application/grpc", major: 2, exit: plugin.Exit{Status: 502, Message: msgBadGateway},
			wantStatus: 200, wantCode: "14", wantMsg: msgBadGateway},
		{name: "no peer", ct: "application/grpc", major: 2, exit: plugin.Exit{Status: 503, Message: msgNoPeer},
			wantStatus: 200, wantCode: "14", wantMsg: msgNoPeer},
		{name: "timeout", ct: "application/grpc", major: 2, exit: plugin.Exit{Status: 504, Message: msgTimeout},
			wantStatus: 200, wantCode: "4", wantMsg: msgTimeout},
		{name: "other 4xx", ct: "application/grpc", major: 2, exit: plugin.Exit{Status: 413, Message: msgTooLarge},
			wantStatus: 200, wantCode: "3", wantMsg: msgTooLarge},
		{name: "other 5xx", ct: "application/grpc", major: 2, exit: plugin.Exit{Status: 500, Message: msgUnexpected},
			wantStatus: 200, wantCode: "13", wantMsg: msgUnexpected},
		{name: "no message names the code", ct: "application/grpc", major: 2, exit: plugin.Exit{Status: 401},
			wantStatus: 200, wantCode: "16", wantMsg: "Unauthenticated"},
		{name: "plugin's grpc-status kept", ct: "application/grpc", major: 2,
			exit:       plugin.Exit{Status: 200, Message: "matched gRPCs route", Header: http.Header{"Grpc-Status": {"1"}}},
			wantStatus: 200, wantCode: "1", wantMsg: "matched gRPCs route"},
		{name: "message percent-encoded", ct: "application/grpc", major: 2, exit: plugin.Exit{Status: 503, Message: "100% down\nfür jetzt"},
			wantStatus: 200, wantCode: "14", wantMsg: "100%25 down%0Af%C3%BCr jetzt"},
		{name: "HTTP/1.1 keeps the status", ct: "application/grpc", major: 1, exit: plugin.Exit{Status: 426, Message: "Please use HTTP2 protocol"},
			wantStatus: 426, wantCode: "3", wantMsg: "Please use HTTP2 protocol"},
		{name: "grpc-web left as it was", ct: "application/grpc-web+proto", major: 2, exit: plugin.Exit{Status: 404, Message: msgNoRoute},
			wantStatus: 404, wantCode: "5", wantMsg: msgNoRoute},
		{name: "not gRPC", ct: "application/grpcx", major: 2, exit: plugin.Exit{Status: 404, Message: msgNoRoute},
			wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := grpcRequest(tt.ct, tt.major)
			n := writeExit(w, r, grpcKindOf(r), &tt.exit, "rid", make([]string, 1))
			res := w.Result()
			if res.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if got := res.Header.Get("Grpc-Status"); got != tt.wantCode {
				t.Errorf("grpc-status %q, want %q", got, tt.wantCode)
			}
			if got := res.Header.Get("Grpc-Message"); got != tt.wantMsg {
				t.Errorf("grpc-message %q, want %q", got, tt.wantMsg)
			}
			for k := range tt.wantHeader {
				if got := res.Header.Get(k); got != tt.wantHeader.Get(k) {
					t.Errorf("%s %q, want %q", k, got, tt.wantHeader.Get(k))
				}
			}
			if tt.wantCode == "" {
				if n == 0 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
					t.Errorf("not gRPC: %d body bytes, Content-Type %q", n, res.Header.Get("Content-Type"))
				}
				return
			}
			if n != 0 || w.Body.Len() != 0 || res.Header.Get("Content-Type") != "application/grpc" {
				t.Errorf("body %q (%d), Content-Type %q: want none and application/grpc", w.Body, n, res.Header.Get("Content-Type"))
			}
		})
	}
}

func TestGrpcKindOf(t *testing.T) {
	for _, c := range []struct {
		ct    string
		major int
		want  grpcKind
	}{
		{"", 2, notGRPC},
		{"application/json", 2, notGRPC},
		{"application/grpcx", 2, notGRPC},
		{"application/grpc", 2, grpcNative},
		{"application/grpc+proto", 3, grpcNative},
		{"application/grpc;charset=utf-8", 2, grpcNative},
		{"application/grpc", 1, grpcOther},
		{"application/grpc-web", 2, grpcOther},
		{"application/grpc-web-text+proto", 1, grpcOther},
	} {
		if got := grpcKindOf(grpcRequest(c.ct, c.major)); got != c.want {
			t.Errorf("%q over HTTP/%d: %d, want %d", c.ct, c.major, got, c.want)
		}
	}
}

// A body a plugin sends with a Content-Type (request-termination's body)
// goes out as it is, with its status, as Kong's exit sends it; a body
// without one is the gRPC message.
func TestWriteExitGRPCBody(t *testing.T) {
	w := httptest.NewRecorder()
	e := &plugin.Exit{Status: 451, Body: []byte("<h1>gone</h1>"), ContentType: "text/html"}
	writeExit(w, grpcRequest("application/grpc", 2), grpcNative, e, "rid", make([]string, 1))
	if w.Code != 451 || w.Body.String() != "<h1>gone</h1>" || w.Header().Get("Grpc-Status") != "" {
		t.Errorf("with Content-Type: got %d %q %v", w.Code, w.Body, w.Header())
	}
	w = httptest.NewRecorder()
	e = &plugin.Exit{Status: 451, Body: []byte("gone for good")}
	writeExit(w, grpcRequest("application/grpc", 2), grpcNative, e, "rid", make([]string, 1))
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Grpc-Status") != "3" || w.Header().Get("Grpc-Message") != "gone for good" {
		t.Errorf("without Content-Type: got %d %q %v", w.Code, w.Body, w.Header())
	}
}

// Through the handler on a real h2c server: the wire carries 200 and the
// gRPC status, the record keeps the status the gateway decided.
func TestGRPCExitThroughHandler(t *testing.T) {
	g := newTestGateway(t, grpcConfigUp, map[string]string{"T": deadAddr(t)}, nil)
	rec := make(recorder, 4)
	g.Handler.opts.Observers = []record.Observer{rec}

	cases := []struct {
		path, ct   string
		wire, kept int
		code, msg  string
	}{
		{path: "/pkg.Svc/Call", ct: "application/grpc", wire: 200, kept: 502, code: "14", msg: msgBadGateway},
		{path: "/pkg.Svc/Call", ct: "application/json", wire: 502, kept: 502},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodPost, g.URL+c.path, strings.NewReader("ping"))
		req.Header.Set("Content-Type", c.ct)
		resp, err := g.H2.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		r := rec.next(t)
		if resp.ProtoMajor != 2 || resp.StatusCode != c.wire || r.Status != c.kept {
			t.Errorf("%s: %s %d recorded %d, want HTTP/2 %d recorded %d", c.ct, resp.Proto, resp.StatusCode, r.Status, c.wire, c.kept)
		}
		if resp.Header.Get("Grpc-Status") != c.code || resp.Header.Get("Grpc-Message") != c.msg {
			t.Errorf("%s: grpc-status %q grpc-message %q", c.ct, resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message"))
		}
	}
}

// A gRPC response the upstream broke off ends with the gateway's status
// in trailers; other responses are left to be cut.
func TestEndGRPC(t *testing.T) {
	grpcCT := http.Header{"Content-Type": {"application/grpc+proto"}}
	for _, c := range []struct {
		name string
		r    *http.Request
		hdr  http.Header
		want bool
	}{
		{"native call", grpcRequest("application/grpc", 2), grpcCT, true},
		{"non-gRPC answer", grpcRequest("application/grpc", 2), http.Header{"Content-Type": {"text/html"}}, false},
		{"gRPC-Web", grpcRequest("application/grpc-web", 2), http.Header{"Content-Type": {"application/grpc-web"}}, false},
		{"HTTP/1.1", grpcRequest("application/grpc", 1), grpcCT, false},
	} {
		if got := grpcResponse(grpcKindOf(c.r), c.hdr); got != c.want {
			t.Errorf("%s: grpcResponse %v, want %v", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		err       error
		code, msg string
	}{
		{io.ErrUnexpectedEOF, "14", msgBadGateway},
		{os.ErrDeadlineExceeded, "4", msgTimeout},
	} {
		h := http.Header{}
		endGRPC(h, c.err)
		if h.Get(http.TrailerPrefix+"Grpc-Status") != c.code || h.Get(http.TrailerPrefix+"Grpc-Message") != c.msg {
			t.Errorf("%v: trailers %v, want %s %q", c.err, h, c.code, c.msg)
		}
	}
}

// toGRPC turns a REST request into a gRPC call upstream, rewriting the
// client's Content-Type as grpc-gateway does.
type toGRPC struct{}

func (toGRPC) Access(c *plugin.Ctx) error {
	c.Req.Header["Content-Type"] = []string{"application/grpc"}
	return nil
}

// A REST client whose request a plugin turned into a gRPC call still gets
// the HTTP error: the gateway goes by the Content-Type the client sent.
func TestGRPCExitGoesByTheClientsContentType(t *testing.T) {
	g := newTestGateway(t, grpcConfigUp, map[string]string{"T": deadAddr(t)}, nil)
	g.Snap.Routes[0].Chain = &snapshot.Chain{Access: []snapshot.Step{{Name: "to-grpc", Base: toGRPC{}}}}
	req, _ := http.NewRequest(http.MethodGet, g.URL+"/v1/users/42", nil)
	resp, err := g.H2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 502 || resp.Header.Get("Grpc-Status") != "" ||
		!strings.Contains(string(body), msgBadGateway) {
		t.Errorf("got %s %d %q %v, want the JSON 502", resp.Proto, resp.StatusCode, body, resp.Header)
	}
}

func BenchmarkWriteExitGRPC(b *testing.B) {
	r := grpcRequest("application/grpc", 2)
	e := &plugin.Exit{Status: 404, Message: msgNoRoute}
	w := &discardWriter{h: http.Header{}}
	clen := make([]string, 1)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		writeExit(w, r, grpcNative, e, "rid", clen)
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// denyPlugin answers every request as key-auth does without a key.
type denyPlugin struct{}

var denyExit = &plugin.Exit{Status: http.StatusUnauthorized, Message: "No API key found in request",
	Header: http.Header{"Www-Authenticate": {`Key realm="turnpike"`}}}

func (denyPlugin) Access(*plugin.Ctx) error { return denyExit }

// benchServeDenied is a request refused by a plugin through the whole
// handler, from a gRPC client (HTTP/2, application/grpc) or a JSON one.
func benchServeDenied(b *testing.B, grpc bool) {
	lh := benchHandler(b, "http://127.0.0.1:9", 0)
	lh.(*listenerHandler).h.snap.Load().Routes[0].Chain = &snapshot.Chain{Access: []snapshot.Step{{Name: "deny", Base: denyPlugin{}}}}
	req := httptest.NewRequest(http.MethodPost, "/pkg.Svc/Call", nil)
	want := http.StatusUnauthorized
	if grpc {
		req.ProtoMajor, req.ProtoMinor = 2, 0
		req.Header.Set("Content-Type", "application/grpc")
		want = http.StatusOK
	}
	b.ReportAllocs()
	for b.Loop() {
		r := req.Clone(req.Context())
		rr := httptest.NewRecorder()
		lh.ServeHTTP(rr, r)
		if rr.Code != want {
			b.Fatal(rr.Code, rr.Body.String())
		}
	}
}

func BenchmarkServeDeniedJSON(b *testing.B) { benchServeDenied(b, false) }
func BenchmarkServeDeniedGRPC(b *testing.B) { benchServeDenied(b, true) }

// A request body over the size limit on the HTTP/2 upstream path is the
// client's fault, as on the HTTP/1.1 path: 413 (INVALID_ARGUMENT to a gRPC
// call), not an upstream failure, and the target is not blamed for it.
func TestH2BodyTooLargeIsTheClients(t *testing.T) {
	up := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/grpc")
	})
	g := newTestGateway(t, grpcConfigUp, map[string]string{"T": up.Listener.Addr().String()}, nil)
	g.Handler.opts.MaxBodySize = 64
	rec := make(recorder, 4)
	g.Handler.opts.Observers = []record.Observer{rec}
	outcomes := make(chan upstream.Outcome, 4)
	g.target(t).State.SetObserver(func(_ *upstream.Target, o upstream.Outcome) { outcomes <- o })
	for _, c := range []struct {
		ct         string
		wire       int
		grpcStatus string
	}{
		{"application/octet-stream", 413, ""},
		{"application/grpc", 200, "3"},
	} {
		// No Content-Length: the limit is found while the body streams.
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/pkg.Svc/Call", io.MultiReader(strings.NewReader(strings.Repeat("x", 200))))
		req.Header.Set("Content-Type", c.ct)
		resp, err := g.H2.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		r := rec.next(t)
		if resp.StatusCode != c.wire || resp.Header.Get("Grpc-Status") != c.grpcStatus || r.Status != 413 {
			t.Errorf("%s: %d grpc-status %q recorded %d, want %d %q recorded 413", c.ct, resp.StatusCode, resp.Header.Get("Grpc-Status"), r.Status, c.wire, c.grpcStatus)
		}
		select {
		case o := <-outcomes:
			if o.TCPFailure || o.Timeout || o.Status != 0 {
				t.Errorf("%s: the target is blamed: %+v", c.ct, o)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the attempt never ended", c.ct)
		}
	}
}

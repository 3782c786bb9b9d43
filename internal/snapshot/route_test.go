package snapshot

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/router"
)

func TestRouterRouteSortsHeaders(t *testing.T) {
	got := RouterRoute("id-1", &config.Route{
		Paths: []string{"/a"}, Hosts: []string{"h"}, Methods: []string{"GET"}, SNIs: []string{"s"}, RegexPriority: 3,
		Headers: map[string][]string{"x-b": {"2"}, "x-a": {"1", "~*^x"}},
	})
	want := router.Route{
		ID: "id-1", Paths: []string{"/a"}, Hosts: []string{"h"}, Methods: []string{"GET"}, SNIs: []string{"s"}, RegexPriority: 3,
		Headers: []router.Header{{Name: "x-a", Values: []string{"1", "~*^x"}}, {Name: "x-b", Values: []string{"2"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RouterRoute = %+v, want %+v", got, want)
	}
}

func TestProtocolExit(t *testing.T) {
	useHTTPS := &plugin.Exit{Status: 426, Message: "Please use HTTPS protocol",
		Header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"TLS/1.2, HTTP/1.1"}}}
	useHTTP2 := &plugin.Exit{Status: 426, Message: "Please use HTTP2 protocol",
		Header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"HTTP/2"}}}
	httpsOnly := &Route{HTTPS: true, HTTPSRedirectStatus: 426}
	redirect := &Route{HTTPS: true, HTTPSRedirectStatus: 308}
	tests := []struct {
		name         string
		route        *Route
		http2, https bool
		trusted      bool
		header       []string // name, value pairs
		want         Protocol
		wantExit     *plugin.Exit
	}{
		{name: "http and https", route: &Route{HTTP: true, HTTPS: true}},
		{name: "https-only over https", route: httpsOnly, https: true},
		{name: "https-only over http", route: httpsOnly, want: ProtocolUseHTTPS, wantExit: useHTTPS},
		{name: "https-only, unset redirect status", route: &Route{HTTPS: true}, want: ProtocolUseHTTPS, wantExit: useHTTPS},
		{name: "X-Forwarded-Proto from an untrusted client", route: httpsOnly, header: []string{"X-Forwarded-Proto", "https"},
			want: ProtocolUseHTTPS, wantExit: useHTTPS},
		{name: "X-Forwarded-Proto from a trusted client", route: httpsOnly, trusted: true, header: []string{"X-Forwarded-Proto", "https"}},
		{name: "redirect", route: redirect, want: ProtocolRedirect,
			wantExit: &plugin.Exit{Status: 308, Message: "Permanent Redirect", Header: http.Header{"Location": {"https://api.example.com/p?q=1"}}}},
		{name: "redirect to a trusted X-Forwarded-Host", route: redirect, trusted: true, header: []string{"X-Forwarded-Host", "edge.example.com"},
			want:     ProtocolRedirect,
			wantExit: &plugin.Exit{Status: 308, Message: "Permanent Redirect", Header: http.Header{"Location": {"https://edge.example.com/p?q=1"}}}},
		{name: "gRPC over HTTP/1.1", route: &Route{GRPC: true}, want: ProtocolUseHTTP2, wantExit: useHTTP2},
		{name: "gRPC over HTTP/2", route: &Route{GRPC: true}, http2: true},
		{name: "grpcs over plain HTTP/2", route: &Route{GRPCS: true}, http2: true, want: ProtocolUseHTTPS, wantExit: useHTTPS},
		{name: "gRPC call to grpcs over plain HTTP/2", route: &Route{GRPCS: true}, http2: true, header: []string{"Content-Type", "application/grpc+proto"},
			want: ProtocolUseHTTPS, wantExit: &plugin.Exit{Status: 200, Message: MsgGRPCOverPlain, Header: http.Header{"Grpc-Status": {"1"}}}},
		{name: "grpcs over HTTP/1.1 needs HTTP/2 first", route: &Route{GRPCS: true}, https: true, want: ProtocolUseHTTP2, wantExit: useHTTP2},
		{name: "grpc and http", route: &Route{GRPC: true, HTTP: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/p?q=1", nil)
			r.Host = "api.example.com"
			if tc.http2 {
				r.ProtoMajor, r.ProtoMinor = 2, 0
			}
			for i := 0; i+1 < len(tc.header); i += 2 {
				r.Header.Set(tc.header[i], tc.header[i+1])
			}
			if got := tc.route.CheckProtocol(tc.http2, tc.https, tc.trusted, r.Header); got != tc.want {
				t.Errorf("CheckProtocol = %d, want %d", got, tc.want)
			}
			if got := tc.route.ProtocolExit(r, tc.https, tc.trusted); !reflect.DeepEqual(got, tc.wantExit) {
				t.Errorf("ProtocolExit = %+v, want %+v", got, tc.wantExit)
			}
		})
	}
}

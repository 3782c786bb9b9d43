package explain

import (
	"net/http"
	"slices"
	"testing"
)

// The notes and status on a route's protocols are the proxy's decision
// (snapshot.Route.CheckProtocol) put in words.
func TestProtocolNotes(t *testing.T) {
	snap := compile(t, `
_format_version: "3.0"
services:
- name: g
  url: grpc://g.internal:9000
  routes:
  - {name: grpc, protocols: [grpc, grpcs], paths: [/g]}
  - {name: grpcs, protocols: [grpcs], paths: [/gs]}
- name: h
  url: http://h.internal:8080
  routes:
  - {name: secure, protocols: [https], paths: [/s]}
  - {name: both, protocols: [http, https], paths: [/b]}
`)
	const (
		grpcNote  = `gRPC route: an HTTP/1.x request gets 426 "Please use HTTP2 protocol"`
		grpcsNote = `grpcs-only route over plain HTTP/2: the proxy answers 426 "Please use HTTPS protocol", a gRPC call grpc-status 1 "gRPC request matched gRPCs route"`
		httpsNote = `https-only route over http: the proxy answers 426 "Please use HTTPS protocol"`
		xfpNote   = "X-Forwarded-Proto: https lets the request through only when the client address is in --trusted-ips"
	)
	xfp := http.Header{"X-Forwarded-Proto": {"https"}}
	tests := []struct {
		url    string
		header http.Header
		status int
		notes  []string // the notes before the one on the upstream URL
	}{
		{url: "http://x/g", notes: []string{grpcNote}},
		{url: "http://x/gs", status: 426, notes: []string{grpcNote, grpcsNote}},
		{url: "https://x/gs", notes: []string{grpcNote}},
		{url: "http://x/gs", header: xfp, status: 426, notes: []string{grpcNote, grpcsNote}},
		{url: "http://x/s", status: 426, notes: []string{httpsNote}},
		{url: "http://x/s", header: xfp, status: 426, notes: []string{httpsNote, xfpNote}},
		{url: "https://x/s"},
		{url: "http://x/b"},
	}
	for _, tc := range tests {
		r, err := Explain(snap, Request{URL: tc.url, Header: tc.header})
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if r.Status != tc.status {
			t.Errorf("%s %v: status %d, want %d", tc.url, tc.header, r.Status, tc.status)
		}
		if len(r.Notes) < len(tc.notes) || !slices.Equal(r.Notes[:len(tc.notes)], tc.notes) {
			t.Errorf("%s %v: notes %q, want first %q", tc.url, tc.header, r.Notes, tc.notes)
			continue
		}
		for _, n := range r.Notes[len(tc.notes):] {
			for _, p := range []string{grpcNote, grpcsNote, httpsNote, xfpNote} {
				if n == p {
					t.Errorf("%s %v: unexpected note %q in %q", tc.url, tc.header, n, r.Notes)
				}
			}
		}
	}
}

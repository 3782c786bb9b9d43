package server

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseListens(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Listen
		wantErr bool
	}{
		{name: "kong default", in: "0.0.0.0:8000, 0.0.0.0:8443 ssl", want: []Listen{{Addr: "0.0.0.0:8000"}, {Addr: "0.0.0.0:8443", TLS: true}}},
		{name: "h2c", in: "127.0.0.1:8000 http2", want: []Listen{{Addr: "127.0.0.1:8000", H2C: true}}},
		{name: "ssl http2 is TLS with ALPN", in: "[::1]:8443 ssl http2", want: []Listen{{Addr: "[::1]:8443", TLS: true}}},
		{name: "ssl http3", in: "0.0.0.0:8443 ssl http3", want: []Listen{{Addr: "0.0.0.0:8443", TLS: true, H3: true}}},
		{name: "ssl http2 http3", in: "0.0.0.0:8443 http3 http2 ssl, 127.0.0.1:8000", want: []Listen{{Addr: "0.0.0.0:8443", TLS: true, H3: true}, {Addr: "127.0.0.1:8000"}}},
		{name: "http3 without ssl", in: "0.0.0.0:8443 http3", wantErr: true},
		{name: "http2 http3 without ssl", in: "0.0.0.0:8443 http2 http3", wantErr: true},
		{name: "off", in: "off", want: nil},
		{name: "empty", in: "", want: nil},
		{name: "no port", in: "127.0.0.1", wantErr: true},
		{name: "unknown flag", in: "127.0.0.1:80 proxy_protocol", wantErr: true},
		{name: "empty item", in: "127.0.0.1:80,,", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseListens(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

package grpcweb

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.proto")
	if err := os.WriteFile(bad, []byte("syntax = \"proto3\";\nmessage M { strin x = 1; }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		path string
		msg  *regexp.Regexp
	}{
		{"proto that does not compile", Config{Proto: bad, AllowOriginHeader: "*"}, "proto", regexp.MustCompile(`bad\.proto:2:\d+: .*strin`)},
		{"missing proto", Config{Proto: filepath.Join(dir, "none.proto"), AllowOriginHeader: "*"}, "proto", regexp.MustCompile(`none\.proto`)},
		{"origin with a line break", Config{AllowOriginHeader: "*\r\nSet-Cookie: a=b"}, "allow_origin_header", regexp.MustCompile("line breaks")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(&tc.cfg, plugin.Env{})
			var errs plugin.Errors
			if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Path != tc.path || !tc.msg.MatchString(errs[0].Message) {
				t.Fatalf("got %#v, want one problem at %q matching %s", err, tc.path, tc.msg)
			}
		})
	}
	c := Config{}
	c.SetDefaults()
	if _, err := New(&c, plugin.Env{}); err != nil || c.AllowOriginHeader != "*" {
		t.Errorf("defaults: %q %v", c.AllowOriginHeader, err)
	}
}

func TestModeOf(t *testing.T) {
	for ct, want := range map[string]string{
		"application/grpc-web":                    "application/grpc-web",
		"Application/gRPC-Web-Text; charset=utf8": "application/grpc-web-text",
		"application/grpc-web-text+json":          "application/grpc-web-text+json",
		"application/json":                        "application/json",
		"application/grpc":                        "",
		"application/grpc-webx":                   "",
		"":                                        "",
	} {
		got := ""
		if m := modeOf(ct); m != nil {
			got = m.contentType[0]
		}
		if got != want {
			t.Errorf("modeOf(%q) = %q, want %q", ct, got, want)
		}
	}
}

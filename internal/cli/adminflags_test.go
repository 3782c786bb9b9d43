package cli

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/server"
)

func TestAdminListenNeedsCredentialOffLoopback(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.yml")
	os.WriteFile(tokens, []byte("- {name: ops, token: ops-token, role: admin}\n"), 0o600)
	for _, tt := range []struct {
		addr    string
		opts    adminAuthOptions
		token   string
		refused bool
	}{
		{addr: "127.0.0.1:8001"},
		{addr: "127.8.9.10:8001"},
		{addr: "[::1]:8001"},
		{addr: "localhost:8001"},
		{addr: "0.0.0.0:8001", refused: true},
		{addr: ":8001", refused: true},
		{addr: "[::]:8001", refused: true},
		{addr: "10.0.0.5:8001", refused: true},
		{addr: "[::ffff:10.0.0.5]:8001", refused: true},
		{addr: "admin.internal:8001", refused: true},
		{addr: "0.0.0.0:8001", token: "s3cret"},
		{addr: "0.0.0.0:8001", opts: adminAuthOptions{tokensFile: tokens}},
		{addr: "0.0.0.0:8001", opts: adminAuthOptions{tokens: `[{"name":"ci","token":"ci-token","role":"read-only"}]`}},
	} {
		_, err := tt.opts.prepare(tt.token, []server.Listen{{Addr: tt.addr}}, slog.New(slog.DiscardHandler))
		if tt.refused != (err != nil) {
			t.Errorf("%s: error %v, want refused %v", tt.addr, err, tt.refused)
		}
		if err != nil && (!strings.Contains(err.Error(), "--admin-listen "+tt.addr) || !strings.Contains(err.Error(), "TURNPIKE_ADMIN_TOKEN")) {
			t.Errorf("%s: error %q names neither the flag nor the fix", tt.addr, err)
		}
	}
}

func TestAdminAuthFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	open := write("open.yml", "- {name: ops, token: ops-token, role: admin}\n", 0o644)
	var log bytes.Buffer
	auth, err := (&adminAuthOptions{tokensFile: open}).prepare("plain", nil, slog.New(slog.NewJSONHandler(&log, nil)))
	if err != nil || len(auth.creds) != 2 || auth.creds[1].Name != "default" {
		t.Fatalf("%+v %v", auth, err)
	}
	if !strings.Contains(log.String(), "chmod 600") || !strings.Contains(log.String(), `"mode":"0644"`) {
		t.Errorf("no warning for a file mode 0644: %s", log.String())
	}
	ca := write("ca.pem", "not a certificate", 0o600)
	bad := write("bad.yml", "- {name: a, token: t, role: admin}\n- {name: b, token: u, role: superuser}\n", 0o600)
	huge := write("huge.yml", strings.Repeat("#", 1<<20+10), 0o600)
	cnOnly := write("cn.yml", "- {name: dep, client_cn: deploy, role: admin}\n", 0o600)
	ssl := []server.Listen{{Addr: "127.0.0.1:8444", TLS: true}}
	for _, tt := range []struct {
		opts    adminAuthOptions
		token   string
		listens []server.Listen
		want    string
	}{
		{adminAuthOptions{tokensFile: bad}, "", nil, "--admin-tokens-file " + bad + ": [1].role: expected one of: read-only, admin"},
		{adminAuthOptions{tokensFile: huge}, "", nil, "more than 1048576"},
		{adminAuthOptions{tokensFile: filepath.Join(dir, "missing")}, "", nil, "no such file"},
		{adminAuthOptions{tokens: "- {name: default, token: x, role: admin}"}, "y", nil, `two admin credentials are named "default"`},
		{adminAuthOptions{tokens: "{"}, "", nil, "--admin-tokens (TURNPIKE_ADMIN_TOKENS): want a list"},
		{adminAuthOptions{}, strings.Repeat("t", 1025), nil, "--admin-token: longer than 1024 bytes"},
		{adminAuthOptions{clientCA: ca}, "", ssl, "--admin-client-ca " + ca + ": no PEM certificate"},
		{adminAuthOptions{tokensFile: cnOnly}, "", ssl, `"dep": client_cn needs --admin-client-ca`},
	} {
		if _, err := tt.opts.prepare(tt.token, tt.listens, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want %q", tt.opts, err, tt.want)
		}
	}
}

package admin

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/admin/dashboard"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

func TestParseCredentials(t *testing.T) {
	sum := sha256.Sum256([]byte("hashed-token"))
	good := `
- {name: ci, token: ci-token-1, role: read-only}
- name: ops
  token_sha256: ` + hex.EncodeToString(sum[:]) + `
  role: admin
- {name: "deploy@example", client_cn: deploy.internal, role: admin}
`
	creds, err := ParseCredentials([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 3 || creds[0].Role != RoleReadOnly || creds[0].TokenSum != sha256.Sum256([]byte("ci-token-1")) ||
		creds[1].TokenSum != sum || !creds[1].HasToken || creds[2].ClientCN != "deploy.internal" || creds[2].HasToken {
		t.Fatalf("parsed %+v", creds)
	}
	if _, err := ParseCredentials([]byte(`[{"name":"j","token":"t","role":"admin"}]`)); err != nil {
		t.Errorf("JSON: %v", err)
	}
	long := strings.Repeat("x", MaxTokenBytes+1)
	many := strings.Repeat("- {name: n, token: t, role: admin}\n", MaxCredentials+1)
	for _, tt := range []struct{ doc, want string }{
		{"- {name: a, token: t, role: root}", "[0].role: expected one of: read-only, admin"},
		{"- {name: a, token: t}", "[0].role: expected one of"},
		{"- {name: a, token: t, role: admin}\n- {token: t2, role: admin}", "[1].name: want 1 to 64 characters"},
		{"- {name: 'a b', token: t, role: admin}", `[0].name: "a b": only letters`},
		{"- {name: a, role: admin}", "[0]: exactly one of token, token_sha256 or client_cn"},
		{"- {name: a, token: t, client_cn: c, role: admin}", "[0]: exactly one of"},
		{"- {name: a, token_sha256: abc, role: admin}", "[0].token_sha256: want 64 hexadecimal digits"},
		{"- {name: a, token: ' t', role: admin}", "[0].token: must not begin or end with white space"},
		{"- {name: a, token: " + long + ", role: admin}", "[0].token: longer than 1024 bytes"},
		{"- {name: a, tokn: t, role: admin}", "want a list of"},
		{"name: a", "want a list of"},
		{many, "[256]: more than 256 entries"},
		{strings.Repeat("#", MaxCredentialFile+1), "more than 1048576"},
	} {
		_, err := ParseCredentials([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.60q: error %v, want %q", tt.doc, err, tt.want)
		}
	}
}

func TestCheckCredentials(t *testing.T) {
	a := Credential{Name: "a", Role: RoleAdmin, TokenSum: sha256.Sum256([]byte("x")), HasToken: true}
	b := Credential{Name: "b", Role: RoleReadOnly, TokenSum: sha256.Sum256([]byte("y")), HasToken: true}
	if err := CheckCredentials([]Credential{a, b, TokenCredential("z")}); err != nil {
		t.Fatal(err)
	}
	sameToken := b
	sameToken.TokenSum = a.TokenSum
	for _, tt := range []struct {
		creds []Credential
		want  string
	}{
		{[]Credential{a, a}, `two admin credentials are named "a"`},
		{[]Credential{a, sameToken}, `"a" and "b" have the same token`},
		{[]Credential{{Name: "c", ClientCN: "x"}, {Name: "d", ClientCN: "x"}}, "name the same client_cn"},
		{[]Credential{TokenCredential("z"), {Name: "default", ClientCN: "x"}}, `named "default"`},
	} {
		if err := CheckCredentials(tt.creds); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
}

// roleSource has a read-only token "reader-token" and an admin token
// "root-token", logging to log.
func roleSource(s *Source, log *bytes.Buffer) {
	s.Credentials = []Credential{
		{Name: "reader", Role: RoleReadOnly, TokenSum: sha256.Sum256([]byte("reader-token")), HasToken: true},
		{Name: "root", Role: RoleAdmin, TokenSum: sha256.Sum256([]byte("root-token")), HasToken: true},
	}
	if log != nil {
		s.Logger = slog.New(slog.NewJSONHandler(log, nil))
	}
}

// Every route the admin mux has, plugin routes included, with every
// method: a read-only token reads all and writes none, an admin token is
// never refused, no token is always 401 (but for the readiness probe). The
// routes come from the mux, so an endpoint added later is covered.
func TestRolesOnEveryRoute(t *testing.T) {
	var src Source
	f := newFixture(t, fullConfig(t), func(s *Source) { roleSource(s, nil); src = *s })
	h, mux, err := newAPI(src).handler()
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	wildcard := regexp.MustCompile(`\{[^}]*\}`)
	sawPluginWrite, sawConfig := false, false
	for _, pattern := range mux.patterns {
		_, path, hasMethod := strings.Cut(pattern, " ")
		if !hasMethod {
			path = pattern
		}
		path = strings.ReplaceAll(path, "{$}", "")
		path = wildcard.ReplaceAllString(path, "x")
		if path == "" || path == "/" && pattern == "/" {
			path = "/no-such-route"
		}
		sawPluginWrite = sawPluginWrite || strings.HasPrefix(pattern, "DELETE /proxy-cache")
		sawConfig = sawConfig || path == "/config"
		for _, m := range []string{"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"} {
			// The rule written out again, not reads(): a test that
			// asked the code would pass whatever it said.
			read := m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "POST" && path == "/schemas/plugins/validate"
			code, body, _ := f.do(m, path, "{}", "Kong-Admin-Token", "reader-token")
			switch {
			case path == "/status/ready":
				// Served to anyone, GET only.
				if !read && code != 405 {
					t.Errorf("%s /status/ready = %d", m, code)
				}
			case read && (code == 401 || code == 403):
				t.Errorf("read-only %s %s (route %s) = %d %v", m, path, pattern, code, body)
			case !read && (code != 403 || body["message"] == nil || !strings.HasPrefix(body["message"].(string), "reader, you do not have permissions to ")):
				t.Errorf("read-only %s %s (route %s) = %d %v, want 403", m, path, pattern, code, body)
			}
			if code, body, _ := f.do(m, path, "{}", "Authorization", "Bearer root-token"); code == 401 || code == 403 {
				t.Errorf("admin %s %s (route %s) = %d %v", m, path, pattern, code, body)
			}
			if code, _, _ := f.do(m, path, "{}"); code != 401 && path != "/status/ready" {
				t.Errorf("no token %s %s (route %s) = %d", m, path, pattern, code)
			}
		}
	}
	if !sawPluginWrite || !sawConfig || len(mux.patterns) < 30 {
		t.Errorf("the mux's patterns miss routes: %q", mux.patterns)
	}
}

func TestReadOnlyReads(t *testing.T) {
	f := newFixture(t, fullConfig(t), func(s *Source) { roleSource(s, nil) })
	code, body, _ := f.do(http.MethodPost, "/schemas/plugins/validate", `{"name":"cors"}`, "Kong-Admin-Token", "reader-token")
	if code != 200 {
		t.Errorf("read-only POST /schemas/plugins/validate = %d %v", code, body)
	}
	code, body, _ = f.do(http.MethodPost, "/config", "_format_version: \"3.0\"\n", "Kong-Admin-Token", "reader-token")
	if code != 403 || body["message"] != "reader, you do not have permissions to create this resource" {
		t.Errorf("read-only POST /config = %d %v", code, body)
	}
	if len(f.holder.Load().Model.Services) == 0 {
		t.Error("a read-only POST /config replaced the configuration")
	}
	// A wrong token is 401 even next to a right one in the other header.
	code, _, _ = f.do(http.MethodGet, "/status", "", "Kong-Admin-Token", "reader-token", "Authorization", "Bearer nope")
	if code != 200 {
		t.Errorf("either header may carry the token: %d", code)
	}
}

func TestWriteLogAndCaller(t *testing.T) {
	var log bytes.Buffer
	var src Source
	newFixture(t, fullConfig(t), func(s *Source) { roleSource(s, &log); src = *s })
	a := newAPI(src)
	var caller string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller = Caller(r)
		w.WriteHeader(http.StatusCreated)
	})
	req := httptest.NewRequest(http.MethodPost, "/services", strings.NewReader(`{"name":"secret-body"}`))
	req.Header.Set("Authorization", "Bearer root-token")
	req.RemoteAddr = "192.0.2.7:5555"
	rec := httptest.NewRecorder()
	a.guard(rec, req, next)
	if caller != "root" || rec.Code != 201 {
		t.Fatalf("caller %q, status %d", caller, rec.Code)
	}
	var line map[string]any
	if err := json.Unmarshal(log.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", log.String(), err)
	}
	want := map[string]any{"level": "INFO", "msg": "admin write", "method": "POST", "path": "/services",
		"status": float64(201), "token": "root", "remote": "192.0.2.7:5555"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v (%s)", k, line[k], v, log.String())
		}
	}
	if strings.Contains(log.String(), "root-token") || strings.Contains(log.String(), "secret-body") {
		t.Errorf("the log holds the token or the body: %s", log.String())
	}

	// Reads are not logged; a refused write is, with its 403.
	log.Reset()
	req = httptest.NewRequest(http.MethodGet, "/services", nil)
	req.Header.Set("Kong-Admin-Token", "reader-token")
	a.guard(httptest.NewRecorder(), req, next)
	if log.Len() != 0 || caller != "reader" {
		t.Errorf("GET: log %q, caller %q", log.String(), caller)
	}
	req = httptest.NewRequest(http.MethodDelete, "/services/x", nil)
	req.Header.Set("Kong-Admin-Token", "reader-token")
	a.guard(httptest.NewRecorder(), req, next)
	if !strings.Contains(log.String(), `"status":403`) || !strings.Contains(log.String(), `"token":"reader"`) {
		t.Errorf("refused write log: %s", log.String())
	}
	if Caller(httptest.NewRequest(http.MethodGet, "/", nil)) != "" {
		t.Error("Caller of a request the guard never saw")
	}
}

func TestClientCertificateIdentity(t *testing.T) {
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "ops-laptop"}, DNSNames: []string{"deploy.internal"}}
	verified := &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}, PeerCertificates: []*x509.Certificate{cert}}
	unverified := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	mapped := []Credential{{Name: "deployer", Role: RoleReadOnly, ClientCN: "deploy.internal"}}
	other := []Credential{{Name: "someone", Role: RoleAdmin, ClientCN: "elsewhere"}}
	for _, tt := range []struct {
		name  string
		src   Source
		state *tls.ConnectionState
		token string
		want  string
	}{
		{"SAN mapped to a credential", Source{ClientCA: true, Credentials: mapped}, verified, "", "deployer"},
		{"only a CA: every verified cert is an admin", Source{ClientCA: true}, verified, "", "cn:ops-laptop"},
		{"unmapped certificate needs a token", Source{ClientCA: true, Credentials: other}, verified, "", ""},
		{"unverified certificate", Source{ClientCA: true}, unverified, "", ""},
		{"a wrong token is not rescued by the certificate", Source{ClientCA: true, Credentials: mapped}, verified, "nope", ""},
		{"a token wins over the certificate", Source{ClientCA: true, Credentials: mapped, Token: "tok"}, verified, "tok", "default"},
	} {
		req := httptest.NewRequest(http.MethodGet, "/status", nil)
		req.TLS = tt.state
		if tt.token != "" {
			req.Header.Set("Kong-Admin-Token", tt.token)
		}
		got := ""
		if c := newAuthn(tt.src).identify(req); c != nil {
			got = c.Name
		}
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// No secret is compared with == or != (which stops at the first byte
// that differs) anywhere in the package: tokens go through matchToken.
func TestNoVariableTimeSecretComparison(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	secret := regexp.MustCompile(`(?i)token|secret|password|sums?\b`)
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch e := n.(type) {
			case *ast.BinaryExpr:
				if e.Op != token.EQL && e.Op != token.NEQ || isZeroLiteral(e.X) || isZeroLiteral(e.Y) {
					return true
				}
				text := string(src[fset.Position(e.Pos()).Offset:fset.Position(e.End()).Offset])
				checked++
				if secret.MatchString(text) {
					t.Errorf("%s: %s compares a secret in variable time", fset.Position(e.Pos()), text)
				}
			case *ast.CallExpr:
				if sel, ok := e.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Equal" || sel.Sel.Name == "EqualFold" || sel.Sel.Name == "Compare") {
					text := string(src[fset.Position(e.Pos()).Offset:fset.Position(e.End()).Offset])
					if secret.MatchString(text) {
						t.Errorf("%s: %s compares a secret in variable time", fset.Position(e.Pos()), text)
					}
				}
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no comparison looked at")
	}
}

// isZeroLiteral: comparing with "", nil or a number, or comparing
// lengths, reveals nothing of a secret's content.
func isZeroLiteral(e ast.Expr) bool {
	switch v := e.(type) {
	case *ast.CallExpr:
		fn, ok := v.Fun.(*ast.Ident)
		return ok && fn.Name == "len"
	case *ast.BasicLit:
		return v.Value == `""` || v.Kind == token.INT
	case *ast.Ident:
		return v.Name == "nil"
	}
	return false
}

// BenchmarkAdminGuard is the credential check of one admin read with
// eight tokens configured: go test -run '^$' -bench AdminGuard -benchmem ./internal/admin/
func BenchmarkAdminGuard(b *testing.B) {
	src := Source{}
	for i := range 8 {
		src.Credentials = append(src.Credentials, Credential{Name: "t" + string(rune('a'+i)), Role: RoleReadOnly,
			TokenSum: sha256.Sum256([]byte{byte(i)}), HasToken: true})
	}
	src.Credentials[7].TokenSum = sha256.Sum256([]byte("bench-token"))
	a := newAPI(src)
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	req := httptest.NewRequest(http.MethodGet, "/status", nil)
	req.Header.Set("Authorization", "Bearer bench-token")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		a.guard(w, req, next)
	}
}

// POST /config?check=true changes nothing, so a read-only token may; the
// same request without the query is a write.
func TestReadOnlyConfigDryRun(t *testing.T) {
	f := newFixture(t, fullConfig(t), func(s *Source) { roleSource(s, nil) })
	before := f.holder.Load()
	code, body, _ := f.do(http.MethodPost, "/config?check=true", "_format_version: \"3.0\"\n", "Kong-Admin-Token", "reader-token")
	if code != 200 || f.holder.Load() != before {
		t.Errorf("read-only dry run: %d %v, config replaced %v", code, body, f.holder.Load() != before)
	}
	for _, q := range []string{"?check=false", "?check=TRUE", "?check_hash=1", "?Check=true"} {
		if code, body, _ := f.do(http.MethodPost, "/config"+q, "_format_version: \"3.0\"\n", "Kong-Admin-Token", "reader-token"); code != 403 {
			t.Errorf("read-only POST /config%s = %d %v", q, code, body)
		}
	}
	if f.holder.Load() != before {
		t.Error("a read-only POST replaced the configuration")
	}
}

// The dashboard's login takes the named tokens with their roles; its
// writes are logged like the API's, under the credential's name; with client certificates only, no
// visitor gets a session (a read-only certificate must not become admin).
func TestDashboardUsesCredentials(t *testing.T) {
	var log bytes.Buffer
	f := newFixture(t, fullConfig(t), func(s *Source) { roleSource(s, &log) })
	for tok, role := range map[string]string{"reader-token": "read-only", "root-token": "admin"} {
		cookie, _ := dashLogin(t, f, tok)
		req := httptest.NewRequest(http.MethodGet, "/dashboard/api/session", nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		if !strings.Contains(rec.Body.String(), `"role":"`+role+`"`) {
			t.Errorf("session of %s: %s", tok, rec.Body.String())
		}
	}
	cookie, csrf := dashLogin(t, f, "root-token")
	req := httptest.NewRequest(http.MethodPost, "/dashboard/admin/config", strings.NewReader("_format_version: \"3.0\"\n"))
	req.AddCookie(cookie)
	req.Header.Set(dashboard.CSRFHeader, csrf)
	req.Header.Set("Origin", "http://"+testHost)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != 201 || !strings.Contains(log.String(), `"token":"root"`) || !strings.Contains(log.String(), `"path":"/config"`) {
		t.Errorf("dashboard write: %d, log %s", rec.Code, log.String())
	}

	certOnly := newFixture(t, fullConfig(t), func(s *Source) {
		s.ClientCA = true
		s.Credentials = []Credential{{Name: "laptop", Role: RoleReadOnly, ClientCN: "laptop"}}
	})
	req = httptest.NewRequest(http.MethodGet, "/dashboard/api/session", nil)
	rec = httptest.NewRecorder()
	certOnly.h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), `"login_required":true`) {
		t.Errorf("dashboard with client certificates only: %s", rec.Body.String())
	}
}

// TestCommitAuthor: an entity write and a POST /config store the caller's
// credential name as the change's author (entity writes stored "admin").
func TestCommitAuthor(t *testing.T) {
	var f *fixture
	var who []string
	f = newFixture(t, fullConfig(t), func(s *Source) {
		roleSource(s, nil)
		s.Commit = func(data []byte, _, by string) (*snapshot.Snapshot, error) {
			who = append(who, by)
			return f.loader.TryApply(data, by)
		}
	})
	auth := []string{"Authorization", "Bearer root-token", "Content-Type", "application/json"}
	if code, body, _ := f.do(http.MethodPost, "/services", `{"name":"by-root","url":"http://127.0.0.1:9"}`, auth...); code != http.StatusCreated {
		t.Fatalf("POST /services: %d %v", code, body)
	}
	if code, body, _ := f.do(http.MethodPost, "/config", fullConfig(t), auth[:2]...); code != http.StatusCreated {
		t.Fatalf("POST /config: %d %v", code, body)
	}
	if fmt.Sprint(who) != "[root root]" {
		t.Fatalf("authors %v, want the credential's name for both", who)
	}
}

package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/goccy/go-yaml"
)

// Role is what an admin credential may do.
type Role string

const (
	// RoleReadOnly reads: GET, HEAD and OPTIONS of every endpoint, and the
	// POSTs that only check a document (/schemas/.../validate).
	RoleReadOnly Role = "read-only"
	// RoleAdmin does everything.
	RoleAdmin Role = "admin"
)

// Limits of the admin credentials, so that a mistaken file (a log pasted
// in place of the tokens) fails at start rather than growing the memory
// and the per-request work of every admin request.
const (
	MaxCredentials    = 256
	MaxTokenBytes     = 1024
	MaxCredentialFile = 1 << 20
	maxNameBytes      = 64
	maxLoggedPath     = 256
)

// Credential is one named admin credential: a token, kept only as its
// SHA-256 sum, or the name a verified client certificate carries.
type Credential struct {
	Name string
	Role Role
	// TokenSum is the SHA-256 of the token; meaningful when HasToken.
	TokenSum [sha256.Size]byte
	HasToken bool
	// ClientCN is a client certificate's subject CN or one of its DNS,
	// e-mail or URI SANs; set instead of a token.
	ClientCN string
}

// credentialEntry is one entry of a tokens file or TURNPIKE_ADMIN_TOKENS.
type credentialEntry struct {
	Name        string `yaml:"name"`
	Token       string `yaml:"token"`
	TokenSHA256 string `yaml:"token_sha256"`
	ClientCN    string `yaml:"client_cn"`
	Role        string `yaml:"role"`
}

// ParseCredentials reads a YAML or JSON list of {name, token |
// token_sha256 | client_cn, role}. An error names the entry's index.
func ParseCredentials(data []byte) ([]Credential, error) {
	if len(data) > MaxCredentialFile {
		return nil, fmt.Errorf("%d bytes, more than %d", len(data), MaxCredentialFile)
	}
	var entries []credentialEntry
	if err := yaml.UnmarshalWithOptions(data, &entries, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("want a list of {name, token or token_sha256 or client_cn, role}: %v", err)
	}
	if len(entries) > MaxCredentials {
		return nil, fmt.Errorf("[%d]: more than %d entries", MaxCredentials, MaxCredentials)
	}
	out := make([]Credential, 0, len(entries))
	for i, e := range entries {
		c, err := e.credential()
		if err != nil {
			return nil, fmt.Errorf("[%d]%s", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// credential checks one entry; an error starts with the field it is about
// (".role: ...") or with ": " when it is about the entry as a whole.
func (e credentialEntry) credential() (Credential, error) {
	c := Credential{Name: e.Name, Role: Role(e.Role), ClientCN: e.ClientCN}
	if err := checkName(e.Name); err != nil {
		return c, fmt.Errorf(".name: %v", err)
	}
	if c.Role != RoleReadOnly && c.Role != RoleAdmin {
		return c, fmt.Errorf(".role: expected one of: read-only, admin")
	}
	set := 0
	for _, v := range []string{e.Token, e.TokenSHA256, e.ClientCN} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return c, fmt.Errorf(": exactly one of token, token_sha256 or client_cn is required")
	}
	switch {
	case e.Token != "":
		if len(e.Token) > MaxTokenBytes {
			return c, fmt.Errorf(".token: longer than %d bytes", MaxTokenBytes)
		}
		if len(strings.TrimSpace(e.Token)) != len(e.Token) || strings.ContainsAny(e.Token, "\r\n") {
			return c, fmt.Errorf(".token: must not begin or end with white space nor hold a line break (no header could carry it)")
		}
		c.TokenSum, c.HasToken = sha256.Sum256([]byte(e.Token)), true
	case e.TokenSHA256 != "":
		b, err := hex.DecodeString(e.TokenSHA256)
		if err != nil || len(b) != sha256.Size {
			return c, fmt.Errorf(".token_sha256: want 64 hexadecimal digits (sha256sum of the token)")
		}
		copy(c.TokenSum[:], b)
		c.HasToken = true
	case len(e.ClientCN) > MaxTokenBytes:
		return c, fmt.Errorf(".client_cn: longer than %d bytes", MaxTokenBytes)
	}
	return c, nil
}

// checkName keeps names fit for a log line and an audit field.
func checkName(name string) error {
	if name == "" || len(name) > maxNameBytes {
		return fmt.Errorf("want 1 to %d characters", maxNameBytes)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_@:", r)) {
			return fmt.Errorf("%q: only letters, digits and . - _ @ : are allowed", name)
		}
	}
	return nil
}

// TokenCredential is a plain --admin-token: one admin named "default".
func TokenCredential(token string) Credential {
	return Credential{Name: "default", Role: RoleAdmin, TokenSum: sha256.Sum256([]byte(token)), HasToken: true}
}

// CheckCredentials refuses a set in which two entries share a name, a
// token or a certificate name, or that is too large.
func CheckCredentials(creds []Credential) error {
	if len(creds) > MaxCredentials {
		return fmt.Errorf("%d admin credentials, more than %d", len(creds), MaxCredentials)
	}
	names, sums, cns := map[string]bool{}, map[[sha256.Size]byte]string{}, map[string]string{}
	for _, c := range creds {
		if names[c.Name] {
			return fmt.Errorf("two admin credentials are named %q", c.Name)
		}
		names[c.Name] = true
		if c.HasToken {
			if other, dup := sums[c.TokenSum]; dup {
				return fmt.Errorf("admin credentials %q and %q have the same token", other, c.Name)
			}
			sums[c.TokenSum] = c.Name
		}
		if c.ClientCN != "" {
			if other, dup := cns[c.ClientCN]; dup {
				return fmt.Errorf("admin credentials %q and %q name the same client_cn", other, c.Name)
			}
			cns[c.ClientCN] = c.Name
		}
	}
	return nil
}

// authn identifies the caller of an admin request.
type authn struct {
	// sums and tokens are the token credentials, side by side.
	sums   [][sha256.Size]byte
	tokens []*Credential
	byCN   map[string]*Credential
	// required: some credential is configured, so requests need one.
	required bool
	// certAdmin: a client CA is the only credential, so any certificate
	// it verified is an admin, named by its CN.
	certAdmin bool
}

func newAuthn(src Source) *authn {
	creds := append([]Credential{}, src.Credentials...)
	if src.Token != "" {
		creds = append(creds, TokenCredential(src.Token))
	}
	a := &authn{byCN: map[string]*Credential{}, required: len(creds) > 0 || src.ClientCA}
	for i := range creds {
		c := &creds[i]
		if c.HasToken {
			a.sums = append(a.sums, c.TokenSum)
			a.tokens = append(a.tokens, c)
		}
		if c.ClientCN != "" {
			a.byCN[c.ClientCN] = c
		}
	}
	a.certAdmin = src.ClientCA && len(creds) == 0
	return a
}

// identify returns the credential r presents, nil when none is valid. A
// token, when presented, decides alone: a wrong one is not rescued by a
// certificate.
func (a *authn) identify(r *http.Request) *Credential {
	bearer, kong := "", r.Header.Get("Kong-Admin-Token")
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		bearer = strings.TrimSpace(h[7:])
	}
	if bearer != "" || kong != "" {
		match := a.matchToken(bearer)
		if m := a.matchToken(kong); match < 0 {
			match = m
		}
		if match < 0 {
			return nil
		}
		return a.tokens[match]
	}
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return nil
	}
	leaf := r.TLS.VerifiedChains[0][0]
	for _, name := range certNames(leaf) {
		if c := a.byCN[name]; c != nil {
			return c
		}
	}
	if a.certAdmin {
		return &Credential{Name: "cn:" + leaf.Subject.CommonName, Role: RoleAdmin}
	}
	return nil
}

// matchToken compares the SHA-256 of t with every token's sum, all of
// them every time, in constant time: neither which token matched nor how
// far a guess got shows in the time taken. Hashing first makes the
// comparison independent of the lengths. -1: none (or t empty).
func (a *authn) matchToken(t string) int {
	if t == "" || len(t) > MaxTokenBytes {
		return -1
	}
	sum := sha256.Sum256([]byte(t))
	match := -1
	for i := range a.sums {
		eq := subtle.ConstantTimeCompare(sum[:], a.sums[i][:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	return match
}

// certNames are the names a client certificate can be mapped by.
func certNames(c *x509.Certificate) []string {
	names := []string{c.Subject.CommonName}
	names = append(names, c.DNSNames...)
	names = append(names, c.EmailAddresses...)
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	return names
}

// reads reports whether a read-only credential may make r: the safe
// methods, POST to a /schemas/.../validate endpoint and POST
// /config?check=true, which check a document and change nothing. Anything else, including endpoints added
// later, is a write.
func reads(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	case http.MethodPost:
		p := r.URL.Path
		return strings.HasPrefix(p, "/schemas/") && strings.HasSuffix(p, "/validate") || p == "/config" && configCheck(r)
	}
	return false
}

// configCheck reports POST /config?check=true, the dry run: postConfig and
// the role rule ask this one question, so they cannot disagree on what
// applies.
func configCheck(r *http.Request) bool { return r.URL.Query().Get("check") == "true" }

// action is Kong's RBAC word for a method, for the 403 message.
func action(method string) string {
	switch method {
	case http.MethodPost:
		return "create"
	case http.MethodPut, http.MethodPatch:
		return "update"
	case http.MethodDelete:
		return "delete"
	}
	return "use"
}

type callerKey struct{}

// Caller is the name of the credential the admin request r was made with
// ("" when the admin API requires none), for the write endpoints to
// record who made a change.
func Caller(r *http.Request) string {
	c, _ := r.Context().Value(callerKey{}).(*Credential)
	if c == nil {
		return ""
	}
	return c.Name
}

// guard authenticates r, refuses a read-only credential's writes, and
// logs every write that passes authentication (never a token or a body:
// only the credential's name). Reads pay for nothing but the token check.
func (a *api) guard(w http.ResponseWriter, r *http.Request, next http.Handler) {
	var cred *Credential
	if a.auth.required && r.URL.Path != "/status/ready" {
		if cred = a.auth.identify(r); cred == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="turnpike admin"`)
			writeJSON(w, http.StatusUnauthorized, message("Unauthorized"))
			return
		}
	}
	a.serveAs(w, r, cred, next)
}

// serveAs serves r as made by cred (nil: no credential is required).
func (a *api) serveAs(w http.ResponseWriter, r *http.Request, cred *Credential, next http.Handler) {
	if cred != nil {
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, cred))
	}
	if reads(r) {
		next.ServeHTTP(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if cred != nil && cred.Role != RoleAdmin {
		writeJSON(sw, http.StatusForbidden, message(cred.Name+", you do not have permissions to "+action(r.Method)+" this resource"))
	} else {
		next.ServeHTTP(sw, r)
	}
	path := r.URL.Path
	if len(path) > maxLoggedPath {
		path = path[:maxLoggedPath] + "..."
	}
	name := ""
	if cred != nil {
		name = cred.Name
	}
	a.log.Info("admin write", "method", r.Method, "path", path, "status", sw.status, "token", name, "remote", r.RemoteAddr)
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// discardLogger stands in when the Source has no Logger.
var discardLogger = slog.New(slog.DiscardHandler)

// routeMux is the admin API's ServeMux, remembering its patterns (plugin
// routes as "METHOD /path").
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	m.patterns = append(m.patterns, pattern)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

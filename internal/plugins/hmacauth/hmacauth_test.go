package hmacauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
)

var (
	bob    = &plugin.Consumer{ID: "bob-id", Username: "bob", CustomID: "1234"}
	nobody = &plugin.Consumer{ID: "anon-id", Username: "no-body"}
	// now is the tests' clock; date is it as an HTTP date.
	now  = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	date = now.Format(http.TimeFormat)
)

func cred(id, user, secret string, c *plugin.Consumer) *plugin.Credential {
	cr := &plugin.Credential{ID: id, Kind: name, Key: user, Consumer: c, Fields: &Credential{Username: user, Secret: secret}}
	compileCredential(cr, nil)
	return cr
}

// newDirectory holds the credential of Kong's
// spec/03-plugins/19-hmac-auth/03-access_spec.lua.
func newDirectory() *plugintest.Directory {
	return &plugintest.Directory{
		Consumers: []*plugin.Consumer{bob, nobody},
		ByKind: map[string]map[string]*plugin.Credential{kindName: {
			"bob":    cred("cred-bob", "bob", "secret", bob),
			"orphan": cred("cred-orphan", "orphan", "secret", nil),
		}},
	}
}

func build(t testing.TB, set func(*Config)) (*instance, error) {
	t.Helper()
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	if set != nil {
		set(cfg)
	}
	in, err := reg.New(cfg, plugin.Env{})
	if err != nil {
		return nil, err
	}
	i := in.(*instance)
	i.now = func() time.Time { return now }
	return i, nil
}

func mustBuild(t testing.TB, set func(*Config)) *instance {
	t.Helper()
	in, err := build(t, set)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func str(s string) *string { return &s }

// sign is the Base64 HMAC of s with the secret, as a client computes it.
func sign(h func() hash.Hash, secret, s string) string {
	m := hmac.New(h, []byte(secret))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func sha1Sig(s string) string { return sign(algorithmHashes[hmacSHA1], "secret", s) }

func authValue(user, alg, headers, sig string) string {
	return `hmac username="` + user + `",algorithm="` + alg + `",headers="` + headers + `",signature="` + sig + `"`
}

func digest(body string) string {
	s := sha256.Sum256([]byte(body))
	return "SHA-256=" + base64.StdEncoding.EncodeToString(s[:])
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "hmac-auth" || reg.Priority != 1030 || !reg.NoConsumer {
		t.Fatalf("got %+v", reg)
	}
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	want := &Config{ClockSkew: 300, EnforceHeaders: []string{},
		Algorithms: []string{"hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"}}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

// The cases of Kong's spec/03-plugins/19-hmac-auth/01-schema_spec.lua,
// and the string rules of its schema.
func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want plugin.Errors
	}{
		{name: "accepts empty config"},
		{name: "accepts correct clock skew", set: func(c *Config) { c.ClockSkew = 10 }},
		{name: "errors with negative clock skew", set: func(c *Config) { c.ClockSkew = -10 },
			want: plugin.Errors{{Path: "clock_skew", Message: "value must be greater than 0"}}},
		{name: "zero clock skew", set: func(c *Config) { c.ClockSkew = 0 },
			want: plugin.Errors{{Path: "clock_skew", Message: "value must be greater than 0"}}},
		{name: "errors with wrong algorithm", set: func(c *Config) { c.Algorithms = []string{"sha1024"} },
			want: plugin.Errors{{Path: "algorithms[0]", Message: "expected one of: hmac-sha1, hmac-sha256, hmac-sha384, hmac-sha512"}}},
		{name: "empty algorithm list accepted", set: func(c *Config) { c.Algorithms = []string{} }},
		{
			name: "empty strings",
			set: func(c *Config) {
				c.Anonymous, c.Realm, c.EnforceHeaders = str(""), str(""), []string{"date", ""}
			},
			want: plugin.Errors{
				{Path: "anonymous", Message: "length must be at least 1"},
				{Path: "enforce_headers[1]", Message: "length must be at least 1"},
				{Path: "realm", Message: "length must be at least 1"},
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

// req is one request of a case.
type req struct {
	method, uri string
	proto       string // "HTTP/1.1" unless set
	header      []string
	body        string
}

func (r req) ctx(dir plugin.Directory) *plugin.Ctx {
	method := r.method
	if method == "" {
		method = http.MethodGet
	}
	uri := r.uri
	if uri == "" {
		uri = "/request"
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(method, uri, body)
	hr.Host = "hmacauth.test"
	if r.proto == "HTTP/1.0" {
		hr.Proto, hr.ProtoMajor, hr.ProtoMinor = r.proto, 1, 0
	}
	for i := 0; i+1 < len(r.header); i += 2 {
		hr.Header.Add(r.header[i], r.header[i+1])
	}
	return &plugin.Ctx{Req: hr, Directory: dir}
}

// outcome is what a case checks: the answer, or what the upstream gets.
type outcome struct {
	Status   int
	Message  string
	WWWAuth  string
	Identity http.Header
	Auth     http.Header
	Body     string
}

var identityHeaders = []string{"X-Consumer-Id", "X-Consumer-Custom-Id", "X-Consumer-Username", "X-Credential-Identifier", "X-Anonymous-Consumer"}

func run(t *testing.T, in *instance, c *plugin.Ctx) outcome {
	t.Helper()
	if err := in.Access(c); err != nil {
		var e *plugin.Exit
		if !errors.As(err, &e) {
			t.Fatalf("Access error %v is not an Exit", err)
		}
		return outcome{Status: e.Status, Message: e.Message, WWWAuth: e.Header.Get("WWW-Authenticate")}
	}
	o := outcome{Status: 200}
	pick := func(dst *http.Header, names ...string) {
		for _, h := range names {
			if v, ok := c.Req.Header[h]; ok {
				if *dst == nil {
					*dst = http.Header{}
				}
				(*dst)[h] = v
			}
		}
	}
	pick(&o.Identity, identityHeaders...)
	pick(&o.Auth, "Authorization", "Proxy-Authorization")
	b, err := io.ReadAll(c.Req.Body)
	if err != nil {
		t.Fatal(err)
	}
	o.Body = string(b)
	return o
}

var bobIdentity = http.Header{
	"X-Consumer-Id":           {"bob-id"},
	"X-Consumer-Custom-Id":    {"1234"},
	"X-Consumer-Username":     {"bob"},
	"X-Credential-Identifier": {"bob"},
}

var anonIdentity = http.Header{
	"X-Consumer-Id":        {"anon-id"},
	"X-Consumer-Username":  {"no-body"},
	"X-Anonymous-Consumer": {"true"},
}

func fail(msg, wwwAuth string) outcome {
	return outcome{Status: 401, Message: msg, WWWAuth: wwwAuth}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

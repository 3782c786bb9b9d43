package keyauth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

var (
	now    = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	bob    = &plugin.Consumer{ID: "bob-id", Username: "bob", CustomID: "bob-custom"}
	nobody = &plugin.Consumer{ID: "anon-id", Username: "no-body"}
	dir    = &plugintest.Directory{
		Consumers: []*plugin.Consumer{bob, nobody},
		ByKind: map[string]map[string]*plugin.Credential{kindName: {
			"kong":    {ID: "cred-kong", Kind: "key-auth", Key: "kong", Consumer: bob},
			"right":   {ID: "cred-right", Kind: "key-auth", Key: "right", Consumer: bob},
			"expired": {ID: "cred-expired", Kind: "key-auth", Key: "expired", Consumer: bob, ExpiresAt: now},
			"later":   {ID: "cred-later", Kind: "key-auth", Key: "later", Consumer: bob, ExpiresAt: now.Add(time.Second)},
		}},
	}
)

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

// req is one request in a test.
type req struct {
	method string
	target string
	header []string // name, value pairs; repeated names are added
	ct     string
	body   string
}

func newCtx(r req) *plugin.Ctx {
	if r.method == "" {
		r.method = http.MethodGet
		if r.body != "" {
			r.method = http.MethodPost
		}
	}
	if r.target == "" {
		r.target = "/request"
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.target, body)
	for i := 0; i+1 < len(r.header); i += 2 {
		hr.Header.Add(r.header[i], r.header[i+1])
	}
	if r.ct != "" {
		hr.Header.Set("Content-Type", r.ct)
	}
	return &plugin.Ctx{Req: hr, Method: hr.Method, Path: hr.URL.Path, RawQuery: hr.URL.RawQuery,
		Directory: dir, Resp: plugin.Response{Header: http.Header{}}}
}

// outcome is what a test checks: the answer, or what the upstream gets.
type outcome struct {
	Status  int
	Message string
	WWWAuth string
	// Identity is the upstream's consumer headers.
	Identity http.Header
	Query    string
	Body     string
}

var identityHeaders = []string{"X-Consumer-Id", "X-Consumer-Custom-Id", "X-Consumer-Username", "X-Credential-Identifier", "X-Anonymous-Consumer"}

func run(t *testing.T, in *instance, c *plugin.Ctx) outcome {
	t.Helper()
	err := in.Access(c)
	if err != nil {
		var e *plugin.Exit
		if !errors.As(err, &e) {
			t.Fatalf("Access error %v is not an Exit", err)
		}
		return outcome{Status: e.Status, Message: e.Message, WWWAuth: e.Header.Get("WWW-Authenticate")}
	}
	o := outcome{Status: 200, Query: c.RawQuery}
	for _, h := range identityHeaders {
		if v, ok := c.Req.Header[h]; ok {
			if o.Identity == nil {
				o.Identity = http.Header{}
			}
			o.Identity[h] = v
		}
	}
	if c.Req.Body != nil {
		b, err := io.ReadAll(c.Req.Body)
		if err != nil {
			t.Fatalf("reading the upstream body: %v", err)
		}
		if int64(len(b)) != c.Req.ContentLength && c.Req.ContentLength >= 0 {
			t.Fatalf("ContentLength %d for a body of %d bytes", c.Req.ContentLength, len(b))
		}
		o.Body = string(b)
	}
	return o
}

func bobIdentity(credID string) http.Header {
	return http.Header{
		"X-Consumer-Id":           {"bob-id"},
		"X-Consumer-Custom-Id":    {"bob-custom"},
		"X-Consumer-Username":     {"bob"},
		"X-Credential-Identifier": {credID},
	}
}

var anonIdentity = http.Header{
	"X-Consumer-Id":        {"anon-id"},
	"X-Consumer-Username":  {"no-body"},
	"X-Anonymous-Consumer": {"true"},
}

func noKey(realm string) outcome {
	return outcome{Status: 401, Message: "No API key found in request", WWWAuth: realm}
}
func invalid(realm string) outcome {
	return outcome{Status: 401, Message: "Unauthorized", WWWAuth: realm}
}
func duplicate(realm string) outcome {
	return outcome{Status: 401, Message: "Duplicate API key found", WWWAuth: realm}
}

const (
	ctForm = "application/x-www-form-urlencoded"
	ctJSON = "application/json"
)

const boundary = "turnpike-test-boundary"

var ctMultipart = "multipart/form-data; boundary=" + boundary

// multipartBody encodes name, value pairs as multipart/form-data.
func multipartBody(t *testing.T, kv ...string) string {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(boundary); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if err := mw.WriteField(kv[i], kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	return buf.String()
}

// multipartFields decodes a multipart body into name=value lines.
func multipartFields(t *testing.T, body string) []string {
	t.Helper()
	mr := multipart.NewReader(strings.NewReader(body), boundary)
	var out []string
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("upstream multipart body %q: %v", body, err)
		}
		v, _ := io.ReadAll(p)
		out = append(out, p.FormName()+"="+string(v))
	}
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "key-auth" || reg.Priority != 1250 || !reg.NoConsumer {
		t.Fatalf("got %+v", reg)
	}
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	want := &Config{KeyNames: []string{"apikey"}, KeyInHeader: true, KeyInQuery: true, RunOnPreflight: true}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want plugin.Errors
	}{
		{name: "defaults"},
		{name: "underscore and hyphen names", set: func(c *Config) { c.KeyNames = []string{"api_key", "X-Api-Key"} }},
		{name: "no names", set: func(c *Config) { c.KeyNames = []string{} }},
		{name: "null names", set: func(c *Config) { c.KeyNames = nil }, want: plugin.Errors{{Path: "key_names", Message: "required field missing"}}},
		{
			name: "bad names",
			set:  func(c *Config) { c.KeyNames = []string{"ok", "a b", ""} },
			want: plugin.Errors{
				{Path: "key_names[1]", Message: "bad header name 'a b', allowed characters are A-Z, a-z, 0-9, '_', and '-'"},
				{Path: "key_names[2]", Message: "no header name provided"},
			},
		},
		{
			name: "empty strings",
			set:  func(c *Config) { c.Anonymous, c.Realm = str(""), str("") },
			want: plugin.Errors{
				{Path: "anonymous", Message: "length must be at least 1"},
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

// The scenarios of Kong's spec/03-plugins/09-key-auth/02-access_spec.lua.
func TestAccess(t *testing.T) {
	realm := func(c *Config) { c.Realm = str("test-realm") }
	hide := func(c *Config) { c.HideCredentials = true }
	inBody := func(c *Config) { c.KeyInBody = true }
	hideBody := func(c *Config) { c.KeyInBody, c.HideCredentials = true, true }
	anon := func(c *Config) { c.Anonymous = str("anon-id") }

	tests := []struct {
		name string
		set  func(*Config)
		req  req
		want outcome
	}{
		// Unauthorized
		{name: "preflight skipped", set: func(c *Config) { c.RunOnPreflight = false }, req: req{method: "OPTIONS"},
			want: outcome{Status: 200}},
		{name: "preflight authenticated", req: req{method: "OPTIONS"}, want: noKey("Key")},
		{name: "missing credentials", want: noKey("Key")},
		{name: "empty key header", req: req{header: []string{"apikey", ""}}, want: noKey("Key")},
		{name: "empty key header with realm", set: realm, req: req{header: []string{"apikey", ""}}, want: noKey(`Key realm="test-realm"`)},
		{name: "empty header beats the query", req: req{target: "/request?apikey=kong", header: []string{"apikey", ""}}, want: noKey("Key")},
		{name: "query flag", req: req{target: "/request?apikey"}, want: noKey("Key")},
		{name: "empty query value", req: req{target: "/request?apikey="}, want: noKey("Key")},

		// key in querystring
		{name: "query", req: req{target: "/request?apikey=kong"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Query: "apikey=kong"}},
		{name: "query encoded name", req: req{target: "/request?api%6B%65%79=kong"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Query: "api%6B%65%79=kong"}},
		{name: "query invalid key", req: req{target: "/request?apikey=123"}, want: invalid("Key")},
		{name: "query duplicate", req: req{target: "/request?apikey=kong&apikey=kong"}, want: duplicate("Key")},
		{name: "query duplicate with flag", req: req{target: "/request?apikey&apikey=kong"}, want: duplicate("Key")},
		{name: "query duplicate with realm", set: realm, req: req{target: "/request?apikey=kong&apikey=kong"}, want: duplicate(`Key realm="test-realm"`)},

		// key in headers
		{name: "header", req: req{header: []string{"apikey", "kong"}}, want: outcome{Status: 200, Identity: bobIdentity("cred-kong")}},
		{name: "header any case", req: req{header: []string{"APIKEY", "kong"}}, want: outcome{Status: 200, Identity: bobIdentity("cred-kong")}},
		{name: "header invalid key", req: req{header: []string{"apikey", "123"}}, want: invalid("Key")},
		{name: "header invalid key with realm", set: realm, req: req{header: []string{"apikey", "123"}}, want: invalid(`Key realm="test-realm"`)},
		{name: "header duplicate", req: req{header: []string{"apikey", "kong", "apikey", "kong"}}, want: duplicate("Key")},
		{name: "header case-sensitive key", req: req{header: []string{"apikey", "KONG"}}, want: invalid("Key")},
		{name: "underscore key name reads the hyphen header", set: func(c *Config) { c.KeyNames = []string{"api_key"} },
			req: req{header: []string{"api-key", "kong"}}, want: outcome{Status: 200, Identity: bobIdentity("cred-kong")}},
		{name: "underscore key name reads the underscore header", set: func(c *Config) { c.KeyNames = []string{"api_key"} },
			req: req{header: []string{"API_KEY", "kong"}}, want: outcome{Status: 200, Identity: bobIdentity("cred-kong")}},
		{name: "underscore spelling first", set: func(c *Config) { c.KeyNames = []string{"api_key"} },
			req: req{header: []string{"api_key", "kong", "api-key", "123"}}, want: outcome{Status: 200, Identity: bobIdentity("cred-kong")}},
		{name: "hyphen key name does not read the underscore header", set: func(c *Config) { c.KeyNames = []string{"api-key"} },
			req: req{header: []string{"api_key", "kong"}}, want: noKey("Key")},
		{name: "underscore key name in query", set: func(c *Config) { c.KeyNames = []string{"api_key"} },
			req: req{target: "/request?api_key=123"}, want: invalid("Key")},
		{name: "hyphen key name", set: func(c *Config) { c.KeyNames = []string{"api-key"} },
			req: req{header: []string{"api-key", "123"}}, want: invalid("Key")},
		{name: "second key name", set: func(c *Config) { c.KeyNames = []string{"apikey", "x-token"} },
			req: req{target: "/request?x-token=kong"}, want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Query: "x-token=kong"}},
		{name: "first key name wins", set: func(c *Config) { c.KeyNames = []string{"apikey", "x-token"} },
			req: req{header: []string{"apikey", "123", "x-token", "kong"}}, want: invalid("Key")},
		{name: "a query flag hides later sources", set: func(c *Config) { c.KeyNames = []string{"apikey", "x-token"} },
			req: req{target: "/request?apikey&x-token=kong"}, want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Query: "apikey&x-token=kong"}},
		{name: "header disabled", set: func(c *Config) { c.KeyInHeader = false }, req: req{header: []string{"apikey", "kong"}}, want: noKey("Key")},
		{name: "query disabled", set: func(c *Config) { c.KeyInQuery = false }, req: req{target: "/request?apikey=kong"}, want: noKey("Key")},

		// expiry
		{name: "expired key", req: req{header: []string{"apikey", "expired"}}, want: invalid("Key")},
		{name: "key before its expiry", req: req{header: []string{"apikey", "later"}}, want: outcome{Status: 200, Identity: bobIdentity("cred-later")}},

		// client-sent identity headers are replaced
		{name: "spoofed identity replaced", req: req{header: []string{"apikey", "kong", "X-Consumer-Username", "mallory", "X-Anonymous-Consumer", "true"}},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong")}},

		// key in request body
		{name: "form", set: inBody, req: req{ct: ctForm, body: "apikey=kong"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Body: "apikey=kong"}},
		{name: "form with charset", set: inBody, req: req{ct: "Application/X-WWW-Form-Urlencoded; charset=utf-8", body: "a=1&apikey=kong"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Body: "a=1&apikey=kong"}},
		{name: "form key in query", set: inBody, req: req{target: "/request?apikey=kong", ct: ctForm, body: "non_apikey=kong"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Query: "apikey=kong", Body: "non_apikey=kong"}},
		{name: "form key in header", set: inBody, req: req{header: []string{"apikey", "kong"}, ct: ctForm, body: "non_apikey=kong"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Body: "non_apikey=kong"}},
		{name: "form invalid key", set: inBody, req: req{ct: ctForm, body: "apikey=123"}, want: invalid("Key")},
		{name: "form duplicate", set: inBody, req: req{ct: ctForm, body: "apikey=kong&apikey=kong"}, want: duplicate("Key")},
		{name: "form apikey[] is not a key", set: inBody, req: req{ct: ctForm, body: "apikey[]=kong&apikey[]=kong"}, want: noKey("Key")},
		{name: "form apikey[1] is not a key", set: inBody, req: req{ct: ctForm, body: "apikey[1]=kong&apikey[1]=kong"}, want: noKey("Key")},
		{name: "form encoded", set: inBody, req: req{ct: ctForm, body: "api%6Bey=k%6Fng"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Body: "api%6Bey=k%6Fng"}},
		{name: "form not read when disabled", req: req{ct: ctForm, body: "apikey=kong"}, want: noKey("Key")},
		{name: "json", set: inBody, req: req{ct: ctJSON, body: `{"apikey":"kong"}`},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Body: `{"apikey":"kong"}`}},
		{name: "json escaped", set: inBody, req: req{ct: ctJSON, body: `{"api\u006bey":"k\u006fng"}`},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Body: `{"api\u006bey":"k\u006fng"}`}},
		{name: "json invalid key", set: inBody, req: req{ct: ctJSON, body: `{"apikey":"123"}`}, want: invalid("Key")},
		{name: "json duplicate", set: inBody, req: req{ct: ctJSON, body: `{"apikey":["kong","kong"]}`}, want: duplicate("Key")},
		{name: "json object value", set: inBody, req: req{ct: ctJSON, body: `{"apikey":{"a":"kong"}}`}, want: duplicate("Key")},
		{name: "json number", set: inBody, req: req{ct: ctJSON, body: `{"apikey":12}`}, want: noKey("Key")},
		{name: "json repeated member, last wins", set: inBody, req: req{ct: ctJSON, body: `{"apikey":"123","apikey":"kong"}`},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Body: `{"apikey":"123","apikey":"kong"}`}},
		{name: "json array", set: inBody, req: req{ct: ctJSON, body: `["kong"]`}, want: noKey("Key")},
		{name: "json malformed", set: inBody, req: req{ct: ctJSON, body: `{"apikey":"kong"`}, want: noKey("Key")},
		{name: "json trailing data", set: inBody, req: req{ct: ctJSON, body: `{"apikey":"kong"} x`}, want: noKey("Key")},
		{name: "multipart", set: inBody, req: req{ct: ctMultipart, body: multipartBody(t, "apikey", "kong")},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Body: multipartBody(t, "apikey", "kong")}},
		{name: "multipart invalid key", set: inBody, req: req{ct: ctMultipart, body: multipartBody(t, "apikey", "123")}, want: invalid("Key")},
		{name: "multipart duplicate", set: inBody, req: req{ct: ctMultipart, body: multipartBody(t, "apikey", "kong", "apikey", "kong")}, want: duplicate("Key")},
		{name: "multipart without boundary", set: inBody, req: req{ct: "multipart/form-data", body: multipartBody(t, "apikey", "kong")}, want: noKey("Key")},
		{name: "unsupported content type", set: hideBody, req: req{ct: "text/plain", body: "foobar"},
			want: noKey("Key")},

		// config.hide_credentials
		{name: "query kept", req: req{target: "/request?c=valu%651&b=value2&apikey=kong&a=valu%653"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Query: "c=valu%651&b=value2&apikey=kong&a=valu%653"}},
		{name: "query hidden, order kept", set: hide, req: req{target: "/request?c=value1&b=value2&apikey=kong&a=value3"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Query: "c=value1&b=value2&a=value3"}},
		{name: "encoded query hidden", set: hide, req: req{target: "/request?c=valu%651&b=value2&api%6B%65%79=kong&a=valu%653"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Query: "c=value1&b=value2&a=value3"}},
		{name: "query hidden, re-encoded as Kong does", set: hide, req: req{target: "/request?q=a+b%2Bc~*&flag&apikey=kong"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Query: "q=a%20b%2Bc%7E*&flag="}},
		{name: "query arg hidden when the key came from the header", set: hide,
			req:  req{target: "/request?apikey=other&x=1", header: []string{"apikey", "kong"}},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Query: "x=1"}},
		{name: "header hidden", set: hide, req: req{header: []string{"apikey", "kong", "X-Other", "1"}},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong")}},
		{name: "underscore header hidden", set: func(c *Config) { c.HideCredentials, c.KeyNames = true, []string{"api_key"} },
			req: req{header: []string{"api_key", "kong"}}, want: outcome{Status: 200, Identity: bobIdentity("cred-kong")}},
		{name: "form hidden", set: hideBody, req: req{ct: ctForm, body: "foo=bar&apikey=kong&z=%20"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Body: "foo=bar&z=%20"}},
		{name: "form hidden when only the key", set: hideBody, req: req{ct: ctForm, body: "apikey=kong"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Body: ""}},
		{name: "form field hidden when the key came from the header", set: hideBody,
			req:  req{header: []string{"apikey", "kong"}, ct: ctForm, body: "apikey=x&foo=bar"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Body: "foo=bar"}},
		{name: "form kept", set: inBody, req: req{ct: ctForm, body: "foo=bar&apikey=kong"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Body: "foo=bar&apikey=kong"}},
		{name: "json hidden", set: hideBody, req: req{ct: ctJSON, body: `{"foo": "bar", "apikey": "kong", "n": [1, 2], "h": "<&>"}`},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Body: `{"foo":"bar","n":[1, 2],"h":"<&>"}`}},
		{name: "json untouched without the key", set: hideBody, req: req{header: []string{"apikey", "kong"}, ct: ctJSON, body: `{"foo": "bar"}`},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Body: `{"foo": "bar"}`}},

		// config.anonymous
		{name: "anonymous with right credentials", set: anon, req: req{target: "/request?apikey=kong"},
			want: outcome{Status: 200, Identity: bobIdentity("cred-kong"), Query: "apikey=kong"}},
		{name: "anonymous without credentials", set: anon, want: outcome{Status: 200, Identity: anonIdentity}},
		{name: "anonymous with wrong credentials", set: anon, req: req{header: []string{"apikey", "123"}}, want: outcome{Status: 200, Identity: anonIdentity}},
		{name: "anonymous with duplicate credentials", set: anon, req: req{target: "/request?apikey=a&apikey=b"},
			want: outcome{Status: 200, Identity: anonIdentity, Query: "apikey=a&apikey=b"}},
		{name: "anonymous with an expired key", set: anon, req: req{header: []string{"apikey", "expired"}}, want: outcome{Status: 200, Identity: anonIdentity}},
		{name: "anonymous by username", set: func(c *Config) { c.Anonymous = str("no-body") }, want: outcome{Status: 200, Identity: anonIdentity}},
		{name: "anonymous replaces spoofed headers", set: anon, req: req{header: []string{"X-Credential-Identifier", "x", "X-Consumer-Custom-Id", "y"}},
			want: outcome{Status: 200, Identity: anonIdentity}},
		{name: "anonymous does not exist", set: func(c *Config) { c.Anonymous = str("00000000-0000-0000-0000-000000000000") },
			want: outcome{Status: 500, Message: "anonymous consumer 00000000-0000-0000-0000-000000000000 is configured but doesn't exist"}},
		{name: "anonymous does not exist but the key is right", set: func(c *Config) { c.Anonymous = str("ghost") },
			req: req{header: []string{"apikey", "kong"}}, want: outcome{Status: 200, Identity: bobIdentity("cred-kong")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustBuild(t, tt.set)
			c := newCtx(tt.req)
			got := run(t, in, c)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			if got.Status == 200 && in.hide {
				for _, k := range in.keys {
					if key, _ := k.header.Values(c.Req.Header); key != "" {
						t.Errorf("%s still sent upstream", key)
					}
				}
			}
		})
	}
}

// Every key in the body may be hidden, whatever the body's type; the
// other fields and the content type are kept.
func TestHideCredentialsInBody(t *testing.T) {
	in := mustBuild(t, func(c *Config) { c.KeyInBody, c.HideCredentials = true, true })
	for _, tt := range []struct {
		ct, body string
		fields   func(string) []string
	}{
		{ctForm, "apikey=kong&foo=bar", func(b string) []string {
			v, _ := url.ParseQuery(b)
			return []string{"apikey=" + v.Get("apikey"), "foo=" + v.Get("foo")}
		}},
		{ctJSON, `{"apikey":"kong","foo":"bar"}`, func(b string) []string { return []string{b} }},
		{ctMultipart, multipartBody(t, "apikey", "kong", "foo", "bar"), func(b string) []string { return multipartFields(t, b) }},
	} {
		t.Run(tt.ct, func(t *testing.T) {
			c := newCtx(req{ct: tt.ct, body: tt.body})
			got := run(t, in, c)
			if got.Status != 200 {
				t.Fatalf("got %+v", got)
			}
			want := map[string][]string{
				ctForm:      {"apikey=", "foo=bar"},
				ctJSON:      {`{"foo":"bar"}`},
				ctMultipart: {"foo=bar"},
			}[tt.ct]
			if diff := cmp.Diff(want, tt.fields(got.Body)); diff != "" {
				t.Errorf("upstream body %q (-want +got):\n%s", got.Body, diff)
			}
			if ct := c.Req.Header.Get("Content-Type"); ct != tt.ct {
				t.Errorf("Content-Type %q, want %q", ct, tt.ct)
			}
		})
	}
}

// Kong's matrix of key_in_header / key_in_query / key_in_body settings
// against a right, wrong or missing key in each place: the first enabled
// place holding a key decides.
func TestKeyLocations(t *testing.T) {
	places := []string{"", "right", "wrong"}
	for mask := range 8 {
		h, q, b := mask&4 != 0, mask&2 != 0, mask&1 != 0
		in := mustBuild(t, func(c *Config) { c.KeyInHeader, c.KeyInQuery, c.KeyInBody = h, q, b })
		for _, hv := range places {
			for _, qv := range places {
				for _, bv := range places {
					name := fmt.Sprintf("header=%v:%q query=%v:%q body=%v:%q", h, hv, q, qv, b, bv)
					r := req{method: http.MethodPost, ct: ctForm}
					if hv != "" {
						r.header = []string{"apikey", hv}
					}
					if qv != "" {
						r.target = "/request?apikey=" + qv
					}
					if bv != "" {
						r.body = "apikey=" + bv
					}
					decisive := ""
					for _, p := range []struct {
						on bool
						v  string
					}{{h, hv}, {q, qv}, {b, bv}} {
						if p.on && p.v != "" {
							decisive = p.v
							break
						}
					}
					want := 401
					if decisive == "right" {
						want = 200
					}
					got := run(t, in, newCtx(r))
					if got.Status != want || want == 401 && got.WWWAuth != "Key" {
						t.Errorf("%s: %+v, want %d", name, got, want)
					}
				}
			}
		}
	}
}

// Kong's logical AND and OR between auth plugins.
func TestEarlierAuthentication(t *testing.T) {
	other := &plugin.Credential{ID: "basic-cred", Kind: "basic-auth", Consumer: nobody}
	for _, tt := range []struct {
		name      string
		anonymous bool
		header    []string
		want      outcome
	}{
		{name: "OR: already authenticated", anonymous: true, want: outcome{Status: 200, Identity: http.Header{
			"X-Consumer-Id": {"anon-id"}, "X-Consumer-Username": {"no-body"}, "X-Credential-Identifier": {"basic-cred"}}}},
		{name: "OR: already authenticated, key ignored", anonymous: true, header: []string{"apikey", "kong"}, want: outcome{Status: 200, Identity: http.Header{
			"X-Consumer-Id": {"anon-id"}, "X-Consumer-Username": {"no-body"}, "X-Credential-Identifier": {"basic-cred"}}}},
		{name: "AND: key still required", want: noKey("Key")},
		{name: "AND: key authenticates too", header: []string{"apikey", "kong"}, want: outcome{Status: 200, Identity: bobIdentity("cred-kong")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := mustBuild(t, func(c *Config) {
				if tt.anonymous {
					c.Anonymous = str("anon-id")
				}
			})
			c := newCtx(req{header: tt.header})
			plugin.Authenticate(c, other)
			if diff := cmp.Diff(tt.want, run(t, in, c)); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
	// After an anonymous fallback the next plugin still tries.
	in := mustBuild(t, func(c *Config) { c.Anonymous = str("anon-id") })
	c := newCtx(req{header: []string{"apikey", "kong"}})
	plugin.AuthenticateAnonymous(c, nobody)
	if diff := cmp.Diff(outcome{Status: 200, Identity: bobIdentity("cred-kong")}, run(t, in, c)); diff != "" {
		t.Fatalf("after anonymous (-want +got):\n%s", diff)
	}
}

func TestNoDirectory(t *testing.T) {
	c := newCtx(req{header: []string{"apikey", "kong"}})
	c.Directory = nil
	if got := run(t, mustBuild(t, nil), c); !cmp.Equal(got, invalid("Key")) {
		t.Fatalf("got %+v", got)
	}
	c = newCtx(req{})
	c.Directory = nil
	got := run(t, mustBuild(t, func(c *Config) { c.Anonymous = str("x") }), c)
	if got.Status != 500 {
		t.Fatalf("got %+v", got)
	}
}

// A body too large to search is passed on whole.
func TestLargeBody(t *testing.T) {
	in := mustBuild(t, func(c *Config) { c.KeyInBody, c.HideCredentials = true, true })
	body := "apikey=kong&pad=" + strings.Repeat("x", maxBodyBytes)
	c := newCtx(req{ct: ctForm, body: body})
	got := run(t, in, c)
	if got.Status != 401 || got.Message != "No API key found in request" {
		t.Fatalf("got %d %q", got.Status, got.Message)
	}
	b, _ := io.ReadAll(c.Req.Body)
	if string(b) != body {
		t.Fatalf("upstream body changed: %d bytes, want %d", len(b), len(body))
	}
}

type failingReader struct{ data string }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.data == "" {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// A body that fails to arrive fails the same way for the upstream.
func TestBodyReadError(t *testing.T) {
	in := mustBuild(t, func(c *Config) { c.KeyInBody = true })
	c := newCtx(req{ct: ctForm})
	c.Req.Method = http.MethodPost
	c.Req.Body = io.NopCloser(&failingReader{data: "apikey=kong"})
	c.Req.ContentLength = -1
	if got := run2(in, c); got == nil || got.Message != "No API key found in request" {
		t.Fatalf("got %v", got)
	}
	b, err := io.ReadAll(c.Req.Body)
	if string(b) != "apikey=kong" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("upstream body %q, %v", b, err)
	}
}

func run2(in *instance, c *plugin.Ctx) *plugin.Exit {
	var e *plugin.Exit
	errors.As(in.Access(c), &e)
	return e
}

// A chunked body found to hold the key is sent on with its length.
func TestChunkedBody(t *testing.T) {
	in := mustBuild(t, func(c *Config) { c.KeyInBody = true })
	c := newCtx(req{ct: ctJSON})
	c.Req.Method = http.MethodPost
	c.Req.Body = io.NopCloser(strings.NewReader(`{"apikey":"kong"}`))
	c.Req.ContentLength = -1
	if e := run2(in, c); e != nil {
		t.Fatal(e)
	}
	if c.Req.ContentLength != int64(len(`{"apikey":"kong"}`)) {
		t.Fatalf("ContentLength %d", c.Req.ContentLength)
	}
}

func TestRemoveQueryArg(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"apikey=kong", ""},
		{"a=1&&apikey=x&apikey=y&b", "a=1&b="},
		{"x=%zz&y=%E2%82%AC&z=%ff", "x=%25zz&y=%E2%82%AC&z=%EF%BF%BD"},
	} {
		if got := removeQueryArg(tt.in, "apikey"); got != tt.want {
			t.Errorf("removeQueryArg(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// BenchmarkHeaderKey is the access phase for a key in a header among
// 100,000 consumers, each request with another of their keys in a random
// order. The request and its header map are the server's work, made once;
// the loop only puts the next key in the header.
func BenchmarkHeaderKey(b *testing.B) {
	var src strings.Builder
	src.WriteString("_format_version: \"3.0\"\nconsumers:\n")
	for i := range 100_000 {
		fmt.Fprintf(&src, "  - username: user-%d\n    keyauth_credentials: [{key: key-%d}]\n", i, i)
	}
	reg, err := plugin.NewRegistry([]plugin.Registration{Registration()})
	if err != nil {
		b.Fatal(err)
	}
	m, err := config.Parse([]byte(src.String()), config.Options{Credentials: snapshot.CredentialKinds(reg)})
	if err != nil {
		b.Fatal(err)
	}
	d := snapshot.NewDirectory(m, now, nil, reg.CredentialKinds())
	keys := make([]string, 100_000)
	for i, n := range rand.New(rand.NewPCG(1, 2)).Perm(len(keys)) {
		keys[i] = "key-" + strconv.Itoa(n)
	}
	in := mustBuild(b, nil)
	hr := httptest.NewRequest(http.MethodGet, "/request", nil)
	hr.Header = http.Header{"Apikey": {""}}
	slot := hr.Header["Apikey"]
	c := &plugin.Ctx{Directory: d, Req: hr}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		slot[0], c.Consumer = keys[i], nil
		if err := in.Access(c); err != nil {
			b.Fatal(err)
		}
		if c.Consumer == nil {
			b.Fatalf("%s: no consumer", keys[i])
		}
		if i++; i == len(keys) {
			i = 0
		}
	}
}

// Logs redact every key name as a header (with dashes too) and as a query
// argument, on every request.
func TestSecretsAreTheKeyNames(t *testing.T) {
	h, q := Registration().Secrets(&Config{KeyNames: []string{"api_key", "apikey"}})
	if strings.Join(h, ",") != "api_key,api-key,apikey,apikey" || strings.Join(q, ",") != "api_key,apikey" {
		t.Errorf("headers %v, query %v", h, q)
	}
}

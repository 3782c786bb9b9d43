package ratelimiting

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
)

func unsignedJWT(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

func TestIdentify(t *testing.T) {
	alice := &plugin.Consumer{ID: "c-alice", Username: "alice"}
	bob := &plugin.Consumer{ID: "c-bob", Username: "bob"}
	anonymous := &plugin.Consumer{ID: "c-anonymous", Username: "anonymous"}
	dir := &plugintest.Directory{
		Consumers: []*plugin.Consumer{alice, bob},
		GroupsOf:  map[string][]string{"c-alice": {"gold", "beta"}},
	}
	long := strings.Repeat("x", 200)
	digest := boundIdentifier(long)
	type req struct {
		consumer   *plugin.Consumer
		credential string
		service    string
		path       string
		query      string
		header     [][2]string
		claims     plugin.Claims
	}
	tests := []struct {
		name string
		doc  string
		req  req
		want string
	}{
		{name: "consumer", doc: `{minute: 1}`, req: req{consumer: alice, credential: "cred-1"}, want: "c-alice"},
		{name: "consumer falls back to the credential", doc: `{minute: 1}`, req: req{credential: "cred-1"}, want: "cred-1"},
		{name: "consumer falls back to the IP", doc: `{minute: 1}`, want: "192.0.2.7"},
		{name: "credential", doc: `{minute: 1, limit_by: credential}`, req: req{consumer: alice, credential: "cred-1"}, want: "cred-1"},
		{name: "credential falls back to the IP", doc: `{minute: 1, limit_by: credential}`, req: req{consumer: alice}, want: "192.0.2.7"},
		{name: "ip", doc: `{minute: 1, limit_by: ip}`, req: req{consumer: alice}, want: "192.0.2.7"},
		{name: "service", doc: `{minute: 1, limit_by: service}`, req: req{service: "svc-1"}, want: "svc-1"},
		{name: "no service", doc: `{minute: 1, limit_by: service}`, want: "192.0.2.7"},
		{
			name: "header, first value, any case and underscore",
			doc:  `{minute: 1, limit_by: header, header_name: x_app_version}`,
			req:  req{header: [][2]string{{"X-App-Version", "v1"}, {"X-App-Version", "v2"}}},
			want: "v1",
		},
		{name: "header missing", doc: `{minute: 1, limit_by: header, header_name: x-app}`, want: "192.0.2.7"},
		{name: "path matches", doc: `{minute: 1, limit_by: path, path: /1-test}`, req: req{path: "/1-test"}, want: "/1-test"},
		{name: "other path", doc: `{minute: 1, limit_by: path, path: /1-test}`, req: req{path: "/2-test"}, want: "192.0.2.7"},
		{
			name: "jwt claim from the verified claims",
			doc:  `{minute: 1, limit_by: jwt-claim, claim_name: client_id}`,
			req: req{
				claims: fakeClaims{"client_id": "verified"},
				header: [][2]string{{"Authorization", "Bearer " + unsignedJWT(`{"client_id":"forged"}`)}},
			},
			want: "verified",
		},
		{
			name: "verified token without the claim: the IP, never the forgeable header",
			doc:  `{minute: 1, limit_by: jwt-claim, claim_name: client_id}`,
			req: req{
				claims: fakeClaims{"sub": "u"},
				header: [][2]string{{"Authorization", "Bearer " + unsignedJWT(`{"client_id":"forged"}`)}},
			},
			want: "192.0.2.7",
		},
		{
			name: "anonymous consumer after a refused token: the IP, never the unverified claim",
			doc:  `{minute: 1, limit_by: jwt-claim, claim_name: client_id}`,
			req: req{
				consumer: anonymous,
				header:   [][2]string{{"Authorization", "Bearer " + unsignedJWT(`{"client_id":"forged"}`)}},
			},
			want: "192.0.2.7",
		},
		{
			name: "authenticated by another plugin: the IP, never the unverified claim",
			doc:  `{minute: 1, limit_by: jwt-claim, claim_name: client_id}`,
			req: req{
				consumer: alice, credential: "cred-1",
				query: "jwt=" + unsignedJWT(`{"client_id":"forged"}`),
			},
			want: "192.0.2.7",
		},
		{
			name: "a credential without consumer also means an auth plugin ran",
			doc:  `{minute: 1, limit_by: jwt-claim, claim_name: client_id}`,
			req: req{
				credential: "cred-1",
				header:     [][2]string{{"Authorization", "Bearer " + unsignedJWT(`{"client_id":"forged"}`)}},
			},
			want: "192.0.2.7",
		},
		{
			name: "no auth plugin ran: the claim from the bearer token, unverified",
			doc:  `{minute: 1, limit_by: jwt-claim, claim_name: client_id}`,
			req:  req{header: [][2]string{{"Authorization", "bearer " + unsignedJWT(`{"client_id":"app-7","sub":"u"}`)}}},
			want: "app-7",
		},
		{
			name: "jwt claim from the jwt query argument first",
			doc:  `{minute: 1, limit_by: jwt-claim, claim_name: client_id}`,
			req: req{
				query:  "a=1&jwt=" + unsignedJWT(`{"client_id":"from-query"}`),
				header: [][2]string{{"Authorization", "Bearer " + unsignedJWT(`{"client_id":"from-header"}`)}},
			},
			want: "from-query",
		},
		{
			name: "numeric and structured claims",
			doc:  `{minute: 1, limit_by: jwt-claim, claim_name: org}`,
			req:  req{header: [][2]string{{"Authorization", "Bearer " + unsignedJWT(`{"org":{"id":5}}`)}}},
			want: `{"id":5}`,
		},
		{
			name: "jwt claim missing",
			doc:  `{minute: 1, limit_by: jwt-claim, claim_name: client_id}`,
			req:  req{header: [][2]string{{"Authorization", "Bearer " + unsignedJWT(`{"sub":"u"}`)}}},
			want: "192.0.2.7",
		},
		{
			name: "not a jwt",
			doc:  `{minute: 1, limit_by: jwt-claim, claim_name: client_id}`,
			req:  req{header: [][2]string{{"Authorization", "Bearer abc.%%%.def"}}},
			want: "192.0.2.7",
		},
		{name: "consumer group: the first", doc: `{minute: 1, limit_by: consumer-group}`, req: req{consumer: alice}, want: "gold"},
		{name: "consumer without groups", doc: `{minute: 1, limit_by: consumer-group}`, req: req{consumer: bob}, want: "192.0.2.7"},
		// Kong reads header_name with kong.request.get_header(), NGINX's
		// $http_ variable, for which '-' and '_' are one (rate-limiting's
		// handler.lua).
		{
			name: "header spelt with underscores",
			doc:  `{minute: 1, limit_by: header, header_name: x-client-id}`,
			req:  req{header: [][2]string{{"X_Client_ID", "c1"}}},
			want: "c1",
		},
		{
			name: "underscore header name, dashed header",
			doc:  `{minute: 1, limit_by: header, header_name: x_client_id}`,
			req:  req{header: [][2]string{{"X-Client-Id", "c2"}}},
			want: "c2",
		},
		{
			name: "underscore header name, both spellings: the exact one",
			doc:  `{minute: 1, limit_by: header, header_name: x_client_id}`,
			req:  req{header: [][2]string{{"X-Client-Id", "dashed"}, {"x_client_id", "exact"}}},
			want: "exact",
		},
		{
			name: "long identifiers are digested",
			doc:  `{minute: 1, limit_by: header, header_name: x-k}`,
			req:  req{header: [][2]string{{"X-K", long}}},
			want: digest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := build(t, tt.doc, nil)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tt.req.header {
				r.Header.Add(h[0], h[1])
			}
			c := &plugin.Ctx{
				Req: r, ClientIP: "192.0.2.7", ClientPath: tt.req.path, RawQuery: tt.req.query,
				Consumer: tt.req.consumer, Credential: tt.req.credential, Directory: dir, Claims: tt.req.claims,
			}
			if tt.req.service != "" {
				c.Service = &plugin.ServiceInfo{ID: tt.req.service}
			}
			if got := in.identify(c); got != tt.want {
				t.Fatalf("identify = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBoundIdentifier(t *testing.T) {
	short := strings.Repeat("a", maxIdentifier)
	if boundIdentifier(short) != short {
		t.Fatal("an identifier at the bound was changed")
	}
	long := short + "b"
	got := boundIdentifier(long)
	if !strings.HasPrefix(got, "sha256:") || len(got) != len("sha256:")+64 || got == boundIdentifier(short+"c") {
		t.Fatalf("digest %q", got)
	}
}

// fakeClaims is the plugin.Claims of a token the jwt plugin verified.
type fakeClaims map[string]string

func (f fakeClaims) Claim(name string) (string, bool) {
	v, ok := f[name]
	return v, ok
}

package openapi

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/importer/importertest"
)

// run imports one document given as text.
func run(t *testing.T, src string, opts Options) (*importer.Config, []string) {
	t.Helper()
	var (
		cfg importer.Config
		ws  importer.Warnings
	)
	docs := importer.Split([]byte(src))
	for i := range docs {
		docs[i].File = "api.yaml"
	}
	if err := Import(docs, opts, &cfg, &ws); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, w := range ws {
		out = append(out, w.String())
	}
	return &cfg, out
}

func routes(cfg *importer.Config) map[string]*importer.Route {
	m := map[string]*importer.Route{}
	for _, s := range cfg.Services {
		for _, r := range s.Routes {
			m[r.Name] = r
		}
	}
	for _, r := range cfg.Routes {
		m[r.Name] = r
	}
	return m
}

// TestPathRegex ports openapi2kong's path parameter cases
// (12-path-parameter-regex): literal text escaped, parameters as named
// groups of one segment, names made valid group names.
func TestPathRegex(t *testing.T) {
	cases := []struct{ path, want string }{
		{"/", "~/$"},
		{"/application/", "~/application/$"},
		{"/batchs(Material='iron',Batch='10')", `~/batchs\(Material='iron',Batch='10'\)$`},
		{"/batchs(Material='{Material}',Batch='{Batch}')", `~/batchs\(Material='(?<material>[^#?/]+)',Batch='(?<batch>[^#?/]+)'\)$`},
		{"/demo/{something}/else/{-to-do}/", "~/demo/(?<something>[^#?/]+)/else/(?<to_do>[^#?/]+)/$"},
		{"/files/{proxy+}", "~/files/(?<proxy>.+)$"},
		{"/v1.2/{1st}", `~/v1\.2/(?<1st>[^#?/]+)$`},
		{"/demo/{white space}/{x-x}/{-to-do}", "~/demo/(?<white_space>[^#?/]+)/(?<x_x>[^#?/]+)/(?<to_do>[^#?/]+)$"},
		{"/some/$test", `~/some/\$test$`},
	}
	for _, tc := range cases {
		got, _, _ := pathRegex(tc.path)
		if got != tc.want {
			t.Errorf("pathRegex(%q) = %q, want %q", tc.path, got, tc.want)
		}
		if _, err := regexp.Compile(strings.TrimPrefix(got, "~")); err != nil {
			t.Errorf("%q does not compile: %v", got, err)
		}
	}
}

// TestNames ports openapi2kong's inferred names (01-names-inferred): the
// service after the title, routes after the operationId or the path and
// method, a trailing slash as ~, everything slugified.
func TestNames(t *testing.T) {
	cfg, ws := run(t, `
openapi: 3.0.0
info: {title: Simple API overview, version: v2}
servers:
  - url: http://backend1.com/some/path
  - url: http://backend2.com/some/path
paths:
  /:
    get: {operationId: opsid1, responses: {"200": {description: ok}}}
    post: {responses: {"200": {description: ok}}}
  /application:
    get: {operationId: opsid2, responses: {"200": {description: ok}}}
    post: {responses: {"200": {description: ok}}}
  /application/:
    get: {operationId: opsid3, responses: {"200": {description: ok}}}
    post: {responses: {"200": {description: ok}}}
`, Options{})
	if len(ws) != 0 {
		t.Errorf("warnings: %q", ws)
	}
	if len(cfg.Services) != 1 || cfg.Services[0].Name != "simple-api-overview" || cfg.Services[0].Host != "simple-api-overview.upstream" || cfg.Services[0].Path != "/some/path" {
		t.Fatalf("services: %+v", cfg.Services)
	}
	got := map[string]string{}
	for name, r := range routes(cfg) {
		got[name] = r.Paths[0] + " " + strings.Join(r.Methods, ",")
	}
	want := map[string]string{
		"simple-api-overview_opsid1":            "~/$ GET",
		"simple-api-overview_~_post":            "~/$ POST",
		"simple-api-overview_opsid2":            "~/application$ GET",
		"simple-api-overview_application_post":  "~/application$ POST",
		"simple-api-overview_opsid3":            "~/application/$ GET",
		"simple-api-overview_application~_post": "~/application/$ POST",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	if u := cfg.Upstreams; len(u) != 1 || len(u[0].Targets) != 2 || u[0].Targets[0].Target != "backend1.com:80" {
		t.Errorf("upstreams: %+v", u)
	}
}

func TestRefused(t *testing.T) {
	cases := []struct{ src, want string }{
		{"swagger: '1.2'\n", "only Swagger 2.0"},
		{"openapi: 2.5.0\n", "only OpenAPI 3.0 and 3.1"},
		{"apiVersion: v1\nkind: Service\n", "neither an OpenAPI 3"},
		{"openapi: [\n", "not YAML or JSON"},
		{"openapi: 3.0.0\npaths: 7\n", "api.yaml:1"},
	}
	for _, tc := range cases {
		docs := importer.Split([]byte(tc.src))
		docs[0].File = "api.yaml"
		var (
			cfg importer.Config
			ws  importer.Warnings
		)
		err := Import(docs, Options{}, &cfg, &ws)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.src, err, tc.want)
		}
	}
}

// TestSecurityFailsClosed: an operation whose security cannot be mapped is
// left out rather than imported open, with a warning naming it.
func TestSecurityFailsClosed(t *testing.T) {
	cfg, ws := run(t, `
openapi: 3.0.0
info: {title: t, version: "1"}
servers: [{url: "http://b.example.com"}]
components:
  securitySchemes:
    lambda:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authorizer: {type: token, authorizerUri: "arn:aws:apigateway:x"}
    cookie: {type: apiKey, name: sid, in: cookie}
    oidc: {type: openIdConnect, openIdConnectUrl: "https://idp/.well-known/openid-configuration"}
    key: {type: apiKey, name: apikey, in: query}
paths:
  /a: {get: {security: [{lambda: []}], responses: {"200": {description: ok}}}}
  /b: {get: {security: [{cookie: []}], responses: {"200": {description: ok}}}}
  /c: {get: {security: [{oidc: []}], responses: {"200": {description: ok}}}}
  /d: {get: {security: [{missing: []}], responses: {"200": {description: ok}}}}
  /e: {get: {security: [{key: []}, {}], responses: {"200": {description: ok}}}}
  /f: {get: {responses: {"200": {description: ok}}}}
`, Options{})
	rs := routes(cfg)
	if len(rs) != 2 || rs["t_e_get"] == nil || rs["t_f_get"] == nil {
		t.Fatalf("routes %v, want only t_e_get and t_f_get", rs)
	}
	if p := rs["t_e_get"].Plugins; len(p) != 1 || p[0].Name != "key-auth" || p[0].Config["key_in_header"] != false {
		t.Errorf("t_e_get plugins: %+v", p[0])
	}
	for _, want := range []string{
		`paths./a.get: components.securitySchemes.lambda.x-amazon-apigateway-authorizer.type: "token" (a Lambda authorizer) cannot be imported`,
		`paths./b.get: security.cookie: an API key in "cookie"`,
		`paths./c.get: security.oidc: type "openIdConnect"`,
		`paths./d.get: security.missing: no such security scheme`,
		`paths./e.get: security: an empty requirement makes authentication optional`,
	} {
		if !containsOne(ws, want) {
			t.Errorf("no warning containing %q in %q", want, ws)
		}
	}
}

func containsOne(ws []string, s string) bool {
	for _, w := range ws {
		if strings.Contains(w, s) {
			return true
		}
	}
	return false
}

// TestIntegrationEdges: unresolved stage variables, unknown sources, bad
// URIs and odd values are warnings, never a panic or a broken config.
func TestIntegrationEdges(t *testing.T) {
	cfg, ws := run(t, `
openapi: 3.0.0
info: {title: t, version: "1"}
paths:
  /a/{id}:
    get:
      responses: {"200": {description: ok}}
      x-amazon-apigateway-integration: {type: http, uri: "${stageVariables.host}/x/{id}"}
    put:
      responses: {"200": {description: ok}}
      x-amazon-apigateway-integration: {type: http, uri: "http://b.example.com/x/{other}"}
    post:
      responses: {"200": {description: ok}}
      x-amazon-apigateway-integration:
        type: HTTP_PROXY
        uri: "http://b.example.com:99999/"
    delete:
      responses: {"200": {description: ok}}
      x-amazon-apigateway-integration: "not an object"
    patch:
      responses: {"200": {description: ok}}
      x-amazon-apigateway-integration:
        type: http
        uri: "https://b.example.com/x/{id}?fixed=1"
        requestParameters:
          integration.request.header.X-Ctx: context.requestId
          integration.request.header.X-Bad: "'a$(b)'"
          integration.request.body.x: method.request.body
          integration.request.querystring.id2: method.request.path.id
          integration.request.header.X-Stage: stageVariables.env
          integration.request.header.Bad Name: "'x'"
    head:
      responses: {"200": {description: ok}}
      x-amazon-apigateway-integration:
        type: mock
        requestTemplates: {application/json: "not json"}
        responses:
          default: {statusCode: 503, responseTemplates: {text/plain: "#set($x = 1) down"}}
`, Options{StageVariables: map[string]string{"env": "prod"}})
	for _, want := range []string{
		"paths./a/{id}.get: x-amazon-apigateway-integration.uri: ${stageVariables.host} has no value",
		"paths./a/{id}.put: x-amazon-apigateway-integration.uri: path parameter {other} has no source",
		`paths./a/{id}.post: x-amazon-apigateway-integration.uri: port "99999" out of range`,
		"paths./a/{id}.delete: x-amazon-apigateway-integration: not an integration object",
		`paths./a/{id}.patch: x-amazon-apigateway-integration.uri: query string "fixed=1" not imported`,
		`paths./a/{id}.patch: x-amazon-apigateway-integration.requestParameters.integration.request.header.X-Ctx: source "context.requestId" not imported`,
		"paths./a/{id}.patch: x-amazon-apigateway-integration.requestParameters.integration.request.header.X-Bad: literal holds $(",
		"paths./a/{id}.patch: x-amazon-apigateway-integration.requestParameters.integration.request.body.x: destination not imported",
		`paths./a/{id}.patch: x-amazon-apigateway-integration.requestParameters.integration.request.header.Bad Name: "Bad Name" is not a valid header or query parameter name`,
		`paths./a/{id}.head: x-amazon-apigateway-integration.requestTemplates.application/json: not a {"statusCode": N} selection: answering 200`,
		"paths./a/{id}.head: x-amazon-apigateway-integration.responses: the response template is sent as written",
	} {
		if !containsOne(ws, want) {
			t.Errorf("no warning containing %q in\n%s", want, strings.Join(ws, "\n"))
		}
	}
	rs := routes(cfg)
	patch := rs["t_a-id_patch"]
	if patch == nil || len(cfg.Services) != 1 || cfg.Services[0].Protocol != "https" {
		t.Fatalf("routes %v services %+v", rs, cfg.Services)
	}
	want := map[string]any{
		"add":     map[string]any{"headers": []any{"X-Stage:prod"}, "querystring": []any{`id2:$(uri_captures["id"])`}},
		"replace": map[string]any{"headers": []any{"X-Stage:prod"}, "uri": `/x/$(uri_captures["id"])`},
	}
	if diff := cmp.Diff(want, patch.Plugins[0].Config); diff != "" {
		t.Errorf("request-transformer (-want +got):\n%s", diff)
	}
	head := rs["t_a-id_head"]
	if head == nil || head.Plugins[0].Config["status_code"] != 503 || head.Plugins[0].Config["content_type"] != "text/plain" {
		t.Errorf("mock: %+v", head)
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	importertest.Validate(t, out)
}

// TestPluginPrecedence: the operation's x-kong-plugin-* replaces the
// path's and what the importer derived (one instance per plugin and
// scope, as Kong wants); the document's go on its services and on the
// routes without one; unquoted versions are read.
func TestPluginPrecedence(t *testing.T) {
	cfg, ws := run(t, `
swagger: 2.0
info: {title: t, version: "1"}
host: b.example.com
x-kong-plugin-cors: {config: {origins: ["https://a.example.com"]}}
x-amazon-apigateway-cors: {allowOrigins: ["https://b.example.com"]}
x-kong-plugin-rate-limiting: {config: {minute: 5, policy: local}, enabled: true, tags: [x]}
securityDefinitions:
  key: {type: apiKey, name: k, in: header}
paths:
  /a:
    x-kong-plugin-request-transformer: {config: {add: {headers: ["A:path"]}}}
    get:
      security: [{key: []}]
      x-kong-plugin-key-auth: {config: {key_names: [apikey]}}
      x-kong-plugin-request-transformer: {config: {add: {headers: ["A:op"]}}}
      responses: {"200": {description: ok}}
  /m:
    get:
      responses: {"200": {description: ok}}
      x-amazon-apigateway-integration: {type: mock, responses: {default: {statusCode: 204}}}
`, Options{})
	byName := func(ps []*importer.Plugin) map[string]map[string]any {
		m := map[string]map[string]any{}
		for _, p := range ps {
			if _, dup := m[p.Name]; dup {
				t.Errorf("two %s instances", p.Name)
			}
			m[p.Name] = p.Config
		}
		return m
	}
	svc := byName(cfg.Services[0].Plugins)
	if fmt.Sprint(svc["cors"]["origins"]) != "[https://a.example.com]" || svc["rate-limiting"]["minute"] != 5 {
		t.Errorf("service plugins: %v", svc)
	}
	a := byName(routes(cfg)["t_a_get"].Plugins)
	if fmt.Sprint(a["key-auth"]["key_names"]) != "[apikey]" || fmt.Sprint(a["request-transformer"]) != "map[add:map[headers:[A:op]]]" {
		t.Errorf("route plugins: %v", a)
	}
	m := byName(routes(cfg)["t_m_get"].Plugins)
	if m["request-termination"]["status_code"] != 204 || fmt.Sprint(m["cors"]["origins"]) != "[https://a.example.com]" || m["rate-limiting"] == nil {
		t.Errorf("mock route plugins: %v", m)
	}
	if n := strings.Count(strings.Join(ws, "\n"), "x-kong-plugin-rate-limiting.tags"); n != 1 {
		t.Errorf("the tags warning is given %d times, want once:\n%s", n, strings.Join(ws, "\n"))
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	importertest.Validate(t, out)
}

// TestSubstitutionOnce: a server variable's default or a stage variable's
// value holding its own reference is inserted as is, not expanded again
// (which would never end).
func TestSubstitutionOnce(t *testing.T) {
	cfg, ws := run(t, `
openapi: 3.0.0
info: {title: t, version: "1"}
servers:
  - url: "http://{h}.example.com"
    variables: {h: {default: "{h}"}}
paths:
  /a: {get: {responses: {"200": {description: ok}}}}
  /b:
    get:
      responses: {"200": {description: ok}}
      x-amazon-apigateway-integration: {type: http, uri: "${stageVariables.v}/x"}
`, Options{StageVariables: map[string]string{"v": "http://b.example.com/${stageVariables.v}"}})
	if len(cfg.Services) != 0 {
		t.Errorf("services %+v, want none", cfg.Services)
	}
	for _, want := range []string{
		`api.yaml:8 paths./a.get: servers[0]: parse "http://{h}.example.com": invalid character "{" in host name`,
		"api.yaml:10 paths./b.get: x-amazon-apigateway-integration.uri: path parameter {stageVariables.v} has no source",
	} {
		if !containsOne(ws, want) {
			t.Errorf("no warning containing %q in %q", want, ws)
		}
	}
}

// TestRouteDefaults ports openapi2kong's 08-route-defaults-overrides and
// 02-names-set: x-kong-route-defaults at each level, the innermost
// winning; a given regex_priority lowered by one for a path with
// parameters; what the conversion sets (service) ignored; x-kong-name on
// the document, a path and an operation.
func TestRouteDefaults(t *testing.T) {
	cfg, ws := run(t, `
openapi: '3.0.0'
info: {title: Simple API overview, version: v2}
servers: [{url: "https://server1.com/"}]
x-kong-route-defaults: {regex_priority: 100, service: delete-me}
paths:
  /path1:
    get: {operationId: uses-doc-defaults, responses: {"200": {description: ok}}}
  /path1/{id}:
    get: {operationId: uses-doc-defaults-with-path-param, responses: {"200": {description: ok}}}
  /path2:
    x-kong-route-defaults: {regex_priority: 200}
    get: {operationId: uses-path-defaults, responses: {"200": {description: ok}}}
    post:
      x-kong-route-defaults: {regex_priority: 300, strip_path: true}
      operationId: uses-ops-defaults
      responses: {"200": {description: ok}}
  /app1:
    x-kong-name: path-name
    put:
      x-kong-name: my-put-operation
      responses: {"200": {description: ok}}
    post: {responses: {"200": {description: ok}}}
`, Options{})
	got := map[string]string{}
	for name, r := range routes(cfg) {
		got[name] = fmt.Sprint(*r.RegexPriority, " ", *r.StripPath, " ", r.Fields)
	}
	want := map[string]string{
		"simple-api-overview_uses-doc-defaults":                 "100 false map[]",
		"simple-api-overview_uses-doc-defaults-with-path-param": "99 false map[]",
		"simple-api-overview_uses-path-defaults":                "200 false map[]",
		"simple-api-overview_uses-ops-defaults":                 "300 true map[]",
		"simple-api-overview_path-name_my-put-operation":        "100 false map[]",
		"simple-api-overview_path-name_post":                    "100 false map[]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	if !containsOne(ws, "x-kong-route-defaults.service: set by the import: ignored") {
		t.Errorf("warnings: %q", ws)
	}
}

// TestServiceDefaults: x-kong-service-defaults and x-kong-upstream-defaults
// merge field by field, innermost first, and cannot replace what the
// servers set (a url there would contradict the host).
func TestServiceDefaults(t *testing.T) {
	cfg, ws := run(t, `
openapi: 3.0.0
info: {title: t, version: "1"}
servers: [{url: "https://a.example.com:8443/base"}]
x-kong-service-defaults: {retries: 1, read_timeout: 1000, url: "http://elsewhere", host: x}
x-kong-upstream-defaults: {algorithm: least-connections, targets: []}
paths:
  /a:
    x-kong-service-defaults: {retries: 2}
    get: {responses: {"200": {description: ok}}}
  /b:
    get: {responses: {"200": {description: ok}}}
`, Options{})
	if len(cfg.Services) != 2 {
		t.Fatalf("services: %d, want 2 (different defaults)", len(cfg.Services))
	}
	got := map[string]string{}
	for _, s := range cfg.Services {
		got[s.Name] = fmt.Sprint(s.Protocol, " ", s.Host, " ", s.Port, " ", s.Path, " ", s.Fields, " ", len(s.Routes))
	}
	want := map[string]string{
		"t":   "https t.upstream 8443 /base map[read_timeout:1000 retries:2] 1",
		"t-2": "https t-2.upstream 8443 /base map[read_timeout:1000 retries:1] 1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	if len(cfg.Upstreams) != 2 || fmt.Sprint(cfg.Upstreams[0].Fields) != "map[algorithm:least-connections]" || cfg.Upstreams[0].Targets[0].Target != "a.example.com:8443" {
		t.Errorf("upstreams: %+v", cfg.Upstreams[0])
	}
	for _, w := range []string{"x-kong-service-defaults.url: set by the import: ignored", "x-kong-service-defaults.host: set by the import", "x-kong-upstream-defaults.targets: set by the import"} {
		if !containsOne(ws, w) {
			t.Errorf("no warning %q in %q", w, ws)
		}
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	importertest.Validate(t, out)
}

// TestAuthorizerSources: the JWT authorizer's identity source becomes the
// jwt plugin's header; a source it cannot read, or an API key name that
// is no header name, leaves the operation out.
func TestAuthorizerSources(t *testing.T) {
	cfg, ws := run(t, `
openapi: 3.0.0
info: {title: t, version: "1"}
servers: [{url: "http://b.example.com"}]
components:
  securitySchemes:
    hdr:
      type: oauth2
      flows: {}
      x-amazon-apigateway-authorizer:
        type: jwt
        identitySource: $request.header.X-Token
        jwtConfiguration: {issuer: "https://idp.example.com/", audience: [api]}
    query:
      type: oauth2
      flows: {}
      x-amazon-apigateway-authorizer:
        type: jwt
        identitySource: $request.querystring.token
        jwtConfiguration: {issuer: "https://idp.example.com/", audience: [api]}
    spaced: {type: apiKey, name: "api key", in: header}
paths:
  /a: {get: {security: [{hdr: []}], responses: {"200": {description: ok}}}}
  /b: {get: {security: [{query: []}], responses: {"200": {description: ok}}}}
  /c: {get: {security: [{spaced: []}], responses: {"200": {description: ok}}}}
`, Options{})
	rs := routes(cfg)
	if len(rs) != 1 || rs["t_a_get"] == nil {
		t.Fatalf("routes %v, want only t_a_get", rs)
	}
	if got := fmt.Sprint(rs["t_a_get"].Plugins[0].Config); got != "map[claims_to_verify:[exp] header_names:[x-token]]" {
		t.Errorf("jwt config %s", got)
	}
	if len(cfg.Consumers) != 1 || cfg.Consumers[0].Username != "t_hdr" || fmt.Sprint(cfg.Consumers[0].Credentials["jwt_secrets"][0]["key"]) != "https://idp.example.com/" {
		t.Errorf("consumers %+v", cfg.Consumers)
	}
	for _, w := range []string{
		`paths./b.get: components.securitySchemes.query.x-amazon-apigateway-authorizer.identitySource: "$request.querystring.token": only one request header is imported`,
		`paths./c.get: security.spaced: key name "api key" is not an HTTP token`,
	} {
		if !containsOne(ws, w) {
			t.Errorf("no warning %q in %q", w, ws)
		}
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	importertest.Validate(t, out)
}

// TestImportIsNoMoreOpen: what the source allows, no more. A path's
// parameters that name one group twice keep apart; AWS's IAM scheme is
// not an API key; CORS with every origin and credentials (which AWS
// refuses) is imported without credentials, and a pattern in the origins
// (the cors plugin would read it as a regex) is left out.
func TestImportIsNoMoreOpen(t *testing.T) {
	got, captures, _ := pathRegex("/{id}/{ID}/{a-b}/{a_b}")
	if want := "~/(?<id>[^#?/]+)/(?<id_2>[^#?/]+)/(?<a_b>[^#?/]+)/(?<a_b_2>[^#?/]+)$"; got != want {
		t.Errorf("pathRegex = %q, want %q", got, want)
	}
	if captures["ID"] != "id_2" || captures["a_b"] != "a_b_2" {
		t.Errorf("captures %v", captures)
	}

	cfg, ws := run(t, `
openapi: 3.0.0
info: {title: t, version: "1"}
servers: [{url: "http://b.example.com"}]
x-amazon-apigateway-cors:
  allowOrigins: ["*", "https://*.example.com", "https://app.example.com"]
  allowCredentials: true
components:
  securitySchemes:
    iam: {type: apiKey, name: Authorization, in: header, x-amazon-apigateway-authtype: awsSigv4}
paths:
  /a: {get: {security: [{iam: []}], responses: {"200": {description: ok}}}}
  /b: {get: {responses: {"200": {description: ok}}}}
`, Options{})
	rs := routes(cfg)
	if rs["t_a_get"] != nil || rs["t_b_get"] == nil {
		t.Fatalf("routes %v, want only t_b_get", rs)
	}
	var cors *importer.Plugin
	for _, s := range cfg.Services {
		for _, p := range s.Plugins {
			if p.Name == "cors" {
				cors = p
			}
		}
	}
	if cors == nil {
		t.Fatalf("no cors plugin on the service: %+v", cfg.Services)
	}
	if cors.Config["credentials"] != false || fmt.Sprint(cors.Config["origins"]) != "[* https://app.example.com]" {
		t.Errorf("cors config %v", cors.Config)
	}
	for _, want := range []string{
		`security.iam: x-amazon-apigateway-authtype "awsSigv4" is not an API key`,
		`x-amazon-apigateway-cors.allowOrigins: "https://*.example.com" is not an origin`,
		`x-amazon-apigateway-cors.allowCredentials: credentials with every origin allowed`,
	} {
		if !containsOne(ws, want) {
			t.Errorf("no warning containing %q in %q", want, ws)
		}
	}
}

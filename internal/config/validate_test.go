package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestValidationErrors checks each rule's exact path and message. Every
// case's src is the document after `_format_version: "3.0"`.
func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Errors
	}{
		// Top level.
		{"unknown top-level key", "servces: []", Errors{{Path: "servces", Message: "unknown field"}}},
		{"unsupported entities", "keys: []\nkey_sets: []", Errors{
			{Path: "keys", Message: "keys are not supported"},
			{Path: "key_sets", Message: "key sets are not supported"},
		}},
		{"metadata accepted", "_comment: hi\n_ignore: [{x: 1}]\n_info: {a: b}\n_transform: true", nil},
		{"wrong collection type", "services: {name: x}", Errors{{Path: "services", Message: "expected an array"}}},

		// Services.
		{"service host required", "services: [{name: s}]", Errors{{Path: "services[0].host", Message: "required field missing"}}},
		{"service wrong host type reported once", "services: [{host: 5}]", Errors{{Path: "services[0].host", Message: "expected a string"}}},
		{"service bad url", "services: [{url: 'a.example:80'}, {url: 'ftp://a/x'}, {url: 'http://a?q=1'}]", Errors{
			{Path: "services[0].url", Message: "invalid url 'a.example:80': expected scheme://host[:port][/path]"},
			{Path: "services[1].url", Message: "expected one of: http, https, grpc, grpcs, tcp, tls, tls_passthrough, udp, ws, wss"},
			{Path: "services[2].url", Message: "invalid url 'http://a?q=1': userinfo, query and fragment are not allowed"},
		}},
		{"service ranges", "services: [{host: h, protocol: smtp, port: 70000, retries: -1, connect_timeout: 0, read_timeout: 2147483647}]", Errors{
			{Path: "services[0].protocol", Message: "expected one of: http, https, grpc, grpcs, tcp, tls, tls_passthrough, udp, ws, wss"},
			{Path: "services[0].port", Message: "value should be between 0 and 65535"},
			{Path: "services[0].retries", Message: "value should be between 0 and 32767"},
			{Path: "services[0].connect_timeout", Message: "value should be between 1 and 2147483646"},
			{Path: "services[0].read_timeout", Message: "value should be between 1 and 2147483646"},
		}},
		{"service path rules", "services: [{host: h, path: x}, {host: h, protocol: grpc, path: /x}, {host: 'bad host'}]", Errors{
			{Path: "services[0].path", Message: "should start with: /"},
			{Path: "services[1].path", Message: "cannot be set when 'protocol' is 'grpc'"},
			{Path: "services[2].host", Message: "invalid hostname: 'bad host'"},
		}},
		{"service tls fields", "services: [{host: h, tls_verify: true, tls_verify_depth: 3, ca_certificates: [x]}, {host: h, protocol: https, tls_verify_depth: 65, ca_certificates: [x], client_certificate: {id: y}}]", Errors{
			{Path: "services[0].tls_verify", Message: "can only be set when 'protocol' is 'https', 'tls', 'grpcs' or 'wss'"},
			{Path: "services[0].tls_verify_depth", Message: "can only be set when 'protocol' is 'https', 'tls', 'grpcs' or 'wss'"},
			{Path: "services[0].ca_certificates", Message: "can only be set when 'protocol' is 'https', 'tls', 'grpcs' or 'wss'"},
			{Path: "services[0].ca_certificates[0]", Message: "ca certificate 'x' not found"},
			{Path: "services[1].tls_verify_depth", Message: "value should be between 0 and 64"},
			{Path: "services[1].client_certificate", Message: "certificate 'y' not found"},
			{Path: "services[1].ca_certificates[0]", Message: "ca certificate 'x' not found"},
		}},
		{"service duplicates and bad id", "services: [{name: s, host: h, id: 1}, {name: s, host: h}]", Errors{
			{Path: "services[0].id", Message: "expected a string"},
			{Path: "services[1].name", Message: "duplicate name 's' (first defined at services[0])"},
		}},
		{"service duplicate id", "services: [{id: 0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4, host: h}, {id: 0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4, host: h}, {id: nope, host: h}]", Errors{
			{Path: "services[2].id", Message: "expected a valid UUID"},
			{Path: "services[1].id", Message: "duplicate id '0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4' (first defined at services[0])"},
		}},

		// Routes.
		{"route dangling service", "routes: [{paths: [/], service: nope}, {paths: [/], service: {id: 0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4}}, {paths: [/], service: {}}]", Errors{
			{Path: "routes[0].service", Message: "service 'nope' not found"},
			{Path: "routes[1].service", Message: "service '0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4' not found"},
			{Path: "routes[2].service", Message: "must set 'id' or 'name'"},
		}},
		{"route url and service", "services: [{name: s, host: h, routes: [{paths: [/], url: 'http://x', service: s}]}]\nroutes: [{paths: [/], url: 'http://x', service: s}, {paths: [/], url: 'http://x:99999'}]", Errors{
			{Path: "services[0].routes[0].url", Message: "cannot be set on a route nested in a service"},
			{Path: "routes[0].url", Message: "'url' and 'service' cannot both be set"},
			{Path: "routes[1].url", Message: "value should be between 0 and 65535"},
		}},
		{"route needs criteria", "routes: [{name: r}, {protocols: [https], snis: [a.example]}, {protocols: [grpc]}, {protocols: [tcp]}, {protocols: [tls_passthrough]}]", Errors{
			{Path: "routes[0]", Message: "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"},
			{Path: "routes[2]", Message: "must set one of 'hosts', 'headers', 'paths' when 'protocols' is 'grpc'"},
			{Path: "routes[3]", Message: "must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'"},
			{Path: "routes[4]", Message: "must set snis when 'protocols' is 'tls_passthrough'"},
		}},
		{"route protocols", "routes: [{paths: [/], protocols: [http, grpc]}, {paths: [/], protocols: [gopher]}, {paths: [/], protocols: []}]", Errors{
			{Path: "routes[0].protocols", Message: "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp'), ('tls_passthrough'), ('grpc', 'grpcs'), ('ws', 'wss')"},
			{Path: "routes[1].protocols[0]", Message: "expected one of: http, https, grpc, grpcs, tcp, tls, tls_passthrough, udp, ws, wss"},
			{Path: "routes[2].protocols", Message: "length must be at least 1"},
		}},
		{"route paths", `routes: [{paths: [api, /a//b, "~/(?=x)", "~x", "/%zz"]}]`, Errors{
			{Path: "routes[0].paths[0]", Message: "should start with: / (fixed path) or ~/ (regex path)"},
			{Path: "routes[0].paths[1]", Message: "must not have empty segments"},
			{Path: "routes[0].paths[2]", Message: "invalid regex: '/(?=x)' (error parsing regexp: invalid or unsupported Perl syntax: `(?=`)"},
			{Path: "routes[0].paths[3]", Message: "should start with: / (fixed path) or ~/ (regex path)"},
			{Path: "routes[0].paths[4]", Message: "invalid url-encoded value: '%zz'"},
		}},
		{"route headers", "routes: [{headers: {Host: [a], X-Empty: []}}]", Errors{
			{Path: "routes[0].headers.Host", Message: "cannot contain 'host' header, which must be specified in the 'hosts' attribute"},
			{Path: "routes[0].headers.X-Empty", Message: "length must be at least 1"},
		}},
		{"route header value type", "routes: [{headers: {X-Tenant-Id: [t1, 2]}}]", Errors{
			{Path: "routes[0].headers.X-Tenant-Id[1]", Message: "expected a string"},
		}},
		{"route snis need tls protocol", "routes: [{paths: [/], protocols: [http], snis: [a.example]}]", Errors{
			{Path: "routes[0].snis", Message: "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'"},
		}},
		{"route hosts", "routes: [{hosts: ['*.example.com', 'example.*', 'a.*.com', '*.*.com', 'ex ample.com', 'a.example:80', 'a.example:x', '[::1]:8080']}]", Errors{
			{Path: "routes[0].hosts[2]", Message: "invalid wildcard: must be placed at leftmost or rightmost label"},
			{Path: "routes[0].hosts[3]", Message: "invalid wildcard: must have at most one wildcard"},
			{Path: "routes[0].hosts[4]", Message: "invalid hostname: ex ample.com"},
			{Path: "routes[0].hosts[6]", Message: "invalid port number"},
		}},
		{"route enums", "routes: [{methods: [get, POST], https_redirect_status_code: 303, path_handling: v2}]", Errors{
			{Path: "routes[0].methods[0]", Message: "invalid value: get"},
			{Path: "routes[0].https_redirect_status_code", Message: "expected one of: 426, 301, 302, 307, 308"},
			{Path: "routes[0].path_handling", Message: "expected one of: v0, v1"},
		}},
		{"route strip_path with grpc", "routes: [{paths: [/], protocols: [grpc], strip_path: false}]", Errors{
			{Path: "routes[0].strip_path", Message: "cannot be set when 'protocols' is 'grpc' or 'grpcs'"},
		}},
		{"route expression unsupported", "routes: [{paths: [/], expression: 'http.path == \"/\"', priority: 1}]", Errors{
			{Path: "routes[0].expression", Message: "unknown field"},
			{Path: "routes[0].priority", Message: "unknown field"},
		}},
		{"route names unique across nesting", "services: [{host: h, routes: [{name: r, paths: [/a]}]}]\nroutes: [{name: r, paths: [/b]}]", Errors{
			{Path: "routes[0].name", Message: "duplicate name 'r' (first defined at services[0].routes[0])"},
		}},
		{"route stream endpoints", "routes: [{protocols: [tcp], sources: [{ip: 10.0.0.0/8}, {ip: nope, port: 70000}, {}]}, {paths: [/], destinations: [{port: 80}]}]", Errors{
			{Path: "routes[0].sources[1].ip", Message: "invalid ip or cidr range: 'nope'"},
			{Path: "routes[0].sources[1].port", Message: "value should be between 0 and 65535"},
			{Path: "routes[0].sources[2]", Message: "at least one of these fields must be non-empty: 'ip', 'port'"},
			{Path: "routes[1].destinations", Message: "'destinations' can only be set when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"},
		}},

		// Consumers.
		{"consumer identity", "consumers: [{tags: [a]}, {username: u}, {username: u, custom_id: c}, {custom_id: c}]", Errors{
			{Path: "consumers[0]", Message: "at least one of these fields must be non-empty: 'custom_id', 'username'"},
			{Path: "consumers[2].username", Message: "duplicate username 'u' (first defined at consumers[1])"},
			{Path: "consumers[3].custom_id", Message: "duplicate custom_id 'c' (first defined at consumers[2])"},
		}},

		// Plugins.
		{"plugin name and refs", "plugins: [{config: {}}, {name: cors, route: r, service: s, consumer: c}, {name: acl, protocols: [smtp]}]", Errors{
			{Path: "plugins[0].name", Message: "required field missing"},
			{Path: "plugins[1].service", Message: "service 's' not found"},
			{Path: "plugins[1].route", Message: "route 'r' not found"},
			{Path: "plugins[1].consumer", Message: "consumer 'c' not found"},
			{Path: "plugins[2].protocols[0]", Message: "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp, ws, wss"},
		}},
		{"plugin nested names another service", "services: [{name: s, host: h, plugins: [{name: cors, service: t}]}, {name: t, host: h}]", Errors{
			{Path: "services[0].plugins[0].service", Message: "value must be null: it may only name the service it is nested in"},
		}},
		{"plugin duplicate per scope", `services: [{name: s, host: h, plugins: [{name: cors}], routes: [{name: r, paths: [/], plugins: [{name: cors}]}]}]
plugins: [{name: cors, service: s}, {name: cors, route: r}, {name: cors, route: r, service: s}, {name: cors}, {name: cors, instance_name: second}]`, Errors{
			{Path: "plugins[0]", Message: "duplicate plugin 'cors' for the same service, route and consumer (first defined at services[0].plugins[0])"},
			{Path: "plugins[1]", Message: "duplicate plugin 'cors' for the same service, route and consumer (first defined at services[0].routes[0].plugins[0])"},
			{Path: "plugins[4]", Message: "duplicate plugin 'cors' for the same service, route and consumer (first defined at plugins[3])"},
		}},
		{"plugin config stays raw", "plugins: [{name: anything, config: {whatever: [1, {x: y}]}}]", nil},

		// Upstreams and targets.
		{"upstream names", "upstreams: [{name: 10.0.0.1}, {name: 'a.example:80'}, {name: 'bad name'}, {}, {name: up}, {name: up}]", Errors{
			{Path: "upstreams[0].name", Message: "Invalid name ('10.0.0.1'); no ip addresses allowed"},
			{Path: "upstreams[1].name", Message: "Invalid name ('a.example:80'); no port allowed"},
			{Path: "upstreams[2].name", Message: "Invalid name ('bad name'); must be a valid hostname"},
			{Path: "upstreams[3].name", Message: "required field missing"},
			{Path: "upstreams[5].name", Message: "duplicate name 'up' (first defined at upstreams[4])"},
		}},
		{"upstream hashing", "upstreams: [{name: a, algorithm: random, hash_on: header, hash_fallback: cookie, slots: 5, hash_on_cookie_path: x}, {name: b, hash_on: cookie, hash_on_cookie: c, hash_fallback: ip}, {name: c, hash_on: body}]", Errors{
			{Path: "upstreams[0].algorithm", Message: "expected one of: round-robin, consistent-hashing, least-connections, latency, power-of-two-choices"},
			{Path: "upstreams[0].hash_on_header", Message: "required when 'hash_on' is set to 'header'"},
			{Path: "upstreams[0].hash_on_cookie", Message: "required when 'hash_fallback' is set to 'cookie'"},
			{Path: "upstreams[0].hash_on_cookie_path", Message: "should start with: /"},
			{Path: "upstreams[0].slots", Message: "value should be between 10 and 65536"},
			{Path: "upstreams[1].hash_fallback", Message: "must be 'none' when 'hash_on' is 'cookie'"},
			{Path: "upstreams[2].hash_on", Message: "expected one of: none, consumer, ip, header, cookie, path, query_arg, uri_capture"},
		}},
		{"upstream healthchecks", `upstreams: [{name: a, healthchecks: {threshold: 101, active: {type: smtp, concurrency: 0, http_path: x, healthy: {http_statuses: [99], successes: 256}}, passive: {unhealthy: {timeouts: -1, http_statuses: [1000]}}}}]`, Errors{
			{Path: "upstreams[0].healthchecks.threshold", Message: "value should be between 0 and 100"},
			{Path: "upstreams[0].healthchecks.active.type", Message: "expected one of: tcp, http, https, grpc, grpcs"},
			{Path: "upstreams[0].healthchecks.active.concurrency", Message: "value should be between 1 and 2147483648"},
			{Path: "upstreams[0].healthchecks.active.http_path", Message: "should start with: /"},
			{Path: "upstreams[0].healthchecks.active.healthy.http_statuses[0]", Message: "value should be between 100 and 999"},
			{Path: "upstreams[0].healthchecks.passive.unhealthy.http_statuses[0]", Message: "value should be between 100 and 999"},
			{Path: "upstreams[0].healthchecks.active.healthy.successes", Message: "value should be between 0 and 255"},
			{Path: "upstreams[0].healthchecks.passive.unhealthy.timeouts", Message: "value should be between 0 and 255"},
		}},
		{"healthcheck unknown field", "upstreams: [{name: a, healthchecks: {active: {healthy: {intervall: 5}}}}]", Errors{
			{Path: "upstreams[0].healthchecks.active.healthy.intervall", Message: "unknown field"},
		}},
		{"targets", `upstreams: [{name: up, targets: [{target: 'a:80'}, {target: 'a:80'}, {target: 'a'}, {target: 'bad host:1'}, {target: 'b:x'}, {target: 'c', weight: 70000}, {target: 'd', upstream: up2}]}]
targets: [{target: 'a:8000', upstream: up}, {target: e}, {target: e, upstream: nope}]`, Errors{
			{Path: "upstreams[0].targets[1].target", Message: "duplicate target 'a:80' (first defined at upstreams[0].targets[0])"},
			{Path: "upstreams[0].targets[3].target", Message: "Invalid target ('bad host:1'); not a valid hostname or ip address"},
			{Path: "upstreams[0].targets[4].target", Message: "Invalid target ('b:x'); not a valid port"},
			{Path: "upstreams[0].targets[5].weight", Message: "value should be between 0 and 65535"},
			{Path: "upstreams[0].targets[6].upstream", Message: "value must be null: it may only name the upstream it is nested in"},
			{Path: "targets[0].target", Message: "duplicate target 'a:8000' (first defined at upstreams[0].targets[2])"},
			{Path: "targets[1].upstream", Message: "required field missing"},
			{Path: "targets[2].upstream", Message: "upstream 'nope' not found"},
		}},

		// Certificates.
		{"certificate fields", "certificates: [{cert: x, key: y}, {key: y}]\nca_certificates: [{cert: nope}, {}]\nsnis: [{name: a.example}, {name: b.example, certificate: {id: 0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4}}]", Errors{
			{Path: "ca_certificates[0].cert", Message: "invalid certificate: no PEM data found"},
			{Path: "ca_certificates[1].cert", Message: "required field missing"},
			{Path: "certificates[0].cert", Message: "invalid certificate or key: tls: failed to find any PEM data in certificate input"},
			{Path: "certificates[1].cert", Message: "required field missing"},
			{Path: "snis[0].certificate", Message: "required field missing"},
			{Path: "snis[1].certificate", Message: "certificate '0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4' not found"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "_format_version: \"3.0\"\n" + tt.src + "\n"
			_, err := Parse([]byte(src), Options{})
			if diff := cmp.Diff(tt.want, asErrors(t, err), ignoreLine); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatVersion(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Errors
	}{
		{"missing", "services: []", Errors{{Path: "_format_version", Message: "required field missing"}}},
		{"empty document", "", Errors{{Path: "_format_version", Message: "required field missing"}}},
		{"unsupported", `_format_version: "4.0"`, Errors{{Path: "_format_version", Message: "unsupported _format_version '4.0' (expected one of: 1.1, 2.1, 3.0)"}}},
		{"number instead of string", `_format_version: 3.0`, Errors{{Path: "_format_version", Message: "expected a string"}}},
		{"not a map", "- a", Errors{{Message: "expected a map at the top level, got an array"}}},
		{"two documents", "_format_version: \"3.0\"\n---\n_format_version: \"3.0\"", Errors{{Message: "invalid YAML/JSON: expected one YAML document, found 2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), Options{})
			if diff := cmp.Diff(tt.want, asErrors(t, err), ignoreLine); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyntaxError(t *testing.T) {
	_, err := Parse([]byte("_format_version: \"3.0\"\nservices: [\n"), Options{})
	errs := asErrors(t, err)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Message, "invalid YAML/JSON: ") {
		t.Fatalf("got %v", errs)
	}
}

// TestManyErrorsTogether checks that decoding, reference and validation
// errors all come back from one Parse, in document order within each stage,
// with lines.
func TestManyErrorsTogether(t *testing.T) {
	src := `_format_version: "3.0"
services:
  - name: s
    host: h
    port: high
    routes:
      - paths: [nope]
routes:
  - service: ghost
    paths: [/x]
consumers:
  - {}
`
	_, err := Parse([]byte(src), Options{})
	want := Errors{
		{Path: "services[0].port", Message: "expected an integer", Line: 5},
		{Path: "services[0].routes[0].paths[0]", Message: "should start with: / (fixed path) or ~/ (regex path)", Line: 7},
		{Path: "routes[0].service", Message: "service 'ghost' not found", Line: 9},
		{Path: "consumers[0]", Message: "at least one of these fields must be non-empty: 'custom_id', 'username'", Line: 12},
	}
	if diff := cmp.Diff(want, asErrors(t, err)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), "services[0].port: expected an integer (line 5)\n") {
		t.Errorf("Error() = %q", err.Error())
	}
}

package e2e

// The decK replay client: the admin API requests `deck gateway dump`,
// `diff` and `sync` send, in their order, as read from decK's source
// (Kong/deck cmd/, Kong/go-database-reconciler "GDR" pkg/, Kong/go-kong
// kong/; file:line citations are to the snapshots named in
// /work/notes/deck-requests.md). It keeps decK's state as plain JSON maps,
// kind → id → entity, the kinds named as in a decK file.

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"sigs.k8s.io/yaml"
)

type deckState map[string]map[string]map[string]any

// deckList is one list dump.Get reads: its path, the state kind it fills
// ("" for a kind Turnpike does not have), the error statuses decK
// tolerates there, and whether decK leaves the tag filter out.
type deckList struct {
	path, kind string
	tolerate   []int
	noTags     bool
}

// deckDumpLists is dump.Get (GDR pkg/dump/dump.go:783-826): every list
// with size=1000 (dump.go:116-122), targets per upstream after the
// upstreams (dump.go:510-530, 1369-1393).
var deckDumpLists = []deckList{
	{"/services", "services", nil, false},                           // dump.go:960-982
	{"/routes", "routes", nil, false},                               // dump.go:984-1006
	{"/plugins", "plugins", nil, false},                             // dump.go:1008-1030
	{"/filter-chains", "", []int{404, 400}, false},                  // dump.go:438-461
	{"/certificates", "certificates", nil, false},                   // dump.go:1056-1081
	{"/ca_certificates", "ca_certificates", []int{404}, false},      // dump.go:1084-1117
	{"/snis", "snis", nil, false},                                   // dump.go:1120-1143
	{"/upstreams", "upstreams", nil, false},                         // dump.go:1169-1191
	{"/vaults", "", []int{404, 403}, false},                         // dump.go:1420-1446
	{"/partials", "", []int{404, 403}, false},                       // dump.go:933-958
	{"/keys", "", []int{404, 403}, false},                           // dump.go:829-853
	{"/key-sets", "", []int{404, 403}, false},                       // dump.go:855-879
	{"/consumer_groups", "", []int{404, 403}, false},                // dump.go:189-195
	{"/consumers", "consumers", nil, false},                         // dump.go:1145-1167
	{"/key-auths", "keyauth_credentials", []int{404}, false},        // dump.go:1448-1473
	{"/hmac-auths", "hmacauth_credentials", []int{404}, false},      // dump.go:1475-1500
	{"/jwts", "jwt_secrets", []int{404}, false},                     // dump.go:1502-1527
	{"/basic-auths", "basicauth_credentials", []int{404}, false},    // dump.go:1529-1554
	{"/oauth2", "oauth2_credentials", []int{404}, false},            // dump.go:1556-1581
	{"/acls", "acls", []int{404}, false},                            // dump.go:1583-1608
	{"/mtls-auths", "mtls_auth_credentials", []int{404, 403}, true}, // dump.go:329-345, 1610-1648
}

// deckLevels is the sync order (GDR pkg/diff/order.go:37-77) for the kinds
// Turnpike has: creates and updates level by level, each kind waited for
// before the next (diff.go:427-442); deletes by the levels reversed
// (diff.go:410-425).
var deckLevels = [][]string{
	{"certificates", "ca_certificates", "consumers"},
	{"snis", "services", "upstreams", "keyauth_credentials", "hmacauth_credentials", "jwt_secrets",
		"basicauth_credentials", "oauth2_credentials", "acls", "mtls_auth_credentials"},
	{"routes", "targets"},
	{"plugins"},
}

// deckCredentialPaths are go-kong's credPath (kong/credentials_service.go:35-43).
var deckCredentialPaths = map[string]string{
	"keyauth_credentials": "key-auth", "basicauth_credentials": "basic-auth", "hmacauth_credentials": "hmac-auth",
	"jwt_secrets": "jwt", "acls": "acls", "oauth2_credentials": "oauth2", "mtls_auth_credentials": "mtls-auth",
}

// deckFields are the fields go-kong's structs have (kong/*.go json tags):
// decK decodes the gateway's bodies into them, so only these compare.
var deckFields = map[string][]string{
	"services": {"id", "name", "host", "port", "protocol", "path", "retries", "connect_timeout", "read_timeout",
		"write_timeout", "tags", "client_certificate", "tls_verify", "tls_verify_depth", "ca_certificates", "enabled"},
	"routes": {"id", "name", "protocols", "methods", "hosts", "paths", "headers", "https_redirect_status_code",
		"regex_priority", "strip_path", "path_handling", "preserve_host", "request_buffering", "response_buffering",
		"snis", "sources", "destinations", "tags", "service", "priority", "expression"},
	"upstreams":             {"id", "name", "algorithm", "hash_on", "hash_fallback", "slots", "healthchecks", "tags", "host_header", "client_certificate"},
	"targets":               {"id", "target", "weight", "tags", "upstream"},
	"consumers":             {"id", "username", "custom_id", "tags"},
	"plugins":               {"id", "name", "instance_name", "config", "enabled", "protocols", "tags", "service", "route", "consumer"},
	"certificates":          {"id", "cert", "key", "cert_alt", "key_alt", "tags"},
	"snis":                  {"id", "name", "certificate", "tags"},
	"ca_certificates":       {"id", "cert", "cert_digest", "tags"},
	"keyauth_credentials":   {"id", "key", "ttl", "tags", "consumer"},
	"basicauth_credentials": {"id", "username", "password", "tags", "consumer"},
	"hmacauth_credentials":  {"id", "username", "secret", "tags", "consumer"},
	"jwt_secrets":           {"id", "key", "algorithm", "rsa_public_key", "secret", "tags", "consumer"},
	"acls":                  {"id", "group", "tags", "consumer"},
	"oauth2_credentials":    {"id", "name", "client_id", "client_secret", "client_type", "hash_secret", "redirect_uris", "tags", "consumer"},
}

// deckClient sends decK's requests to one admin API and records them.
type deckClient struct {
	t    *testing.T
	base string
	// size is the page size; decK's is 1000, a smaller one makes every
	// list page.
	size int
	// log is every request, "METHOD path?query", in order.
	log []string
}

func (c *deckClient) call(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var text string
	var header []string
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		text, header = string(b), []string{"Content-Type", "application/json"}
	}
	resp, data := gwtest.Do(c.t, gwtest.NewRequest(c.t, method, c.base+path, text, header...))
	c.log = append(c.log, method+" "+path)
	return resp.StatusCode, []byte(data)
}

// deckVersion is the leading major.minor decK reads from GET /'s version.
var deckVersion = regexp.MustCompile(`^(\d+)\.(\d+)`)

// root is decK's fetchKongVersion (deck cmd/common.go:855-907): GET /,
// `version` must be a string (common.go:904 asserts it), parsed by its
// leading major.minor (GDR pkg/utils/utils.go:21, 67-73, 204-210); a 3.0
// file needs 3.0 or later (common.go:332-341).
func (c *deckClient) root() {
	c.t.Helper()
	code, data := c.call("GET", "/", nil)
	var root map[string]any
	if code != 200 || json.Unmarshal(data, &root) != nil {
		c.t.Fatalf("GET / = %d %s", code, data)
	}
	v, ok := root["version"].(string)
	m := deckVersion.FindStringSubmatch(v)
	if !ok || m == nil {
		c.t.Fatalf("GET / version %v: decK cannot parse it", root["version"])
	}
	if major, _ := strconv.Atoi(m[1]); major < 3 {
		c.t.Fatalf("GET / version %s: decK refuses a 3.0 file below Kong 3.0", v)
	}
}

// page reads a whole list as go-kong does (kong/list.go:32-89): size,
// tags joined by `,` (match all), then `offset` from each answer until it
// is null; `next` is not read.
func (c *deckClient) page(l deckList, tags []string) ([]map[string]any, bool) {
	c.t.Helper()
	var out []map[string]any
	q := url.Values{"size": {strconv.Itoa(c.size)}}
	if len(tags) > 0 && !l.noTags {
		q.Set("tags", strings.Join(tags, ","))
	}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			c.t.Fatalf("GET %s: no last page", l.path)
		}
		code, data := c.call("GET", l.path+"?"+q.Encode(), nil)
		if slices.Contains(l.tolerate, code) {
			return nil, false
		}
		var body struct {
			Data   []map[string]any `json:"data"`
			Offset *string          `json:"offset"`
		}
		if code != 200 || json.Unmarshal(data, &body) != nil {
			c.t.Fatalf("GET %s?%s = %d %s", l.path, q.Encode(), code, data)
		}
		out = append(out, body.Data...)
		if body.Offset == nil {
			return out, true
		}
		if *body.Offset == "" {
			c.t.Fatalf("GET %s: an empty offset would page forever", l.path)
		}
		q.Set("offset", *body.Offset)
	}
}

// dump is dump.Get (GDR pkg/dump/dump.go:783-826) after GET /, with
// decK's --select-tag values as tags.
func (c *deckClient) dump(tags []string) deckState {
	c.t.Helper()
	c.root()
	st := deckState{}
	add := func(kind string, e map[string]any) {
		if st[kind] == nil {
			st[kind] = map[string]map[string]any{}
		}
		st[kind][fmt.Sprint(e["id"])] = e
	}
	for _, l := range deckDumpLists {
		rows, ok := c.page(l, tags)
		if !ok {
			continue
		}
		if l.kind == "" && len(rows) > 0 {
			c.t.Fatalf("GET %s listed %d entities of a kind Turnpike does not have", l.path, len(rows))
		}
		for _, e := range rows {
			if l.kind == "certificates" {
				delete(e, "snis") // dump.go:1072
			}
			add(l.kind, e)
		}
		if l.kind == "upstreams" {
			for _, u := range rows {
				targets, _ := c.page(deckList{path: "/upstreams/" + fmt.Sprint(u["id"]) + "/targets"}, tags)
				for _, e := range targets {
					add("targets", e)
				}
			}
		}
	}
	return st
}

// readSchemas replays the defaulter's reads (GDR pkg/utils/defaulter.go:
// 209-268 through pkg/schema/fetchers.go:35-60). decK takes a 404 as "no
// schema" and fills no defaults; Turnpike serves the schema of every
// entity it has, so only consumer groups, which it does not have, may be
// 404.
func (c *deckClient) readSchemas() {
	c.t.Helper()
	for _, e := range []string{"services", "routes", "upstreams", "targets", "consumer_group_plugins"} {
		code, data := c.call("GET", "/schemas/"+e, nil)
		if code != 200 && (code != 404 || e != "consumer_group_plugins") {
			c.t.Fatalf("GET /schemas/%s = %d %s", e, code, data)
		}
	}
}

// deckOp is one write of a sync.
type deckOp struct {
	method, path string
	body         map[string]any
}

func (o deckOp) String() string { return o.method + " " + o.path }

// diff is the syncer's plan (GDR pkg/diff/diff.go:329-442): creates and
// updates by level, then deletes by the levels reversed. An entity is
// matched by id (the file carries decK's ids) and updated when a field
// the file sets differs from the gateway's. A plugin found on both sides
// needs its schema first (GDR pkg/types/plugin.go:184-188, types/core.go:
// 272-275), which fails the sync when missing.
func (c *deckClient) diff(current, target deckState) []deckOp {
	c.t.Helper()
	var ops []deckOp
	pluginSchemas := map[string]bool{}
	for _, level := range deckLevels {
		for _, kind := range level {
			for _, id := range sortedIDs(target[kind]) {
				e := target[kind][id]
				cur, ok := current[kind][id]
				if ok && kind == "plugins" && !pluginSchemas[fmt.Sprint(e["name"])] {
					pluginSchemas[fmt.Sprint(e["name"])] = true
					if code, data := c.call("GET", "/schemas/plugins/"+fmt.Sprint(e["name"]), nil); code != 200 {
						c.t.Fatalf("GET /schemas/plugins/%v = %d %s: decK's sync fails", e["name"], code, data)
					}
				}
				if !ok && kind == "certificates" {
					// A certificate decK has not seen but has an id for is
					// looked up first (GDR pkg/types/certificate.go:159-168).
					if code, _ := c.call("GET", "/certificates/"+id, nil); code != 404 {
						c.t.Fatalf("GET /certificates/%s = %d: decK reports a duplicate", id, code)
					}
				}
				if ok && deckEqual(kind, cur, e) {
					continue
				}
				if ok && kind == "certificates" {
					// An update keeps the certificate's SNIs, which a PUT
					// without them would delete (certificate.go:183-200).
					e = maps.Clone(e)
					var names []any
					for _, sid := range sortedIDs(current["snis"]) {
						if sni := current["snis"][sid]; refID(sni["certificate"]) == id {
							names = append(names, sni["name"])
						}
					}
					e["snis"] = names
				}
				ops = append(ops, deckOp{"PUT", deckPath(kind, e), e})
			}
		}
	}
	for i := len(deckLevels) - 1; i >= 0; i-- {
		for _, kind := range deckLevels[i] {
			for _, id := range sortedIDs(current[kind]) {
				if _, ok := target[kind][id]; !ok {
					ops = append(ops, deckOp{"DELETE", deckPath(kind, current[kind][id]), nil})
				}
			}
		}
	}
	return ops
}

// plan is `deck gateway diff`, sync's dry run (deck cmd/gateway_diff.go:
// 18-22): GET / and the dump (deck cmd/common.go:321-330, 466-470), the
// schemas (common.go:500) and the diff (common.go:519; Solve, GDR
// diff.go:693).
func (c *deckClient) plan(target deckState) []deckOp {
	c.t.Helper()
	c.root()
	current := c.dump(nil)
	c.readSchemas()
	return c.diff(current, target)
}

// sync is `deck gateway sync`: the plan, then its writes. decK goes on
// after a refused write and reports them all (GDR diff.go:473-545); so
// does this, returning the refused writes' answers.
func (c *deckClient) sync(target deckState) (ops []deckOp, refused []string) {
	c.t.Helper()
	ops = c.plan(target)
	for _, op := range ops {
		code, data := c.call(op.method, op.path, op.body)
		// A target PUT that finds no target falls back to POST
		// (go-kong kong/target_service.go:44-85).
		if code == 404 && op.method == "PUT" && strings.Contains(op.path, "/targets/") {
			code, data = c.call("POST", op.path[:strings.LastIndex(op.path, "/")], op.body)
		}
		if code >= 400 {
			refused = append(refused, fmt.Sprintf("%s %s: %d %s", op.method, op.path, code, data))
		}
	}
	return ops, refused
}

// deckPath is the entity's own path (go-kong: a create with an id is a
// PUT there, kong/service_service.go:41-46; an update is a create again,
// GDR pkg/types/service.go:58-66; a credential is under its consumer,
// kong/credentials_service.go:64-110; a target under its upstream).
func deckPath(kind string, e map[string]any) string {
	id := fmt.Sprint(e["id"])
	if sub, ok := deckCredentialPaths[kind]; ok {
		return "/consumers/" + refID(e["consumer"]) + "/" + sub + "/" + id
	}
	if kind == "targets" {
		return "/upstreams/" + refID(e["upstream"]) + "/targets/" + id
	}
	return "/" + kind + "/" + id
}

func refID(v any) string {
	m, _ := v.(map[string]any)
	return fmt.Sprint(m["id"])
}

func sortedIDs(m map[string]map[string]any) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// deckEqual compares what the file sets, among go-kong's fields, with the
// gateway's entity (timestamps are never compared, EqualWithOpts(...,
// ignoreTS)); a record compares by the fields the file sets in it, which
// stands for the schema defaults decK fills into the file's entity before
// it compares (GDR pkg/types/plugin.go:184-226, pkg/utils/defaulter.go).
// Tags compare as sets, and a basic-auth password not at all: the gateway
// shows its hash (GDR pkg/state/types.go EqualWithOpts, types/basicauth.go:
// 203).
func deckEqual(kind string, cur, file map[string]any) bool {
	for _, f := range deckFields[kind] {
		v, ok := file[f]
		switch {
		case !ok, kind == "basicauth_credentials" && f == "password":
		case f == "tags":
			if !reflect.DeepEqual(sortedTags(v), sortedTags(cur[f])) {
				return false
			}
		case !subset(v, cur[f]):
			return false
		}
	}
	return true
}

func sortedTags(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, t := range list {
		out = append(out, fmt.Sprint(t))
	}
	slices.Sort(out)
	return out
}

func subset(want, got any) bool {
	w, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(want, got)
	}
	g, _ := got.(map[string]any)
	for k, v := range w {
		if !subset(v, g[k]) {
			return false
		}
	}
	return true
}

// deckFile reads a decK file into decK's flat target state (GDR
// pkg/file/builder.go): nested entities get their parent as a foreign key
// ({"id": ...}) and a service's url becomes protocol, host, port and path
// (GDR pkg/file/types.go:290-322).
func deckFile(t *testing.T, doc string) deckState {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := json.Unmarshal(js, &file); err != nil {
		t.Fatal(err)
	}
	st := deckState{}
	var add func(kind string, e map[string]any, fk string, parent map[string]any)
	add = func(kind string, e map[string]any, fk string, parent map[string]any) {
		if parent != nil {
			e[fk] = map[string]any{"id": parent["id"]}
		}
		if st[kind] == nil {
			st[kind] = map[string]map[string]any{}
		}
		st[kind][fmt.Sprint(e["id"])] = e
		// Each nested list, by its kind, and the foreign key it fills.
		for child, fk := range map[string]string{
			"routes": "service", "targets": "upstream", "snis": "certificate",
			"keyauth_credentials": "consumer", "basicauth_credentials": "consumer", "hmacauth_credentials": "consumer",
			"jwt_secrets": "consumer", "acls": "consumer", "oauth2_credentials": "consumer",
			"plugins": strings.TrimSuffix(kind, "s"),
		} {
			list, _ := e[child].([]any)
			delete(e, child)
			for _, c := range list {
				add(child, c.(map[string]any), fk, e)
			}
		}
	}
	for _, kind := range []string{"services", "routes", "upstreams", "consumers", "plugins", "certificates", "ca_certificates"} {
		list, _ := file[kind].([]any)
		for _, item := range list {
			e := item.(map[string]any)
			if u, ok := e["url"].(string); ok && kind == "services" {
				delete(e, "url")
				pu, err := url.Parse(u)
				if err != nil {
					t.Fatal(err)
				}
				port, _ := strconv.Atoi(pu.Port())
				e["protocol"], e["host"], e["port"], e["path"] = pu.Scheme, pu.Hostname(), float64(port), pu.Path
			}
			add(kind, e, "", nil)
		}
	}
	return st
}

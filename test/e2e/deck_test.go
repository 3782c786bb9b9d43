package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// TestDeckReplay replays `deck gateway sync`, `dump` and `diff` (the
// requests of deck_replay_test.go) against the built binary with each
// config store: file A into an empty gateway, file B over it (updates,
// creates, deletes), then a file with a dangling reference.
func TestDeckReplay(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		deckRoundTrip(t, []string{"--config-store", "file"})
	})
	t.Run("redis", func(t *testing.T) {
		rd := gwtest.StartRedis(t)
		deckRoundTrip(t, []string{"--config-store", "redis://" + rd.Addr + "/0",
			"--config-cache", filepath.Join(t.TempDir(), "cache.yml")})
	})
}

func deckRoundTrip(t *testing.T, args []string) {
	echo := gwtest.StartEcho(t, "deck")
	files := deckFixtures(t, echo)
	gw := gwtest.Start(t, "_format_version: \"3.0\"\n", gwtest.Options{Args: args})
	c := &deckClient{t: t, base: gw.AdminURL, size: 1000}

	if st := c.dump(nil); len(st) != 0 {
		t.Fatalf("empty gateway dumps %v", st)
	}

	ops, refused := c.sync(deckFile(t, files["a"]))
	if len(refused) > 0 {
		t.Fatalf("sync A refused:\n%s", strings.Join(refused, "\n"))
	}
	checkDeckOrder(t, ops)
	deckInSync(t, c, files["a"])
	resp, body := gw.Get("/a/x", "apikey", "alice-key-a")
	if resp.StatusCode != 200 {
		t.Fatalf("/a with alice's key: %d %s", resp.StatusCode, body)
	}
	seen := gwtest.DecodeSeen(t, body)
	if seen.Path != "/svc/x" || http.Header(seen.Header).Get("X-Deck") != "a" || http.Header(seen.Header).Get("X-Deck-Id") == "" || resp.Header.Get("X-Consumer") != "alice" {
		t.Errorf("A's request %+v, answer %v", seen, resp.Header)
	}
	if resp, _ := gw.Get("/pool/"); resp.StatusCode != 200 {
		t.Errorf("/pool through the upstream: %d", resp.StatusCode)
	}

	ops, refused = c.sync(deckFile(t, files["b"]))
	if len(refused) > 0 {
		t.Fatalf("sync B refused:\n%s", strings.Join(refused, "\n"))
	}
	checkDeckOrder(t, ops)
	var puts, deletes int
	for _, op := range ops {
		if op.method == "DELETE" {
			deletes++
		} else {
			puts++
		}
	}
	if puts != 11 || deletes != 6 {
		t.Errorf("sync B: %d writes and %d deletes, want 11 and 6:\n%v", puts, deletes, ops)
	}
	deckInSync(t, c, files["b"])
	deckServesB(t, gw)

	// An entity outside decK's tags: --select-tag does not see it, a
	// plain diff deletes it.
	if code, body := adminCall(t, gw, "POST", "/consumers", "username: outsider\n"); code != 201 {
		t.Fatalf("POST /consumers: %d %v", code, body)
	}
	if st := c.dump([]string{"managed"}); st["consumers"][deckOutsider(t, gw)] != nil {
		t.Errorf("dump with --select-tag managed lists the untagged consumer")
	}
	outsider := deckOutsider(t, gw)
	ops, refused = c.sync(deckFile(t, files["b"]))
	if len(refused) > 0 || len(ops) != 2 || ops[1].String() != "DELETE /consumers/"+outsider {
		t.Errorf("sync B with an outsider: %v %v", ops, refused)
	}
	if deckOutsider(t, gw) != "" {
		t.Errorf("the outsider survived the sync")
	}

	// A route whose service is in neither the file nor the gateway: the
	// write is refused naming the field, and nothing changes.
	before := c.dump(nil)
	dangling := files["b"] + `
routes:
- id: d0000000-0000-4000-8000-000000000019
  name: dangling
  paths: [/dangling]
  service: {id: d0000000-0000-4000-8000-0000000000ff}
`
	ops, refused = c.sync(deckFile(t, dangling))
	if len(ops) != 2 || len(refused) != 1 || !strings.Contains(refused[0], "PUT /routes/d0000000-0000-4000-8000-000000000019: 400") {
		t.Fatalf("dangling sync: ops %v, refused %v", ops, refused)
	}
	var errBody struct {
		Fields map[string]any `json:"fields"`
	}
	brace := strings.Index(refused[0], "{")
	if brace < 0 {
		t.Fatalf("the refusal has no JSON body: %s", refused[0])
	}
	if err := json.Unmarshal([]byte(refused[0][brace:]), &errBody); err != nil || errBody.Fields["service"] == nil {
		t.Errorf("the refusal does not name the field (%v): %s", err, refused[0])
	}
	if after := c.dump(nil); !deckSame(before, after) {
		t.Errorf("a refused sync changed the gateway")
	}
}

// deckServesB checks the proxy serves file B: the route moved, alice's
// key changed, carol came, bob and the pooled service went.
func deckServesB(t *testing.T, gw *gwtest.Gateway) {
	t.Helper()
	for _, p := range []struct {
		path, key string
		status    int
	}{
		{"/a/x", "alice-key-b", 404}, {"/b/x", "alice-key-a", 401}, {"/b/x", "alice-key-b", 200},
		{"/b/x", "carol-key", 200}, {"/b/x", "bob-key", 401}, {"/pool/", "", 404}, {"/open/", "", 200},
	} {
		resp, body := gw.Get(p.path, "apikey", p.key)
		if resp.StatusCode != p.status {
			t.Errorf("B: %s with %q: %d %s, want %d", p.path, p.key, resp.StatusCode, body, p.status)
		}
	}
	if _, body := gw.Get("/b/x", "apikey", "alice-key-b"); http.Header(gwtest.DecodeSeen(t, body).Header).Get("X-Deck") != "b" {
		t.Errorf("B's request-transformer: %s", body)
	}
}

// deckInSync dumps the gateway as decK does, with pages of 1000 and of 1
// (every list then pages through offsets), and diffs it with the file:
// both dumps are the same, and the diff is empty but for the certificates,
// which decK updates on every sync: the gateway never shows a private key
// (docs/secrets.md), and decK compares the key (docs/admin-api.md "decK").
func deckInSync(t *testing.T, c *deckClient, file string) {
	t.Helper()
	st := c.dump(nil)
	small := &deckClient{t: t, base: c.base, size: 1}
	if paged := small.dump(nil); !reflect.DeepEqual(paged, st) {
		t.Errorf("a dump by pages of 1 differs from one by pages of 1000")
	}
	var offsets int
	for _, r := range small.log {
		if strings.Contains(r, "offset=") {
			offsets++
		}
	}
	if offsets < 5 {
		t.Errorf("pages of 1 used %d offsets:\n%s", offsets, strings.Join(small.log, "\n"))
	}
	target := deckFile(t, file)
	for kind, es := range target {
		if len(st[kind]) != len(es) {
			t.Errorf("%s: the gateway has %d, the file %d", kind, len(st[kind]), len(es))
		}
	}
	for _, op := range c.plan(target) {
		if op.method != "PUT" || !strings.HasPrefix(op.path, "/certificates/") || !deckEqual("certificates", st["certificates"][fmt.Sprint(op.body["id"])], without(op.body, "key")) {
			t.Errorf("diff after sync: %v", op)
		}
	}
}

// checkDeckOrder checks the writes follow decK's levels: no write of a
// level before one of an earlier level, and deletes last, by levels
// reversed.
func checkDeckOrder(t *testing.T, ops []deckOp) {
	t.Helper()
	level := func(path string) int {
		switch {
		case strings.HasPrefix(path, "/plugins/"):
			return 3
		case strings.HasPrefix(path, "/routes/"), strings.Contains(path, "/targets/"):
			return 2
		case strings.HasPrefix(path, "/certificates/"), strings.HasPrefix(path, "/ca_certificates/"),
			strings.HasPrefix(path, "/consumers/") && strings.Count(path, "/") == 2:
			return 0
		}
		return 1
	}
	last, deleting := -1, false
	for _, op := range ops {
		l := level(op.path)
		switch {
		case op.method == "DELETE" && !deleting:
			deleting, last = true, l
		case op.method == "DELETE" && l > last, op.method != "DELETE" && (deleting || l < last):
			t.Fatalf("%s %s out of decK's order in %v", op.method, op.path, ops)
		default:
			last = l
		}
	}
}

// deckSame: two dumps hold the same entities, equal as decK compares
// them (no timestamps, no basic-auth password: its hash is salted anew).
func deckSame(a, b deckState) bool {
	for _, kind := range slices.Concat(deckLevels...) {
		if len(a[kind]) != len(b[kind]) {
			return false
		}
		for id, e := range a[kind] {
			if o, ok := b[kind][id]; !ok || !deckEqual(kind, o, e) || !deckEqual(kind, e, o) {
				return false
			}
		}
	}
	return true
}

func without(m map[string]any, key string) map[string]any {
	m = maps.Clone(m)
	delete(m, key)
	return m
}

func deckOutsider(t *testing.T, gw *gwtest.Gateway) string {
	t.Helper()
	code, body := adminCall(t, gw, "GET", "/consumers/outsider", "")
	if code != 200 {
		return ""
	}
	return body["id"].(string)
}

// deckFixtures reads files A and B with the echo upstream's address and
// fresh certificates.
func deckFixtures(t *testing.T, echo *gwtest.Echo) map[string]string {
	t.Helper()
	cert, key := selfSigned(t, "a.deck.test", "b.deck.test")
	u, _ := url.Parse(echo.URL)
	r := strings.NewReplacer("{{ECHO_URL}}", echo.URL, "{{ECHO_HOSTPORT}}", u.Host,
		"{{CERT}}", indent(cert, "    "), "{{KEY}}", indent(key, "    "), "{{CA}}", indent(mtlsCA(t, "deck test CA").pem(), "    "))
	out := map[string]string{}
	for _, name := range []string{"a", "b"} {
		data, err := os.ReadFile(filepath.Join("testdata", "deck", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = r.Replace(string(data))
	}
	return out
}

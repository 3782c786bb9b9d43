package config

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// aliasBomb is nine levels of nine aliases: 400 bytes that expand to 9^9
// values.
func aliasBomb(prefix string) string {
	var sb strings.Builder
	sb.WriteString(prefix)
	sb.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		p := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&sb, "a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(p+", ", 9), ", "))
	}
	return sb.String()
}

// quick runs f and fails the test when it takes more than a generous
// bound: the refused documents used to take minutes and gigabytes.
func quick(t *testing.T, what string, f func() error) error {
	t.Helper()
	start := time.Now()
	err := f()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("%s took %v", what, d)
	}
	return err
}

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want one containing %q", err, want)
	}
}

func TestAliasBombRefused(t *testing.T) {
	bomb := aliasBomb("_format_version: \"3.0\"\n")
	err := quick(t, "Parse", func() error { _, err := Parse([]byte(bomb), Options{}); return err })
	wantErr(t, err, "YAML aliases expand to more than 1000000 values")
	err = quick(t, "ParseRaw", func() error { _, err := ParseRaw([]byte(aliasBomb("")), "config"); return err })
	wantErr(t, err, "YAML aliases expand to more than 1000000 values")
}

// A long value repeated by aliases is refused once the repeats pass
// MaxAliasBytes, though they are few: the configuration is written out
// whole (POST /config's answer, the admin lists).
func TestAliasBytesRefused(t *testing.T) {
	doc := func(uses int) []byte {
		var sb strings.Builder
		fmt.Fprintf(&sb, "_format_version: \"3.0\"\nservices:\n- {name: s0, url: \"http://a\", tags: &big [%s]}\n", strings.Repeat("A", 100_000))
		for i := 1; i <= uses; i++ {
			fmt.Fprintf(&sb, "- {name: s%d, url: \"http://a\", tags: *big}\n", i)
		}
		return []byte(sb.String())
	}
	if _, err := Parse(doc(300), Options{}); err != nil {
		t.Fatalf("300 uses of 100 KB (30 MB): %v", err)
	}
	err := quick(t, "Parse", func() error { _, err := Parse(doc(400), Options{}); return err })
	wantErr(t, err, "line 339: YAML aliases expand to more than 32 MiB of text")

	// Counted as JSON writes them: 20,000 control characters are 120 KB
	// in an answer, so 300 uses pass the bound although they decode to
	// 6 MB.
	var sb strings.Builder
	fmt.Fprintf(&sb, "_format_version: \"3.0\"\nx: &big \"%s\"\ny: [", strings.Repeat(`\x01`, 20_000))
	sb.WriteString(strings.TrimSuffix(strings.Repeat("*big, ", 300), ", ") + "]\n")
	_, err = ParseRaw([]byte(sb.String()), "")
	wantErr(t, err, "YAML aliases expand to more than 32 MiB of text")
}

func TestAliasChainTooDeep(t *testing.T) {
	// Each level is shallow in the text but nests the previous one.
	var sb strings.Builder
	sb.WriteString("l0: &l0 [x]\n")
	for i := 1; i <= MaxDepth+1; i++ {
		fmt.Fprintf(&sb, "l%d: &l%d [*l%d]\n", i, i, i-1)
	}
	_, err := ParseRaw([]byte(sb.String()), "")
	wantErr(t, err, "nested deeper than 100 levels")
}

func TestAliasesWithinBudget(t *testing.T) {
	// One plugin config shared by 2,000 routes: aliases as people use them.
	var sb strings.Builder
	sb.WriteString(`_format_version: "3.0"
_ignore:
- limits: &limits {minute: 5, policy: local, limit_by: ip, fault_tolerant: true}
services:
  - name: s
    host: example.com
    routes:
`)
	for i := range 2000 {
		fmt.Fprintf(&sb, "      - {name: r%d, paths: [/r%d], plugins: [{name: rate-limiting, config: *limits}]}\n", i, i)
	}
	m := mustParse(t, sb.String())
	if len(m.Routes) != 2000 || len(m.Plugins) != 2000 {
		t.Fatalf("got %d routes, %d plugins", len(m.Routes), len(m.Plugins))
	}
	var cfg map[string]any
	if err := m.Plugins[1999].Plugin.Config.Decode(&cfg); err != nil || cfg["minute"] != int64(5) {
		t.Fatalf("shared config = %v, %v", cfg, err)
	}
}

func TestMergeKeysIntoLargeMap(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("base: &base\n")
	for i := range 100 {
		fmt.Fprintf(&sb, "  k%d: %d\n", i, i)
	}
	sb.WriteString("m:\n  <<: *base\n  k7: seven\n")
	r, err := ParseRaw([]byte(sb.String()), "")
	if err != nil {
		t.Fatal(err)
	}
	m := r.Value().(map[string]any)["m"].(map[string]any)
	if len(m) != 100 || m["k7"] != "seven" || m["k99"] != int64(99) {
		t.Fatalf("merged map: %d keys, k7=%v k99=%v", len(m), m["k7"], m["k99"])
	}
}

func TestNestingDepthRefused(t *testing.T) {
	const deep = 20_000
	for name, doc := range map[string]string{
		"json":           `{"services":` + strings.Repeat("[", deep) + strings.Repeat("]", deep) + "}",
		"flow maps":      "services: " + strings.Repeat(`{"a":`, deep) + "1" + strings.Repeat("}", deep),
		"compact block":  "services:\n" + strings.Repeat("- ", deep) + "x\n",
		"just over":      "a: " + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
		"quoted key":     `"a": ` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
		"indented block": indentedBlock(MaxDepth + 1),
		"after a string": "a: \"x]\"\nb: " + strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
		"after scalar":   "a: |\n  x\nb: " + strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
		"scalar in seq":  "- a: |\n    x\n  b: " + strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
		"multi-line":     "a: [\n" + strings.Repeat("[\n", MaxDepth+1) + strings.Repeat("]\n", MaxDepth+1) + "]\n",
	} {
		t.Run(name, func(t *testing.T) {
			// The byte scan itself refuses it, before the parser (whose
			// tree would be refused for its depth too, at a cost).
			wantErr(t, scanLimits([]byte(doc), MaxDepth, MaxNodes), "nested deeper than 100 levels")
			err := quick(t, "Parse", func() error { _, err := Parse([]byte(doc), Options{}); return err })
			wantErr(t, err, "nested deeper than 100 levels")
		})
	}
}

func indentedBlock(levels int) string {
	var sb strings.Builder
	for i := range levels {
		fmt.Fprintf(&sb, "%sk%d:\n", strings.Repeat(" ", i), i)
	}
	fmt.Fprintf(&sb, "%sleaf: 1\n", strings.Repeat(" ", levels))
	return sb.String()
}

// Brackets in strings, comments and block scalars are text, not nesting.
func TestNestingDepthIgnoresText(t *testing.T) {
	many := strings.Repeat("[{", MaxDepth)
	for name, doc := range map[string]string{
		"double quoted": `{"a": "` + many + `", "b": "x\"` + many + `"}`,
		"single quoted": `a: ['it''s ` + many + `']`,
		"plain scalar":  "a: x" + many + "\n",
		"comment":       "a: 1 # " + many + "\n",
		"block scalar":  "a: |\n  " + many + "\n  " + many + "\nb: 2\n",
		"folded in seq": "- a: >-\n    " + many + "\n- b\n",
		"quoted lines":  "a: \"x\n  " + many + "\"\n",
		"deep but fine": indentedBlock(MaxDepth - 2),
		"json at limit": strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseRaw([]byte(doc), ""); err != nil {
				t.Fatalf("%v", err)
			}
		})
	}
}

// Names reach logs and metric labels: bytes that are not UTF-8 are refused
// with the field path, in every entity and key.
func TestInvalidUTF8Refused(t *testing.T) {
	const bad = "\xff\xfe"
	for path, doc := range map[string]string{
		"services[0].name":             "services: [{name: \"a" + bad + "\", host: h}]",
		"services[0].routes[0].name":   "services: [{name: a, host: h, routes: [{name: r" + bad + ", paths: [/]}]}]",
		"services[0].tags[0]":          "services: [{name: a, host: h, tags: [t" + bad + "]}]",
		"consumers[0].username":        "consumers: [{username: u" + bad + "}]",
		"consumers[0].custom_id":       "consumers: [{custom_id: c" + bad + "}]",
		"upstreams[0].name":            "upstreams: [{name: u" + bad + "}]",
		"plugins[0].instance_name":     "plugins: [{name: cors, instance_name: i" + bad + "}]",
		"plugins[0].config.origins[0]": "plugins: [{name: cors, config: {origins: [o" + bad + "]}}]",
		"services[0]":                  "services: [{name: a, host: h, \"k" + bad + "\": 1}]",
		"keyauth_credentials[0].key":   "keyauth_credentials: [{key: k" + bad + ", consumer: c}]\nconsumers: [{username: c}]",
	} {
		t.Run(path, func(t *testing.T) {
			_, err := Parse([]byte("_format_version: \"3.0\"\n"+doc+"\n"), withKeyAuth)
			errs, ok := err.(Errors)
			if !ok {
				t.Fatalf("error = %v", err)
			}
			for _, e := range errs {
				if e.Path == path && strings.Contains(e.Message, "not valid UTF-8") {
					return
				}
			}
			t.Fatalf("no UTF-8 error at %s: %v", path, err)
		})
	}
	// Bytes the parser leaves no trace of are refused by line.
	_, err := Parse([]byte("_format_version: \"3.0\"\n# \xff\nservices: []\n"), Options{})
	wantErr(t, err, "not valid UTF-8 (line 2)")
	_, err = ParseRaw([]byte("a: |\n  x\n  \xff\n"), "config")
	wantErr(t, err, "not valid UTF-8 (line 3)")
	// Valid UTF-8 beyond ASCII is fine.
	mustParse(t, "_format_version: \"3.0\"\nservices: [{name: café-ü, host: h, tags: [日本]}]\n")
}

// A tag or an anchor before a collection does not hide its brackets from
// the scan that runs before the parser.
func TestNestingDepthAfterNodeProperties(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	for name, doc := range map[string]string{
		"tag":               "services: !!seq " + deep,
		"anchor":            "services: &a " + deep,
		"anchor and tag":    "services: &a !!seq " + deep,
		"verbatim tag":      "services: !<tag:yaml.org,2002:seq> " + deep,
		"local tag":         "services: !x " + deep,
		"document tag":      `--- !!map {"_format_version":"3.0","services":` + deep + "}",
		"tagged root":       `!!map {"name":"cors","config":` + deep + "}",
		"tagged seq item":   "services:\n  - !!seq " + deep,
		"tagged key":        "? !!str k\n: !!seq " + deep,
		"tag on next line":  "services: !!seq\n  " + deep,
		"anchor, next line": "services: &a\n  " + deep,
	} {
		t.Run(name, func(t *testing.T) {
			wantErr(t, scanLimits([]byte(doc), MaxDepth, MaxNodes), "nested deeper than 100 levels")
		})
	}
}

// The parser's cost grows with the values a document holds; the scan
// refuses a document of too many before it runs, in YAML and JSON.
func TestTooManyValuesRefused(t *testing.T) {
	n := MaxNodes / 2
	for name, doc := range map[string]string{
		"flow list":  "_comment: [" + strings.Repeat("1,", n) + "1]",
		"json list":  `{"_comment": [` + strings.Repeat("1,", n) + "1]}",
		"block list": "_comment:\n" + strings.Repeat("- \n", n),
		"block map":  "_comment:\n" + strings.Repeat("  k: \n", n),
	} {
		t.Run(name, func(t *testing.T) {
			wantErr(t, scanLimits([]byte(doc), MaxDepth, MaxNodes), "more than 3000000 values")
		})
	}
}

// One long key over many values cost the previous parser gigabytes (it
// stored every value's path); this parse must stay small.
func TestLongKeyOverManyValues(t *testing.T) {
	key, values := strings.Repeat("k", 4000), "["+strings.Repeat("1,", 200_000)+"1]"
	for name, doc := range map[string]string{
		"yaml": "? " + key + "\n: " + values,
		"json": `{"` + key + `": ` + values + "}",
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			if _, err := ParseRaw([]byte(doc), ""); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<20 {
				t.Fatalf("parsing %d bytes allocated %d MiB", len(doc), grew>>20)
			}
		})
	}
}

// JSON documents take the JSON tokenizer: every JSON escape is read, lines
// are kept for errors, and a key written twice is refused as in YAML.
func TestJSONDocuments(t *testing.T) {
	r, err := ParseRaw([]byte("{\"a\": \"x\\/y \\ud83d\\ude00\",\n \"b\": [1, 2.5, true, null]}"), "")
	if err != nil {
		t.Fatal(err)
	}
	m := r.Value().(map[string]any)
	if m["a"] != "x/y \U0001F600" || fmt.Sprint(m["b"]) != "[1 2.5 true <nil>]" {
		t.Fatalf("got %#v", m)
	}
	_, err = Parse([]byte("{\"_format_version\": \"3.0\",\n\"services\": [{\"name\": \"s\", \"host\": 5}]}"), Options{})
	wantErr(t, err, "(line 2)")
	for _, doc := range []string{"{\"a\": 1,\n\"a\": 2}", "a: 1\na: 2\n"} {
		_, err = ParseRaw([]byte(doc), "")
		wantErr(t, err, `line 2: mapping key "a" already defined at line 1`)
	}
	// Flow-style YAML is not JSON and still parses.
	if r, err := ParseRaw([]byte("{a: 1, b: [x]}"), ""); err != nil || fmt.Sprint(r.Value()) != "map[a:1 b:[x]]" {
		t.Fatalf("flow YAML: %v, %v", r.Value(), err)
	}
}

// Finding the field of a byte that is not UTF-8 walks the tree with
// shortened keys: one long key over many values made every path a copy of
// the key (1 MiB over 40,000 values: 25 s).
func TestInvalidUTF8UnderALongKey(t *testing.T) {
	doc := `{"_comment": {"` + strings.Repeat("k", 1<<20) + `": [` + strings.Repeat(`"a",`, 40_000) + "\"\xff\"]}}"
	err := quick(t, "Parse", func() error { _, err := Parse([]byte(doc), Options{}); return err })
	wantErr(t, err, "not valid UTF-8")
	if len(err.Error()) > 4096 {
		t.Errorf("%d bytes of error", len(err.Error()))
	}
}

package config

import (
	"bytes"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzScanLimits holds the byte scan to the parser: whatever the parser
// builds, the scan counts at least as many levels and values. The scan
// runs with a depth limit of 4 here so that short inputs reach it.
func FuzzScanLimits(f *testing.F) {
	for _, seed := range []string{
		"a: [[[[[1]]]]]", "services: !!seq [[[[[]]]]]", "--- !!map {\"a\":[[[[[]]]]]}", "&a [[[[[x]]]]]",
		"- - - - - x", "a:\n  b:\n    c:\n      d:\n        e: 1", "? [[[[[x]]]]]\n: 1", "a: |\n  [[[[[\nb: [[[[[]]]]]",
		"a: \"[[[[[\"\nb: '[[[['", "{a: {b: {c: {d: {e: 1}}}}}", "a: [\n [\n  [\n   [\n    [x]]]]]", "a: x # [[[[[",
		"- [a, b, {c: d}, \"e\"]\n- ? x\n  : y", "a: !<tag:yaml.org,2002:seq> [[[[[]]]]]", "{\"a\": [1, 2, {\"b\": null}]}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) != nil {
			return
		}
		depth, nodes := yamlShape(&doc)
		if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			if v, err := parseJSONTree(data); err == nil {
				depth, nodes = max(depth, v.depth), max(nodes, v.size)
			}
		}
		s := depthScanner{scalarOwner: -1, maxDepth: 1 << 30, maxNodes: 1 << 30}
		for _, line := range bytes.Split(data, []byte("\n")) {
			s.line(bytes.TrimSuffix(line, []byte("\r")))
		}
		if s.nodes+2 < nodes {
			t.Fatalf("the scan counted %d values, the parser built %d", s.nodes, nodes)
		}
		if depth > 4 && scanLimits(data, 4, 1<<30) == nil {
			t.Fatalf("the parser nested %d levels, the scan with a limit of 4 let it through", depth)
		}
	})
}

// yamlShape measures the parser's tree: the deepest nesting of maps and
// arrays and the number of nodes (aliases count as one).
func yamlShape(n *yaml.Node) (depth, nodes int) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return 0, 0
		}
		return yamlShape(n.Content[0])
	}
	nodes = 1
	for _, c := range n.Content {
		d, k := yamlShape(c)
		depth, nodes = max(depth, d), nodes+k
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		depth++
	}
	return depth, nodes
}

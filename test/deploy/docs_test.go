package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestDocsListEveryValue: every value values.schema.json defines is in
// docs/kubernetes.md's tables, by its path or, in a grouped row, its name.
func TestDocsListEveryValue(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "helm", "turnpike", "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(repoRoot(), "docs", "kubernetes.md"))
	if err != nil {
		t.Fatal(err)
	}
	var spans []string
	code := regexp.MustCompile("`([^`]+)`")
	for line := range strings.SplitSeq(string(doc), "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(line, -1) {
			spans = append(spans, m[1])
		}
	}
	documented := func(path string) bool {
		name := path[strings.LastIndex(path, ".")+1:]
		for _, s := range spans {
			if s == path || strings.HasSuffix(s, "."+name) || s == name || strings.HasSuffix(s, ".*") && strings.HasPrefix(path, strings.TrimSuffix(s, "*")) {
				return true
			}
		}
		return false
	}
	var missing []string
	for _, path := range leafValues(schema, "") {
		if path != "global" && !documented(path) {
			missing = append(missing, path)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("values not in docs/kubernetes.md: %q", missing)
	}
}

// leafValues lists the dotted paths of a schema's properties that have
// no properties of their own.
func leafValues(schema map[string]any, prefix string) []string {
	props, _ := schema["properties"].(map[string]any)
	if len(props) == 0 {
		return []string{strings.TrimSuffix(prefix, ".")}
	}
	var out []string
	for name, sub := range props {
		m, _ := sub.(map[string]any)
		out = append(out, leafValues(m, prefix+name+".")...)
	}
	return out
}

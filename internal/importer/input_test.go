package importer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplit(t *testing.T) {
	src := "# leading comment\n---\na: 1\n---\n# only a comment\n---\nb: |\n  text\n  --- not a marker\n...\n--- c: 3\n"
	got := Split([]byte(src))
	want := []Document{
		{Line: 3, Data: []byte("a: 1\n")},
		{Line: 7, Data: []byte("b: |\n  text\n  --- not a marker\n")},
		{Line: 11, Data: []byte(" c: 3\n")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := Split([]byte("{\"openapi\": \"3.0.0\"}")); len(got) != 1 || got[0].Line != 1 {
		t.Errorf("a JSON file: %+v, want one document at line 1", got)
	}
	if got := Split([]byte("---\n\n# nothing\n---\n")); len(got) != 0 {
		t.Errorf("only markers and comments: %d documents, want none", len(got))
	}
	if got := Split([]byte("----\nx: 1\n")); len(got) != 1 || got[0].Line != 1 || string(got[0].Data) != "----\nx: 1\n" {
		t.Errorf("---- is not a marker: %+v", got)
	}
}

func write(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRead reads files, a directory (its YAML and JSON files in name
// order, nothing else) and standard input, in the order given.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "dir")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, sub, "b.yml", "b: 1\n---\nb: 2\n")
	write(t, sub, "a.json", `{"a": 1}`)
	write(t, sub, "c.YAML", "c: 1\n")
	write(t, sub, "notes.txt", "not read: 1\n")
	one := write(t, dir, "one.yaml", "one: 1\n")
	docs, err := Read([]string{one, sub, "-"}, strings.NewReader("in: 1\n"), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, filepath.Base(d.Where())+" "+strings.TrimSpace(string(d.Data)))
	}
	want := []string{"one.yaml:1 one: 1", "a.json:1 {\"a\": 1}", "b.yml:1 b: 1", "b.yml:3 b: 2", "c.YAML:1 c: 1", "-:1 in: 1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	big := write(t, dir, "big.yaml", strings.Repeat("a: 1\n", 100))
	many := write(t, dir, "many.yaml", strings.Repeat("a: 1\n---\n", 5))
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		inputs []string
		lim    Limits
		want   string
	}{
		{"nothing", nil, DefaultLimits, "no input"},
		{"too big", []string{big}, Limits{MaxBytes: 499, MaxDocuments: 10}, "exceed 499 bytes"},
		{"too big together", []string{big, big}, Limits{MaxBytes: 999, MaxDocuments: 10}, "exceed 999 bytes"},
		{"too many documents", []string{many}, Limits{MaxBytes: 1 << 20, MaxDocuments: 4}, "more than 4 documents"},
		{"stdin twice", []string{"-", "-"}, DefaultLimits, "standard input given twice"},
		{"missing", []string{filepath.Join(dir, "nope.yaml")}, DefaultLimits, "no such file"},
		{"empty directory", []string{empty}, DefaultLimits, "no .yaml, .yml or .json file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(tc.inputs, strings.NewReader("x: 1\n"), tc.lim)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := Read([]string{big}, nil, Limits{MaxBytes: 500, MaxDocuments: 100}); err != nil {
		t.Errorf("exactly at the limit: %v", err)
	}
}

// Package kongcompat replays Kong's own configs and spec cases against the
// built binary; see README.md.
package kongcompat

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// header reads a corpus file's leading `# key: value` lines.
func header(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "# ")
		if !ok {
			break
		}
		if k, v, ok := strings.Cut(rest, ": "); ok {
			h[k] = strings.TrimSpace(v)
		}
	}
	if h["source"] == "" {
		t.Fatalf("%s: the first line must be `# source: <repository> <path>`", path)
	}
	return h
}

// validate runs `turnpike validate -c path` with env as the extra environment.
func validate(t *testing.T, path string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(gwtest.Binary(t), "validate", "-c", path)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func corpus(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	json, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	files = append(files, json...)
	if len(files) == 0 {
		t.Fatalf("no corpus files in testdata/%s", dir)
	}
	return files
}

// TestAccept: every config Kong accepts validates.
func TestAccept(t *testing.T) {
	for _, path := range corpus(t, "accept") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			h := header(t, path)
			var env []string
			if e := h["env"]; e != "" {
				env = strings.Fields(e)
			}
			if out, err := validate(t, path, env...); err != nil {
				t.Fatalf("refused (%v), source %s:\n%s", err, h["source"], out)
			}
		})
	}
}

// TestRefuse: every config Kong refuses is refused, with the expected text.
func TestRefuse(t *testing.T) {
	for _, path := range corpus(t, "refuse") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			h := header(t, path)
			want := h["expect"]
			if want == "" {
				t.Fatalf("%s: the second line must be `# expect: <text>`", path)
			}
			out, err := validate(t, path)
			if err == nil {
				t.Fatalf("accepted, but Kong refuses it (source %s)", h["source"])
			}
			if !strings.Contains(out, want) {
				t.Fatalf("error does not contain %q (source %s):\n%s", want, h["source"], out)
			}
		})
	}
}

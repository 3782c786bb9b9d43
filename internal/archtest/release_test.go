package archtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The release build (the Makefile's TAGS) leaves out grpc's
// golang.org/x/net/trace, whose html/template made the linker keep every
// exported method of every type: the binary was 90 MB with it and 54 MB
// without. A dependency that brings html/template back would undo that
// without a word, so this fails first.
func TestReleaseBuildLeavesOutHTMLTemplate(t *testing.T) {
	root, _ := moduleRoot(t)
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(makefile), "\nTAGS    := grpcnotrace\n") {
		t.Fatal("the Makefile's TAGS no longer name grpcnotrace; update this test with it")
	}
	// The build recipe uses TAGS; bench/ builds through it, and
	// test/deploy holds the Dockerfile to it. gwtest's fallback build is
	// the one other build of cmd/turnpike.
	if !strings.Contains(string(makefile), "build -tags $(TAGS) ") {
		t.Error("the Makefile's build recipe does not pass -tags $(TAGS)")
	}
	gw, err := os.ReadFile(filepath.Join(root, "internal/gwtest/gateway.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(gw), `"build", "-tags", "grpcnotrace",`) {
		t.Error("internal/gwtest builds cmd/turnpike without the grpcnotrace tag")
	}
	for _, pkg := range releaseDeps(t) {
		switch pkg {
		case "html/template", "golang.org/x/net/trace":
			t.Errorf("cmd/turnpike's release build depends on %s (go mod why -m can say through what)", pkg)
		}
	}
}

var releaseDepsOnce struct {
	sync.Once
	deps []string
	err  error
}

// releaseDeps is the packages the release build of cmd/turnpike links
// (go list -deps with the Makefile's tags), listed once for every test.
func releaseDeps(t *testing.T) []string {
	t.Helper()
	root, _ := moduleRoot(t)
	d := &releaseDepsOnce
	d.Do(func() {
		cmd := exec.Command("go", "list", "-deps", "-tags", "grpcnotrace", "./cmd/turnpike")
		cmd.Dir = root
		var out []byte
		if out, d.err = cmd.Output(); d.err == nil {
			d.deps = strings.Fields(string(out))
		}
	})
	if d.err != nil {
		t.Fatalf("go list: %v", d.err)
	}
	return d.deps
}

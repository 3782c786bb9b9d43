package oidcop_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNotInTheBinary keeps the test provider, and zitadel's server library
// with it, out of the gateway: no package the binary links imports them.
func TestNotInTheBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/turnpikegw/turnpike/cmd/turnpike").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for pkg := range strings.Lines(string(out)) {
		if strings.Contains(pkg, "/internal/gwtest") || strings.HasPrefix(pkg, "github.com/zitadel/") {
			t.Errorf("the turnpike binary links %s", strings.TrimSpace(pkg))
		}
	}
}

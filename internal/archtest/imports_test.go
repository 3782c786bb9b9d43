package archtest

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// leaves are utility packages anything may import: they import nothing of
// ours (checked below).
var leaves = []string{"internal/clock", "internal/ident", "internal/jsonw", "internal/logfile", "internal/pathsafe", "internal/record", "internal/transcode"}

// TestPluginImports enforces the plugin SDK's rule: a plugin imports the
// SDK (internal/plugin and its subpackages, such as the batching queue
// internal/plugin/queue), the store (internal/store), leaf utilities and
// its own subpackages, nothing else of ours (not another plugin, proxy,
// snapshot, admin, config, observe); the SDK imports only the store and
// leaf utilities. internal/plugins/all, the explicit list of every
// plugin, is the one package that imports them all. Test files are not
// held to the rule: they may build configs or gateways to test with.
func TestPluginImports(t *testing.T) {
	root, module := moduleRoot(t)
	ours := module + "/"
	for _, leaf := range leaves {
		for _, imp := range imports(t, root, leaf) {
			if strings.HasPrefix(imp, ours) {
				t.Errorf("%s is listed as a leaf utility but imports %s", leaf, strings.TrimPrefix(imp, ours))
			}
		}
	}
	check := func(pkg string, ok func(imp string) bool) {
		for _, imp := range imports(t, root, pkg) {
			if !strings.HasPrefix(imp, ours) {
				continue
			}
			imp = strings.TrimPrefix(imp, ours)
			if ok(imp) || slices.Contains(leaves, imp) {
				continue
			}
			t.Errorf("%s imports %s: a plugin imports only internal/plugin, internal/store, leaf utilities and its own subpackages; the SDK only internal/store and leaf utilities", pkg, imp)
		}
	}
	for _, pkg := range packagesUnder(t, root, "internal/plugin") {
		check(pkg, func(imp string) bool { return imp == "internal/store" || within(imp, "internal/plugin") })
	}
	plugins := packagesUnder(t, root, "internal/plugins")
	if len(plugins) < 2 {
		t.Fatalf("found %d packages under internal/plugins", len(plugins))
	}
	for _, pkg := range plugins {
		if pkg == "internal/plugins" || within(pkg, "internal/plugins/all") {
			continue
		}
		// internal/plugins/<name>: the plugin's own folder.
		own := strings.Join(strings.SplitN(pkg, "/", 4)[:3], "/")
		check(pkg, func(imp string) bool {
			return within(imp, "internal/plugin") || imp == "internal/store" || within(imp, own)
		})
	}
}

// within reports whether pkg is dir or below it.
func within(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

// moduleRoot is the module's directory and path.
func moduleRoot(t *testing.T) (string, string) {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if path, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return dir, strings.Trim(strings.TrimSpace(path), `"`)
		}
	}
	t.Fatal("go.mod names no module")
	return "", ""
}

// packagesUnder lists the Go packages at or below dir (relative to root),
// relative to root.
func packagesUnder(t *testing.T, root, dir string) []string {
	t.Helper()
	var pkgs []string
	err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			return filepath.SkipDir
		}
		if _, err := build.ImportDir(path, 0); err == nil {
			rel, _ := filepath.Rel(root, path)
			pkgs = append(pkgs, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// imports are the import paths of pkg's non-test files.
func imports(t *testing.T, root, pkg string) []string {
	t.Helper()
	p, err := build.ImportDir(filepath.Join(root, pkg), 0)
	if err != nil {
		t.Fatalf("%s: %v", pkg, err)
	}
	return p.Imports
}

// TestImporterImports keeps the importers (internal/importer, used by
// `turnpike import` and the Kubernetes controller) off the gateway's
// paths: only internal/cli, the controller (internal/kube) and the
// importers themselves import them, and
// the core imports nothing of ours, so a format's dependencies never reach
// the proxy.
func TestImporterImports(t *testing.T) {
	root, module := moduleRoot(t)
	ours := module + "/"
	for _, pkg := range packagesUnder(t, root, "internal") {
		if within(pkg, "internal/importer") || pkg == "internal/cli" || pkg == "internal/kube" {
			continue
		}
		for _, imp := range imports(t, root, pkg) {
			if within(strings.TrimPrefix(imp, ours), "internal/importer") {
				t.Errorf("%s imports %s: only internal/cli and internal/kube may", pkg, imp)
			}
		}
	}
	for _, imp := range imports(t, root, "internal/importer") {
		if strings.HasPrefix(imp, ours) {
			t.Errorf("internal/importer imports %s: the core imports nothing of ours", strings.TrimPrefix(imp, ours))
		}
	}
}

package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Size limits keep each file and each function readable in one sitting:
// every non-test source file of the module, and every function in the
// packages a request or a reload runs through.
const (
	maxFileLines = 600
	maxFuncLines = 100
)

var funcLimited = []string{"internal/proxy", "internal/snapshot", "internal/reload"}

func TestFileAndFunctionSizes(t *testing.T) {
	root, _ := moduleRoot(t)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		checkFile(t, path, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkFile(t *testing.T, path, rel string) {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	if n := fset.File(f.Pos()).LineCount(); n > maxFileLines {
		t.Errorf("%s: %d lines, more than %d: split it by topic", rel, n, maxFileLines)
	}
	limited := false
	for _, dir := range funcLimited {
		if filepath.ToSlash(filepath.Dir(rel)) == dir {
			limited = true
		}
	}
	if !limited {
		return
	}
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		lines := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
		if lines > maxFuncLines {
			t.Errorf("%s: func %s is %d lines, more than %d", rel, fn.Name.Name, lines, maxFuncLines)
		}
	}
}

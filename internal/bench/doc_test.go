package bench_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Finding 4 (issue 13): the benchmark harnesses live under internal/bench, behind the bench
// command: no core package's non-test code declares a bench harness (a RunBench, a Bench*
// type) or holds a bench.go. Before, ingest, vectorindex and embed carried about 860 lines of
// them (with a second "naive" apply path in ingest).
func TestFinding4NoBenchHarnessInCorePackages(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, pkg := range []string{"api", "catalog", "embed", "filter", "ingest", "lexical", "prodtype", "search", "selection",
		"tagger", "vectorindex", "internal/core"} {
		dir := filepath.Join(root, pkg)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			if name == "bench.go" {
				t.Errorf("%s/%s: benchmark harness in a core package", pkg, name)
			}
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if d.Recv == nil && strings.HasPrefix(d.Name.Name, "RunBench") {
						t.Errorf("%s/%s: %s", pkg, name, d.Name.Name)
					}
				case *ast.GenDecl:
					for _, s := range d.Specs {
						if ts, ok := s.(*ast.TypeSpec); ok && strings.HasPrefix(ts.Name.Name, "Bench") {
							t.Errorf("%s/%s: type %s", pkg, name, ts.Name.Name)
						}
					}
				}
			}
		}
	}
}

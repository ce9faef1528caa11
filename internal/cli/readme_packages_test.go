package cli

import (
	"errors"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

const modulePath = "selection"

// projectPackages maps each project package with non-test Go files (by its directory relative
// to the module root) to the project packages its non-test files import.
func projectPackages(t *testing.T, root string) map[string][]string {
	t.Helper()
	pkgs := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") {
			return filepath.SkipDir
		}
		p, err := build.ImportDir(path, 0)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(p.GoFiles) == 0 {
			return nil // test files only
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		var imports []string
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, modulePath+"/") {
				imports = append(imports, strings.TrimPrefix(imp, modulePath+"/"))
			}
		}
		pkgs[filepath.ToSlash(rel)] = imports
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("found %d packages below %s: the walk is wrong", len(pkgs), root)
	}
	return pkgs
}

// Every top-level package (cmd and internal aside) and every internal helper is named in the
// first column of README.md's package table.
func TestReadmeNamesEveryPackage(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	code := regexp.MustCompile("`([^`]+)`")
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || strings.TrimSpace(cells[0]) != "" {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			named[strings.TrimSuffix(m[1], "/...")] = true
		}
	}
	want := map[string]bool{}
	for dir := range projectPackages(t, filepath.Join("..", "..")) {
		parts := strings.Split(dir, "/")
		switch {
		case parts[0] == "cmd":
			continue // the binaries have their own row
		case parts[0] == "internal" && len(parts) > 1:
			want["internal/"+parts[1]] = true
		default:
			want[parts[0]] = true
		}
	}
	for name := range want {
		if !named[name] {
			t.Errorf("README.md's package table has no row naming `%s`", name)
		}
	}
}

// The README's diagram of packages and imports is the code's: each line `PKG -> IMPORTS`
// (continued on the following indented lines) lists exactly the project packages PKG's
// non-test files import, internal/bench/* standing for the bench harnesses together; the
// packages after "(import no project package)" import none; every package is drawn; and a
// package imports only packages drawn below it.
func TestReadmePackageDiagram(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const leaves = "(import no project package)"
	readme := string(b)
	at := strings.Index(readme, leaves)
	if at < 0 {
		t.Fatalf("README.md has no package diagram (no %q line)", leaves)
	}
	start := strings.LastIndex(readme[:at], "```")
	end := strings.Index(readme[at:], "```")
	if start < 0 || end < 0 {
		t.Fatal("the package diagram is not in a fenced block")
	}
	drawn := map[string][]string{} // node -> imports
	order := map[string]int{}      // node -> line of the diagram
	draw := func(node string, line int) {
		if _, dup := order[node]; dup {
			t.Errorf("the diagram draws %s twice", node)
		}
		order[node] = line
		drawn[node] = []string{}
	}
	var cur string
	inLeaves := false
	for i, line := range strings.Split(readme[start+3:at+end], "\n") {
		switch {
		case strings.HasPrefix(strings.TrimSpace(line), "---"):
			cur = ""
		case strings.Contains(line, leaves):
			inLeaves, cur = true, ""
		case inLeaves:
			for _, f := range strings.Fields(line) {
				draw(f, i)
			}
		case strings.Contains(line, "->"):
			left, right, _ := strings.Cut(line, "->")
			f := strings.Fields(left)
			if len(f) == 0 {
				t.Fatalf("diagram line %q names no package", line)
			}
			cur = f[len(f)-1] // before it: the layer's label
			draw(cur, i)
			drawn[cur] = append(drawn[cur], strings.Fields(right)...)
		case strings.TrimSpace(line) != "":
			if cur == "" {
				t.Fatalf("diagram line %q continues no package", line)
			}
			drawn[cur] = append(drawn[cur], strings.Fields(line)...)
		}
	}
	node := func(dir string) string {
		if strings.HasPrefix(dir, "internal/bench/") {
			return "internal/bench/*"
		}
		return dir
	}
	actual := map[string][]string{}
	for dir, imports := range projectPackages(t, filepath.Join("..", "..")) {
		n := node(dir)
		if _, ok := actual[n]; !ok {
			actual[n] = []string{}
		}
		for _, imp := range imports {
			if m := node(imp); m != n && !slices.Contains(actual[n], m) {
				actual[n] = append(actual[n], m)
			}
		}
	}
	for n, imports := range actual {
		got, ok := drawn[n]
		if !ok {
			t.Errorf("the package diagram lacks %s (imports: %s)", n, strings.Join(imports, " "))
			continue
		}
		sort.Strings(imports)
		got = slices.Clone(got)
		sort.Strings(got)
		if !slices.Equal(got, imports) {
			t.Errorf("the package diagram has %s -> %s; the code imports %s", n, strings.Join(got, " "), strings.Join(imports, " "))
		}
		for _, imp := range imports {
			if o, ok := order[imp]; ok && o <= order[n] {
				t.Errorf("the package diagram draws %s above %s, which imports it", imp, n)
			}
		}
	}
	for n := range drawn {
		if _, ok := actual[n]; !ok {
			t.Errorf("the package diagram draws %s, which is not a package with non-test Go files", n)
		}
	}
}

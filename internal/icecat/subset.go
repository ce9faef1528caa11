package icecat

import (
	"archive/zip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Subset writes the first n products of the catalogue's first file as an Icecat JSON file in
// the test's temporary directory and returns its path: a small catalogue for `selection load`.
func Subset(tb testing.TB, n int) string {
	tb.Helper()
	fail := func(err error) {
		if err != nil {
			tb.Fatalf("icecat: subset: %v", err)
		}
	}
	zr, err := zip.OpenReader(filepath.Join(Dir(tb), "products_1.json.zip"))
	fail(err)
	defer zr.Close()
	if len(zr.File) == 0 {
		tb.Fatalf("icecat: subset: products_1.json.zip is empty")
	}
	rc, err := zr.File[0].Open()
	fail(err)
	defer rc.Close()
	var all []json.RawMessage
	fail(json.NewDecoder(rc).Decode(&all))
	b, err := json.Marshal(all[:n])
	fail(err)
	path := filepath.Join(tb.TempDir(), "icecat-subset.json")
	fail(os.WriteFile(path, b, 0o644))
	return path
}

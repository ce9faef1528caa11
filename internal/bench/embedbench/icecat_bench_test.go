package embedbench

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"selection/internal/icecat"
)

// TestRunIcecat runs Run on Icecat product titles with the local
// model. It only runs when EMBED_BENCH_TITLES is set to the number of
// titles to embed; titles come from $ICECAT_DIR (default
// ../../shared/data/icecat), products_*.json.zip.
//
//	EMBED_BENCH_TITLES=4000 GOEXPERIMENT=simd go test ./internal/bench/embedbench -run RunIcecat -v
func TestRunIcecat(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("EMBED_BENCH_TITLES"))
	if err != nil || n <= 0 {
		t.Skip("set EMBED_BENCH_TITLES=<n> to run")
	}
	dir := os.Getenv("ICECAT_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "data", "icecat")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "products_*.json.zip"))
	sort.Strings(files)
	if len(files) == 0 {
		t.Skipf("no products_*.json.zip in %s", dir)
	}
	var titles []string
	for _, f := range files {
		zr, err := zip.OpenReader(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, zf := range zr.File {
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			var prods []struct {
				Title string `json:"title"`
			}
			if err := json.Unmarshal(b, &prods); err != nil {
				t.Fatal(err)
			}
			for _, p := range prods {
				if p.Title != "" {
					titles = append(titles, p.Title)
				}
			}
		}
		zr.Close()
	}
	if len(titles) > n {
		titles = titles[:n]
	}
	e := icecat.Embedder(t)
	var out bytes.Buffer
	if _, err := Run(context.Background(), &out, e, titles); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
}

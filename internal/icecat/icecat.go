// Package icecat is the shared test fixture over the Icecat catalogue (19,406 real products with
// human relevance judgments; see evals/testdata/icecat/README.md): where the data is, its
// products, their embeddings cached on disk, and a loader that fills a test schema.
//
// It is test support, imported only by _test.go files. Embedding the whole catalogue with the
// local USE-Lite model takes one to two minutes on two cores, so Vectors computes it once per
// machine and keeps it in os.UserCacheDir()/selection/icecat-vectors-<model>-<hash>.bin (the
// hash covers the ids and texts, so a change to the data or to catalog.EmbedText makes a new
// file; 19,406 x 512 float32 = 40 MB, read back in well under a second). Concurrent test
// processes serialise on a lock file, so the catalogue is embedded once even when `go test
// ./...` runs several packages at the same time.
package icecat

import (
	"context"
	"os"
	"path/filepath"
	"selection/internal/vecfile"
	"strings"
	"sync"
	"testing"
	"time"

	"selection/catalog"
	"selection/embed"
	"selection/ingest"
)

// Count is the number of products in the catalogue.
const Count = 19406

// ModuleRoot returns the directory holding the module's go.mod, found by walking up from the
// working directory (a package's directory under go test).
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("icecat: %v", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			tb.Fatalf("icecat: no go.mod above %s", dir)
		}
	}
}

// Dir returns the directory of the Icecat data: evals/testdata/icecat under the module root,
// else /work/shared/data/icecat, else ../shared/data/icecat beside the module root. It fails
// the test, saying where it looked, when none holds the product files.
func Dir(tb testing.TB) string {
	tb.Helper()
	root := ModuleRoot(tb)
	cands := []string{
		filepath.Join(root, "evals", "testdata", "icecat"),
		"/work/shared/data/icecat",
		filepath.Join(root, "..", "shared", "data", "icecat"),
	}
	for _, d := range cands {
		if files, err := ingest.IcecatFiles(d); err == nil && len(files) > 0 {
			return d
		}
	}
	tb.Fatalf("icecat: the Icecat catalogue (products_*.json.zip) is in none of %s; copy it into evals/testdata/icecat (see its README)",
		strings.Join(cands, ", "))
	return ""
}

// JudgmentsFile is the path of the public judgments (query,docid,rating).
func JudgmentsFile(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(Dir(tb), "judgments.csv")
}

var products struct {
	once sync.Once
	dir  string
	list []ingest.IcecatProduct
	err  error
}

// Products returns every product, in file order. The slice is shared by the whole test
// binary: do not modify it.
func Products(tb testing.TB) []ingest.IcecatProduct {
	tb.Helper()
	dir := Dir(tb)
	products.once.Do(func() {
		products.dir = dir
		products.err = ingest.ReadIcecatDir(context.Background(), dir, func(p ingest.IcecatProduct) error {
			products.list = append(products.list, p)
			return nil
		})
	})
	if products.err != nil {
		tb.Fatalf("icecat: read %s: %v", products.dir, products.err)
	}
	return products.list
}

// Text is what the embedding model sees for p: catalog.EmbedText over the fields
// IcecatProduct.Patch stores (title, brand = supplier, product type, description = short
// description), the same text the embedding worker reads back from skus.
func Text(p ingest.IcecatProduct) string {
	return catalog.EmbedText(p.Title, p.Supplier, p.ProductType, p.ShortDescription)
}

var local struct {
	once sync.Once
	e    embed.Embedder
	err  error
}

// Embedder returns the local USE-Lite embedder (embed.New with the default model directory),
// loaded once per test binary. It fails the test when the model is missing.
func Embedder(tb testing.TB) embed.Embedder {
	tb.Helper()
	local.once.Do(func() { local.e, local.err = embed.New(context.Background(), embed.Config{}) })
	if local.err != nil {
		tb.Fatalf("icecat: %v", local.err)
	}
	return local.e
}

var vectorsMu sync.Mutex
var vectorsMemo = map[string]map[int64][]float32{}

// Vectors returns the embedding of Text(p) for every product, by product (= SKU) id, from the
// on-disk cache when it is there and computing and storing it otherwise. The map is shared
// within the test binary: do not modify the vectors.
func Vectors(tb testing.TB, e embed.Embedder) map[int64][]float32 {
	tb.Helper()
	ps := Products(tb)
	ids := make([]int64, len(ps))
	texts := make([]string, len(ps))
	for i, p := range ps {
		ids[i], texts[i] = p.ID, Text(p)
	}
	key := vecfile.CacheName("icecat-vectors", e.Name(), ids, texts)

	vectorsMu.Lock()
	defer vectorsMu.Unlock()
	if m, ok := vectorsMemo[key]; ok {
		return m
	}
	dir := vecfile.CacheDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatalf("icecat: %v", err)
	}
	path := filepath.Join(dir, key)
	if m, err := vecfile.Read(path, ids, e.Dimension()); err == nil {
		vectorsMemo[key] = m
		return m
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		tb.Fatalf("icecat: %v", err)
	}
	defer unlock()
	// Another process may have written it while we waited for the lock.
	if m, err := vecfile.Read(path, ids, e.Dimension()); err == nil {
		vectorsMemo[key] = m
		return m
	}
	start := time.Now()
	tb.Logf("icecat: embedding %d products with %s (once per machine; cached in %s)", len(texts), e.Name(), path)
	vecs, err := e.EmbedDocuments(context.Background(), texts)
	if err != nil {
		tb.Fatalf("icecat: embed: %v", err)
	}
	if err := vecfile.Write(path, ids, vecs, e.Dimension()); err != nil {
		tb.Fatalf("icecat: %v", err)
	}
	tb.Logf("icecat: embedded in %s", time.Since(start).Round(time.Millisecond))
	m := make(map[int64][]float32, len(ids))
	for i, id := range ids {
		m[id] = vecs[i]
	}
	vectorsMemo[key] = m
	return m
}

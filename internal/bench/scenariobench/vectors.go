package scenariobench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"selection/catalog"
	"selection/embed"
	"selection/ingest"
	"selection/internal/vecfile"
)

// The Icecat vectors are cached on disk exactly as the test fixture internal/icecat caches them
// (same directory, name and format), so the bench and the tests embed the catalogue once per
// machine between them: os.UserCacheDir()/selection/icecat-vectors-<model>-<hash>.bin, the hash
// over the ids and texts in file order; magic, uint32 count, uint32 dim, then count x (int64 id,
// dim x float32), little-endian (internal/vecfile reads and writes it).

// icecatVectors returns each product's embedding (of catalog.EmbedText over the fields the
// loader stores) by id, from the disk cache or, when it is missing, by embedding the catalogue
// with e and writing the cache. how says which.
func icecatVectors(ctx context.Context, products []ingest.IcecatProduct, e embed.Embedder, out io.Writer) (map[int64][]float32, string, error) {
	ids := make([]int64, len(products))
	texts := make([]string, len(products))
	for i, p := range products {
		ids[i], texts[i] = p.ID, catalog.EmbedText(p.Title, p.Supplier, p.ProductType, p.ShortDescription)
	}
	dir := vecfile.CacheDir()
	path := filepath.Join(dir, vecfile.CacheName("icecat-vectors", e.Name(), ids, texts))
	if m, err := vecfile.Read(path, ids, e.Dimension()); err == nil {
		return m, "from " + path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	start := time.Now()
	fmt.Fprintf(out, "    embedding %d Icecat products with %s (once per machine; cached in %s)\n", len(texts), e.Name(), path)
	vecs := make([][]float32, 0, len(texts))
	const batch = 512
	last := time.Now()
	for lo := 0; lo < len(texts); lo += batch {
		vs, err := e.EmbedDocuments(ctx, texts[lo:min(lo+batch, len(texts))])
		if err != nil {
			return nil, "", fmt.Errorf("embed the Icecat catalogue: %w", err)
		}
		vecs = append(vecs, vs...)
		if time.Since(last) > 15*time.Second {
			last = time.Now()
			fmt.Fprintf(out, "    embedded %d/%d\n", len(vecs), len(texts))
		}
	}
	if err := vecfile.Write(path, ids, vecs, e.Dimension()); err != nil {
		return nil, "", err
	}
	m := make(map[int64][]float32, len(ids))
	for i, id := range ids {
		m[id] = vecs[i]
	}
	return m, fmt.Sprintf("embedded in %s and cached in %s", time.Since(start).Round(time.Second), path), nil
}

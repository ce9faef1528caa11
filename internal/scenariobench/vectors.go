package scenariobench

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"selection/catalog"
	"selection/embed"
	"selection/ingest"
)

// The Icecat vectors are cached on disk exactly as the test fixture internal/icecat caches them
// (same directory, name and format), so the bench and the tests embed the catalogue once per
// machine between them: os.UserCacheDir()/selection/icecat-vectors-<model>-<hash>.bin, the hash
// over the ids and texts in file order; magic, uint32 count, uint32 dim, then count x (int64 id,
// dim x float32), little-endian.
const vectorMagic = "SELVEC01"

// icecatVectors returns each product's embedding (of catalog.EmbedText over the fields the
// loader stores) by id, from the disk cache or, when it is missing, by embedding the catalogue
// with e and writing the cache. how says which.
func icecatVectors(ctx context.Context, products []ingest.IcecatProduct, e embed.Embedder, out io.Writer) (map[int64][]float32, string, error) {
	ids := make([]int64, len(products))
	texts := make([]string, len(products))
	h := sha256.New()
	for i, p := range products {
		ids[i], texts[i] = p.ID, catalog.EmbedText(p.Title, p.Supplier, p.ProductType, p.ShortDescription)
		fmt.Fprintf(h, "%d\x00%s\x00", p.ID, texts[i])
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "selection")
	path := filepath.Join(dir, fmt.Sprintf("icecat-vectors-%s-%s.bin", sanitize(e.Name()), hex.EncodeToString(h.Sum(nil))[:16]))
	if m, err := readVectors(path, ids, e.Dimension()); err == nil {
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
	if err := writeVectors(path, ids, vecs, e.Dimension()); err != nil {
		return nil, "", err
	}
	m := make(map[int64][]float32, len(ids))
	for i, id := range ids {
		m[id] = vecs[i]
	}
	return m, fmt.Sprintf("embedded in %s and cached in %s", time.Since(start).Round(time.Second), path), nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func writeVectors(path string, ids []int64, vecs [][]float32, dim int) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	w := bufio.NewWriterSize(tmp, 1<<20)
	w.WriteString(vectorMagic)
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(ids)))
	binary.LittleEndian.PutUint32(hdr[4:], uint32(dim))
	w.Write(hdr[:])
	buf := make([]byte, 8+4*dim)
	for i, id := range ids {
		if len(vecs[i]) != dim {
			tmp.Close()
			return fmt.Errorf("vector of product %d has %d dimensions, want %d", id, len(vecs[i]), dim)
		}
		binary.LittleEndian.PutUint64(buf, uint64(id))
		for j, x := range vecs[i] {
			binary.LittleEndian.PutUint32(buf[8+4*j:], math.Float32bits(x))
		}
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func readVectors(path string, ids []int64, dim int) (map[int64][]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	hdr := make([]byte, len(vectorMagic)+8)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	if string(hdr[:len(vectorMagic)]) != vectorMagic {
		return nil, errors.New("not a vector cache file")
	}
	n := int(binary.LittleEndian.Uint32(hdr[len(vectorMagic):]))
	d := int(binary.LittleEndian.Uint32(hdr[len(vectorMagic)+4:]))
	if n != len(ids) || d != dim {
		return nil, fmt.Errorf("cache holds %d x %d, want %d x %d", n, d, len(ids), dim)
	}
	slab := make([]float32, n*d)
	m := make(map[int64][]float32, n)
	buf := make([]byte, 8+4*d)
	for i := 0; i < n; i++ {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		id := int64(binary.LittleEndian.Uint64(buf))
		if id != ids[i] {
			return nil, fmt.Errorf("cache row %d is product %d, want %d", i, id, ids[i])
		}
		v := slab[i*d : (i+1)*d : (i+1)*d]
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(buf[8+4*j:]))
		}
		m[id] = v
	}
	return m, nil
}

// Package vecfile reads and writes the on-disk cache of a catalogue's embedding vectors that
// tests and benchmarks share (embedding 19,406 products takes minutes; reading them back, a
// fraction of a second).
package vecfile

import (
	"bufio"
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
)

// CacheDir is the directory of the caches: selection in the user's cache directory (in the
// temporary directory when there is none). It may not exist yet.
func CacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "selection")
}

// CacheName is the file name of the cache of texts (by ids) embedded with model:
// prefix-model-hash.bin, the hash over ids and texts, so that whoever embeds the same texts
// with the same model finds the same file.
func CacheName(prefix, model string, ids []int64, texts []string) string {
	h := sha256.New()
	for i, id := range ids {
		fmt.Fprintf(h, "%d\x00%s\x00", id, texts[i])
	}
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, model)
	return fmt.Sprintf("%s-%s-%s.bin", prefix, safe, hex.EncodeToString(h.Sum(nil))[:16])
}

// File format: magic, uint32 count, uint32 dim, then count x (int64 id, dim x float32), all
// little-endian.
const magic = "SELVEC01"

// Write stores ids and their vectors at path atomically (a temporary file renamed into place).
func Write(path string, ids []int64, vecs [][]float32, dim int) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	w := bufio.NewWriterSize(tmp, 1<<20)
	w.WriteString(magic)
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
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Read loads the vectors at path, checking that the file holds exactly ids, in order, of dim
// dimensions.
func Read(path string, ids []int64, dim int) (map[int64][]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	hdr := make([]byte, len(magic)+8)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	if string(hdr[:len(magic)]) != magic {
		return nil, errors.New("not a vector cache file")
	}
	n := int(binary.LittleEndian.Uint32(hdr[len(magic):]))
	d := int(binary.LittleEndian.Uint32(hdr[len(magic)+4:]))
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

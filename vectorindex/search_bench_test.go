package vectorindex

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// benchIndex is built once per test binary: 100,000 clustered 512-dimensional vectors (about
// 210 MiB) and 64 queries near stored vectors.
var benchIndex = sync.OnceValues(func() (*Index, [][]float32) {
	rng := rand.New(rand.NewPCG(11, 12))
	const n, dim = 100_000, 512
	vecs := clustered(rng, n, dim)
	ix, err := NewIndex(nil, IndexConfig{Dim: dim, Workers: 2})
	if err != nil {
		panic(err)
	}
	for o, v := range vecs {
		if err := ix.Put(int64(o), int64(o)+1000, v); err != nil {
			panic(err)
		}
	}
	ix.Recenter()
	queries := make([][]float32, 64)
	for i := range queries {
		base := vecs[rng.IntN(n)]
		q := make([]float32, dim)
		for j := range q {
			q[j] = base[j] + 0.3*float32(rng.NormFloat64())
		}
		queries[i] = q
	}
	return ix, queries
})

// BenchmarkSearch times the in-memory paths (k = 10) without a filter, with a sparse filter
// (iterated) and with a dense one (turned into a mask). It guards the scan loops against
// slowdowns; the thresholds and recall are measured by internal/bench/vectorbench:
//
//	go test ./vectorindex -run '^$' -bench Search -benchtime 200x
func BenchmarkSearch(b *testing.B) {
	ix, queries := benchIndex()
	filter := func(every int) *roaring64.Bitmap {
		bm := roaring64.New()
		for o := 0; o < 100_000; o += every {
			bm.Add(uint64(o))
		}
		return bm
	}
	for _, f := range []struct {
		name string
		bm   *roaring64.Bitmap
	}{{"all", nil}, {"sparse5pct", filter(20)}, {"dense50pct", filter(2)}} {
		for _, path := range []Path{PathExact, PathBinary} {
			b.Run(fmt.Sprintf("%s/%s", path, f.name), func(b *testing.B) {
				ctx := context.Background()
				i := 0
				for b.Loop() {
					if _, _, err := ix.SearchPath(ctx, queries[i%len(queries)], 10, f.bm, path); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

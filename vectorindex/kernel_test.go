package vectorindex

import (
	"context"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"

	"selection/internal/cpukernel"
)

// eachKernel runs f in a subtest per kernel path; a path this build or CPU cannot run is
// skipped with the reason (a build without GOEXPERIMENT=simd runs only portable).
func eachKernel(t *testing.T, f func(t *testing.T, p cpukernel.Path)) {
	t.Helper()
	for _, p := range []cpukernel.Path{cpukernel.AVX512, cpukernel.AVX2, cpukernel.Portable} {
		t.Run(string(p), func(t *testing.T) {
			if _, err := cpukernel.Resolve(string(p)); err != nil {
				t.Skipf("kernel path %s not tested here: %v", p, err)
			}
			f(t, p)
		})
	}
}

// TestKernelsAgree checks every path's dot product and Hamming distances against the portable
// loops, on lengths off the vector width (tails) and code lengths from 1 word to past the 31
// words the AVX2 byte counters hold.
func TestKernelsAgree(t *testing.T) {
	eachKernel(t, func(t *testing.T, p cpukernel.Path) {
		rng := rand.New(rand.NewPCG(1, 2))
		k := newKernel(p)
		t.Logf("kernel: %s", k.name())
		for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 512, 513, 1000} {
			a, b := make([]float32, n), make([]float32, n+3)
			for i := range b {
				b[i] = rng.Float32() - 0.5
			}
			for i := range a {
				a[i] = rng.Float32() - 0.5
			}
			require.InDelta(t, portable{}.dot(a, b), k.dot(a, b), 1e-4, "n=%d", n)
		}
		for _, words := range []int{1, 3, 8, 31, 33} {
			nb := 5
			blocks := make([]uint64, nb*words*8)
			for i := range blocks {
				blocks[i] = rng.Uint64()
			}
			blocks[0] = ^uint64(0) // a word of all ones and one of zeros against q
			blocks[1] = 0
			q := make([]uint64, words)
			for i := range q {
				q[i] = rng.Uint64()
			}
			want, got := make([]uint64, nb*8), make([]uint64, nb*8)
			portable{}.hamming(q, blocks, words, want)
			k.hamming(q, blocks, words, got)
			require.Equal(t, want, got, "words=%d", words)
			// Check the portable kernel itself against the definition for one code.
			var d int
			for w := 0; w < words; w++ {
				d += bits.OnesCount64(blocks[(1*words+w)*8+3] ^ q[w])
			}
			require.Equal(t, uint64(d), want[8+3])
		}
		// All ones against all zeros: the largest count every byte lane must hold.
		const words = 33
		blocks, q := make([]uint64, words*8), make([]uint64, words)
		for i := range blocks {
			blocks[i] = ^uint64(0)
		}
		got := make([]uint64, 8)
		k.hamming(q, blocks, words, got)
		for _, d := range got {
			require.Equal(t, uint64(64*words), d)
		}
	})
	require.InDelta(t, portable{}.dot([]float32{1, 2, 3}, []float32{4, 5, 6}), Dot([]float32{1, 2, 3}, []float32{4, 5, 6}), 1e-6)
}

// TestKernelPathsSameNeighbours: an index on every kernel path returns the neighbours and
// scores the portable one does, exact and through the binary first pass, with and without a
// filter, on a dimension that is no multiple of the vector widths (tails in every dot product
// and a partial last code word).
func TestKernelPathsSameNeighbours(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, dim = 3000, 203
	vecs := clustered(rng, n, dim)
	queries := clustered(rng, 8, dim)
	filter := func(o int) bool { return o%3 != 0 }
	cfg := IndexConfig{Dim: dim, Workers: 2, ParallelMin: 1000, Candidates: 400, Rerank: 40, Kernel: string(cpukernel.Portable)}
	ref := newTestIndex(t, cfg, vecs)
	ctx := context.Background()
	type result struct{ exact, binary, filtered []Hit }
	search := func(ix *Index, q []float32) result {
		var r result
		var err error
		r.exact, _, err = ix.SearchPath(ctx, q, 10, nil, PathExact)
		require.NoError(t, err)
		r.binary, _, err = ix.SearchPath(ctx, q, 10, nil, PathBinary)
		require.NoError(t, err)
		r.filtered, _, err = ix.SearchPath(ctx, q, 10, bitmapOf(n, filter), PathBinary)
		require.NoError(t, err)
		return r
	}
	same := func(t *testing.T, what string, want, got []Hit) {
		t.Helper()
		require.Len(t, got, len(want), what)
		for i := range want {
			require.Equal(t, want[i].Ordinal, got[i].Ordinal, "%s: hit %d", what, i)
			require.InDelta(t, want[i].Score, got[i].Score, 1e-5, "%s: hit %d", what, i)
		}
	}
	eachKernel(t, func(t *testing.T, p cpukernel.Path) {
		c := cfg
		c.Kernel = string(p)
		ix := newTestIndex(t, c, vecs)
		t.Logf("kernel: %s", ix.Kernel())
		for i, q := range queries {
			want, got := search(ref, q), search(ix, q)
			same(t, "exact", want.exact, got.exact)
			same(t, "binary", want.binary, got.binary)
			same(t, "filtered binary", want.filtered, got.filtered)
			if i == 0 {
				require.Equal(t, bruteForce(vecs, q, 1, nil)[0].Ordinal, got.exact[0].Ordinal)
			}
		}
	})
}

// bitmapOf is the ordinals below n that keep holds.
func bitmapOf(n int, keep func(o int) bool) *roaring64.Bitmap {
	bm := roaring64.New()
	for o := 0; o < n; o++ {
		if keep(o) {
			bm.Add(uint64(o))
		}
	}
	return bm
}

// TestNewIndexKernelSetting: an unknown kernel is refused, and so is a path this machine lacks.
func TestNewIndexKernelSetting(t *testing.T) {
	_, err := NewIndex(nil, IndexConfig{Kernel: "avx9"})
	require.Error(t, err)
	ix, err := NewIndex(nil, IndexConfig{})
	require.NoError(t, err)
	require.Equal(t, string(cpukernel.Auto), ix.Config().Kernel)
	for _, p := range []cpukernel.Path{cpukernel.AVX512, cpukernel.AVX2} {
		if _, rerr := cpukernel.Resolve(string(p)); rerr != nil {
			_, err := NewIndex(nil, IndexConfig{Kernel: string(p)})
			require.ErrorIs(t, err, cpukernel.ErrUnsupported)
			return
		}
	}
	t.Skip("this machine supports every kernel path: none to refuse")
}

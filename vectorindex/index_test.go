package vectorindex

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"
)

// clustered returns n vectors of dim drawn around a few hundred random centres, which is closer
// to sentence embeddings than uniform noise (neighbours are near, not all equidistant).
func clustered(rng *rand.Rand, n, dim int) [][]float32 {
	centres := make([][]float32, 300)
	for i := range centres {
		c := make([]float32, dim)
		for j := range c {
			c[j] = float32(rng.NormFloat64()) + 0.3 // not centred, like real embeddings
		}
		centres[i] = c
	}
	out := make([][]float32, n)
	for i := range out {
		c := centres[rng.IntN(len(centres))]
		v := make([]float32, dim)
		for j := range v {
			v[j] = c[j] + 0.6*float32(rng.NormFloat64())
		}
		out[i] = v
	}
	return out
}

// bruteForce is the reference: cosine in float64 over the candidates, best first, ties by ordinal.
func bruteForce(vecs [][]float32, q []float32, k int, filter func(o int) bool) []Hit {
	norm := func(v []float32) float64 {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s)
	}
	qn := norm(q)
	var hits []Hit
	for o, v := range vecs {
		if v == nil || (filter != nil && !filter(o)) {
			continue
		}
		var d float64
		for i := range v {
			d += float64(v[i]) * float64(q[i])
		}
		hits = append(hits, Hit{Ordinal: int64(o), SKUID: int64(o) + 1000, Score: float32(d / qn / norm(v))})
	}
	sort.Slice(hits, func(i, j int) bool { return better(hits[i], hits[j]) })
	return hits[:min(k, len(hits))]
}

// recallAt is Recall with scores equal to the k-th within 1e-5 counted as found.
func recallAt(exact, got []Hit) float64 { return Recall(exact, got, 1e-5) }

func newTestIndex(t testing.TB, cfg IndexConfig, vecs [][]float32) *Index {
	t.Helper()
	ix, err := NewIndex(nil, cfg)
	require.NoError(t, err)
	for o, v := range vecs {
		if v != nil {
			require.NoError(t, ix.Put(int64(o), int64(o)+1000, v))
		}
	}
	ix.Recenter()
	return ix
}

func TestTopK(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var all []Hit
	tk := newTopK(10)
	for i := 0; i < 1000; i++ {
		h := Hit{Ordinal: int64(i), Score: float32(rng.IntN(50))} // many ties
		all = append(all, h)
		tk.push(h)
	}
	sort.Slice(all, func(i, j int) bool { return better(all[i], all[j]) })
	require.Equal(t, all[:10], tk.sorted())

	sel := newSelector(5, 100)
	var keys []uint64
	for i := 0; i < 200; i++ {
		d := uint64(rng.IntN(100))
		keys = append(keys, d<<48|uint64(i))
		if d < sel.lim {
			sel.push(d, uint64(i))
		}
	}
	sel.tighten()
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	got := append([]uint64(nil), sel.keep...)
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	require.GreaterOrEqual(t, len(got), 5)
	require.Equal(t, keys[:5], got[:5])
	for _, k := range got[5:] {
		require.Equal(t, keys[4]>>48, k>>48, "beyond r only ties of the r-th distance")
	}

	// A flood of equal distances keeps about r, not everything.
	sel = newSelector(10, 10)
	for i := 0; i < 10000; i++ {
		if d := uint64(3); d < sel.lim {
			sel.push(d, uint64(i))
		}
	}
	sel.tighten()
	require.Len(t, sel.keep, 10)
}

// smallestKeys keeps the set a sort and a cut keep, ties at the cut by ordinal.
func TestSmallestKeysIsSortAndCut(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 200; round++ {
		n, maxDist := rng.IntN(3000), 1+rng.IntN(512)
		keys := make([]uint64, n)
		for i, o := range rng.Perm(n) {
			keys[i] = uint64(rng.IntN(maxDist+1))<<48 | uint64(o)
		}
		r := rng.IntN(n + 2)
		want := slices.Clone(keys)
		slices.Sort(want)
		want = want[:min(r, n)]
		got := smallestKeys(slices.Clone(keys), r, maxDist)
		slices.Sort(got)
		require.Equal(t, want, got, "round %d: n %d r %d", round, n, r)
	}
}

func TestSearchExactMatchesBruteForce(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	const n, dim = 3000, 64
	vecs := clustered(rng, n, dim)
	for o := 0; o < n; o += 7 {
		vecs[o] = nil // gaps: ordinals without a vector
	}
	ix := newTestIndex(t, IndexConfig{Dim: dim, ParallelMin: 100, Workers: 3}, vecs)
	require.Equal(t, n-(n+6)/7, ix.Len())

	filter := roaring64.New()
	for o := 0; o < n+500; o += 3 { // includes ordinals past the end and without vectors
		filter.Add(uint64(o))
	}
	sparse := roaring64.New()
	for o := 0; o < n; o += 37 {
		sparse.Add(uint64(o))
	}
	for trial := 0; trial < 20; trial++ {
		q := vecs[rng.IntN(n)]
		if q == nil {
			q = vecs[1]
		}
		q = append([]float32(nil), q...)
		q[0] += 0.1
		want := bruteForce(vecs, q, 10, nil)
		got, path, err := ix.SearchPath(ctx, q, 10, nil, PathExact)
		require.NoError(t, err)
		require.Equal(t, PathExact, path)
		requireSameHits(t, want, got)

		want = bruteForce(vecs, q, 25, func(o int) bool { return o%3 == 0 })
		got, _, err = ix.SearchPath(ctx, q, 25, filter, PathExact)
		require.NoError(t, err)
		requireSameHits(t, want, got)

		// A sparse filter is iterated rather than masked.
		want = bruteForce(vecs, q, 5, func(o int) bool { return o%37 == 0 })
		got, _, err = ix.SearchPath(ctx, q, 5, sparse, PathExact)
		require.NoError(t, err)
		requireSameHits(t, want, got)
		got, _, err = ix.SearchPath(ctx, q, 5, sparse, PathBinary)
		require.NoError(t, err)
		require.Greater(t, recallAt(want, got), 0.5)
		for _, h := range got {
			require.Zero(t, h.Ordinal%37)
		}
	}
}

func requireSameHits(t *testing.T, want, got []Hit) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.InDelta(t, want[i].Score, got[i].Score, 1e-4, "rank %d", i)
		if i+1 < len(want) && want[i].Score-want[i+1].Score > 1e-4 && (i == 0 || want[i-1].Score-want[i].Score > 1e-4) {
			require.Equal(t, want[i].Ordinal, got[i].Ordinal, "rank %d", i)
			require.Equal(t, want[i].Ordinal+1000, got[i].SKUID)
		}
	}
}

func TestSearchBinaryRecall(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 8))
	const n, dim = 20000, 128
	vecs := clustered(rng, n, dim)
	ix := newTestIndex(t, IndexConfig{Dim: dim, ParallelMin: 5000, Workers: 2, Candidates: 5000, Rerank: 1500}, vecs)
	filter := roaring64.New()
	for o := 0; o < n; o++ {
		if rng.IntN(2) == 0 {
			filter.Add(uint64(o))
		}
	}
	var sumAll, sumFilt float64
	const trials = 30
	for trial := 0; trial < trials; trial++ {
		q := make([]float32, dim)
		base := vecs[rng.IntN(n)]
		for i := range q {
			q[i] = base[i] + 0.3*float32(rng.NormFloat64())
		}
		exact, _, err := ix.SearchPath(ctx, q, 10, nil, PathExact)
		require.NoError(t, err)
		got, path, err := ix.SearchPath(ctx, q, 10, nil, PathBinary)
		require.NoError(t, err)
		require.Equal(t, PathBinary, path)
		sumAll += recallAt(exact, got)

		exact, _, err = ix.SearchPath(ctx, q, 10, filter, PathExact)
		require.NoError(t, err)
		got, _, err = ix.SearchPath(ctx, q, 10, filter, PathBinary)
		require.NoError(t, err)
		for _, h := range got {
			require.True(t, filter.Contains(uint64(h.Ordinal)), "hit outside the filter")
		}
		sumFilt += recallAt(exact, got)
	}
	t.Logf("binary+rerank recall@10 on clustered synthetic data: all %.3f, 50%% filter %.3f", sumAll/trials, sumFilt/trials)
	// Synthetic data only checks that the path works; the real recall floor is on Icecat.
	require.Greater(t, sumAll/trials, 0.9)
	require.Greater(t, sumFilt/trials, 0.9)
}

func TestSimilarRemoveVector(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(9, 10))
	const n, dim = 500, 32
	vecs := clustered(rng, n, dim)
	ix := newTestIndex(t, IndexConfig{Dim: dim}, vecs)

	v, ok := ix.Vector(42)
	require.True(t, ok)
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	require.InDelta(t, 1, s, 1e-5, "stored vectors are normalised")

	hits, err := ix.Similar(ctx, 42, 5, nil)
	require.NoError(t, err)
	require.Len(t, hits, 5)
	for _, h := range hits {
		require.NotEqual(t, int64(42), h.Ordinal)
	}
	want := bruteForce(vecs, vecs[42], 6, func(o int) bool { return o != 42 })
	requireSameHits(t, want[:5], hits)

	require.True(t, ix.Remove(hits[0].Ordinal))
	require.False(t, ix.Remove(hits[0].Ordinal))
	again, err := ix.Similar(ctx, 42, 5, nil)
	require.NoError(t, err)
	require.NotEqual(t, hits[0].Ordinal, again[0].Ordinal)
	_, ok = ix.Vector(hits[0].Ordinal)
	require.False(t, ok)
	_, err = ix.Similar(ctx, hits[0].Ordinal, 5, nil)
	require.ErrorIs(t, err, ErrNotFound)

	// Bad input.
	_, err = ix.Search(ctx, make([]float32, dim), 5, nil)
	require.Error(t, err, "zero query")
	_, err = ix.Search(ctx, make([]float32, dim+1), 5, nil)
	require.Error(t, err, "wrong dimension")
	require.Error(t, ix.Put(1, 1, make([]float32, dim)))
	require.Error(t, ix.Put(-1, 1, vecs[0]))
	empty, err := ix.Search(ctx, vecs[0], 5, roaring64.New())
	require.NoError(t, err)
	require.Empty(t, empty)

	cold, err := NewIndex(nil, IndexConfig{Dim: dim})
	require.NoError(t, err)
	_, err = cold.Search(ctx, vecs[0], 5, nil)
	require.ErrorIs(t, err, ErrNotLoaded)
}

func TestDecodeVector(t *testing.T) {
	dst := make([]float32, 3)
	require.NoError(t, decodeVector(dst, []byte("[1, 2.5,-3]"), false))
	require.Equal(t, []float32{1, 2.5, -3}, dst)
	require.Error(t, decodeVector(dst, []byte("[1,2]"), false))
	require.Error(t, decodeVector(dst, []byte{0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, true))
}

func FuzzDecodeVector(f *testing.F) {
	f.Add([]byte("[1,2,3]"), false)
	f.Add([]byte("[1e40,nan,3]"), false)
	f.Add([]byte{0, 3, 0, 0, 63, 128, 0, 0, 64, 0, 0, 0, 64, 64, 0, 0}, true)
	f.Add([]byte{0, 3}, true)
	f.Fuzz(func(t *testing.T, raw []byte, bin bool) {
		dst := make([]float32, 3)
		if err := decodeVector(dst, raw, bin); err == nil && bin {
			require.Len(t, raw, 16)
		}
	})
}

// Similarities gives each held ordinal the score an exact Search gives it, and leaves out the
// ordinals without a vector (gaps, past the end, negative).
func TestSimilaritiesAreExactSearchScores(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(31, 32))
	const n, dim = 2000, 64
	vecs := clustered(rng, n, dim)
	for o := 0; o < n; o += 9 {
		vecs[o] = nil
	}
	ix := newTestIndex(t, IndexConfig{Dim: dim, ParallelMin: 100, Workers: 3}, vecs)
	for trial := 0; trial < 10; trial++ {
		q := make([]float32, dim)
		for i := range q {
			q[i] = float32(rng.NormFloat64())
		}
		ords := []int64{-1, n + 5}
		bm := roaring64.New()
		for range 300 {
			o := int64(rng.IntN(n))
			ords = append(ords, o)
			bm.Add(uint64(o))
		}
		got, err := ix.Similarities(q, ords)
		require.NoError(t, err)
		hits, path, err := ix.SearchPath(ctx, q, len(ords), bm, PathExact)
		require.NoError(t, err)
		require.Equal(t, PathExact, path)
		require.Len(t, got, len(hits), "one score per ordinal with a vector")
		for _, h := range hits {
			s, ok := got[h.Ordinal]
			require.True(t, ok, "ordinal %d", h.Ordinal)
			require.Equal(t, h.Score, s, "ordinal %d", h.Ordinal)
		}
	}
	_, err := ix.Similarities(make([]float32, dim), []int64{1})
	require.Error(t, err, "a zero query")
	_, err = ix.Similarities(make([]float32, 3), []int64{1})
	require.Error(t, err, "the wrong dimension")
}

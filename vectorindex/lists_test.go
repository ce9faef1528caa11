package vectorindex

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"

	"selection/internal/cpukernel"
)

// listsInvariant checks that every vector held is in exactly the list lists.of names, at the
// place lists.at names, with its current code, and nothing else is in a list.
func listsInvariant(t *testing.T, ix *Index) {
	t.Helper()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	l := ix.lists
	require.NotNil(t, l)
	held := roaring64.New()
	for key, c := range ix.chunks {
		if c == nil {
			continue
		}
		for r := 0; r < c.rows; r++ {
			if c.present[r>>6]&(1<<(r&63)) != 0 {
				held.Add(uint64(key)<<chunkBits | uint64(r))
			}
		}
	}
	in := roaring64.New()
	var total uint64
	for c, m := range l.members {
		total += uint64(len(m.ords))
		require.Len(t, m.codes, len(m.ords)*ix.words)
		require.Len(t, m.corr, len(m.ords))
		for i, o := range m.ords {
			in.Add(uint64(o))
			require.Equal(t, int32(c), l.of[o], "ordinal %d is in list %d but of says %d", o, c, l.of[o])
			require.Equal(t, int32(i), l.at[o], "ordinal %d is at %d of its list but at says %d", o, i, l.at[o])
			ch := ix.chunks[o>>chunkBits]
			r := int(o & chunkMask)
			require.Equal(t, ch.rcodes[r*ix.words:(r+1)*ix.words], m.codes[i*ix.words:(i+1)*ix.words], "ordinal %d's code in its list", o)
			require.Equal(t, ch.corr[r], m.corr[i], "ordinal %d's correction factor in its list", o)
		}
	}
	require.Equal(t, held.GetCardinality(), total, "a vector in two lists")
	require.True(t, held.Equals(in), "the lists hold %d vectors, the index %d", in.GetCardinality(), held.GetCardinality())
	for o, c := range l.of {
		if c >= 0 {
			require.True(t, held.Contains(uint64(o)), "of names a list for ordinal %d, which is not held", o)
		}
	}
}

// The lists path finds nearly what exact scoring finds, with and without a filter, on every
// kernel path; Search takes it for large candidate sets and few neighbours only.
func TestListsPathRecall(t *testing.T) {
	eachKernel(t, func(t *testing.T, p cpukernel.Path) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(3, 4))
		const n, dim = 40000, 128
		vecs := clustered(rng, n, dim)
		cfg := IndexConfig{Dim: dim, Workers: 2, QuantizedMin: 10000, Candidates: 2000, ListsFrom: 20000, ListProbe: 2000,
			ListRerank: 100, ListMaxK: 20, Kernel: string(p)}
		ix := newTestIndex(t, cfg, vecs)
		require.Equal(t, PathBinary, ix.ChoosePath(n, 10), "no lists yet")
		_, _, err := ix.SearchPath(ctx, vecs[0], 10, nil, PathLists)
		require.Error(t, err, "the lists path without lists")
		require.NoError(t, ix.BuildLists(ctx))
		listsInvariant(t, ix)
		require.Equal(t, len(ix.lists.members), listsFor(n))
		require.Equal(t, PathLists, ix.ChoosePath(n, 10))
		require.Equal(t, PathBinary, ix.ChoosePath(n, 21), "more neighbours than ListMaxK")
		require.Equal(t, PathBinary, ix.ChoosePath(15000, 10), "fewer candidates than ListsFrom")

		filter := roaring64.New()
		for o := 0; o < n; o++ {
			if rng.IntN(2) == 0 {
				filter.Add(uint64(o))
			}
		}
		var sumAll, sumFilt float64
		const trials = 40
		for trial := 0; trial < trials; trial++ {
			q := make([]float32, dim)
			base := vecs[rng.IntN(n)]
			for i := range q {
				q[i] = base[i] + 0.3*float32(rng.NormFloat64())
			}
			exact, _, err := ix.SearchPath(ctx, q, 10, nil, PathExact)
			require.NoError(t, err)
			got, path, err := ix.SearchPath(ctx, q, 10, nil, PathAuto)
			require.NoError(t, err)
			require.Equal(t, PathLists, path)
			require.Len(t, got, 10)
			sumAll += recallAt(exact, got)

			exact, _, err = ix.SearchPath(ctx, q, 10, filter, PathExact)
			require.NoError(t, err)
			got, path, err = ix.SearchPath(ctx, q, 10, filter, PathAuto)
			require.NoError(t, err)
			require.Equal(t, PathLists, path)
			require.Len(t, got, 10)
			for _, h := range got {
				require.True(t, filter.Contains(uint64(h.Ordinal)), "hit outside the filter")
				require.Equal(t, h.Ordinal+1000, h.SKUID)
			}
			sumFilt += recallAt(exact, got)
		}
		t.Logf("lists path recall@10 on clustered synthetic data: all %.3f, 50%% filter %.3f", sumAll/trials, sumFilt/trials)
		require.Greater(t, sumAll/trials, 0.95)
		require.Greater(t, sumFilt/trials, 0.95)

		// Similar leaves the ordinal itself out on this path too.
		hits, err := ix.Similar(ctx, 5, 10, nil)
		require.NoError(t, err)
		require.Len(t, hits, 10)
		for _, h := range hits {
			require.NotEqual(t, int64(5), h.Ordinal)
		}
	})
}

// A vector put after the lists were built joins the list of its nearest centroid (a replaced
// one moves), a removed one leaves its list, and the lists path sees both at once.
func TestListsFollowPutAndRemove(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	const n, dim = 20000, 64
	vecs := clustered(rng, n, dim)
	ix := newTestIndex(t, IndexConfig{Dim: dim, Workers: 2, ListsFrom: 1000, ListProbe: 1000}, vecs)
	require.NoError(t, ix.BuildLists(ctx))

	// A new ordinal beyond the built range, a copy of another vector far from it.
	far := vecs[7]
	q := make([]float32, dim)
	for i := range q {
		q[i] = far[i] + 0.01*float32(rng.NormFloat64())
	}
	newOrd := int64(n + 5000)
	require.NoError(t, ix.Put(newOrd, 99, q))
	hits, _, err := ix.SearchPath(ctx, q, 1, nil, PathLists)
	require.NoError(t, err)
	require.Equal(t, newOrd, hits[0].Ordinal)
	listsInvariant(t, ix)

	// Replacing ordinal 3's vector with that query moves it to the query's list.
	require.NoError(t, ix.Put(3, 1003, q))
	hits, _, err = ix.SearchPath(ctx, q, 2, nil, PathLists)
	require.NoError(t, err)
	require.ElementsMatch(t, []int64{newOrd, 3}, []int64{hits[0].Ordinal, hits[1].Ordinal})
	listsInvariant(t, ix)

	// Removed: gone from the path and its list.
	require.True(t, ix.Remove(newOrd))
	require.True(t, ix.Remove(3))
	hits, _, err = ix.SearchPath(ctx, q, 10, nil, PathLists)
	require.NoError(t, err)
	for _, h := range hits {
		require.NotContains(t, []int64{newOrd, 3}, h.Ordinal)
	}
	listsInvariant(t, ix)

	// Recenter keeps the lists and re-encodes their centroids around the new mean.
	ix.Recenter()
	listsInvariant(t, ix)
	hits, _, err = ix.SearchPath(ctx, vecs[7], 1, nil, PathLists)
	require.NoError(t, err)
	require.Equal(t, int64(7), hits[0].Ordinal)
}

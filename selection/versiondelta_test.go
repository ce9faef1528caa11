package selection

import (
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"
)

// randomVersion is a pool of n SKUs ranked by score (ordinal = id here).
func randomVersion(rng *rand.Rand, n int, scores bool) *Version {
	v := &Version{Members: roaring64.New()}
	seen := map[int64]bool{}
	for len(v.Ranking) < n {
		id := rng.Int64N(1_000_000)
		if seen[id] {
			continue
		}
		seen[id] = true
		v.Ranking = append(v.Ranking, id)
		v.Members.Add(uint64(id))
		if scores {
			v.Scores = append(v.Scores, float32(n-len(v.Ranking)))
		}
	}
	return v
}

// churn returns v with a share of its SKUs replaced, a share moved, and a share of scores
// changed; a SKU's score moves with it.
func churn(rng *rand.Rand, v *Version, share float64) *Version {
	score := map[int64]float32{}
	for i, id := range v.Ranking {
		if len(v.Scores) > 0 {
			score[id] = v.Scores[i]
		}
	}
	out := &Version{Ranking: append(IDs(nil), v.Ranking...)}
	k := int(share * float64(len(v.Ranking)))
	for j := 0; j < k; j++ { // replace
		i := rng.IntN(len(out.Ranking))
		out.Ranking[i] = 2_000_000 + rng.Int64N(1_000_000)
		score[out.Ranking[i]] = rng.Float32()
	}
	for j := 0; j < k; j++ { // move one SKU elsewhere
		i, to := rng.IntN(len(out.Ranking)), rng.IntN(len(out.Ranking))
		id := out.Ranking[i]
		out.Ranking = append(out.Ranking[:i], out.Ranking[i+1:]...)
		out.Ranking = append(out.Ranking[:to], append(IDs{id}, out.Ranking[to:]...)...)
	}
	out.Members = roaring64.New()
	for _, id := range out.Ranking {
		out.Members.Add(uint64(id))
		if len(v.Scores) > 0 {
			out.Scores = append(out.Scores, score[id])
		}
	}
	for j := 0; j < k && len(out.Scores) > 0; j++ {
		out.Scores[rng.IntN(len(out.Scores))] += 0.5
	}
	return out
}

func fullSize(v *Version) int {
	raw, _ := v.Members.ToBytes()
	return len(raw) + 8*len(v.Ranking) + 4*len(v.Scores)
}

func TestVersionDeltaRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		n      int
		share  float64
		scores bool
	}{{1000, 0.01, true}, {1000, 0.01, false}, {5000, 0.1, true}, {50, 1, true}, {0, 0, false}, {10, 0, true}} {
		old := randomVersion(rng, c.n, c.scores)
		newer := churn(rng, old, c.share)
		if c.share == 1 {
			newer = randomVersion(rng, c.n, c.scores) // nothing in common
		}
		d, err := encodeDelta(old, newer)
		require.NoError(t, err)
		got := &Version{PoolID: 1, Version: 1}
		require.NoError(t, applyDelta(got, newer, d))
		require.Equal(t, append([]int64{}, old.Ranking...), append([]int64{}, got.Ranking...), "%+v", c)
		if c.scores && c.n > 0 {
			require.Equal(t, old.Scores, got.Scores)
		} else {
			require.Empty(t, got.Scores)
		}
		require.True(t, old.Members.Equals(got.Members))
		if c.n >= 1000 && c.share <= 0.01 {
			// 1% churn: the delta is a small share of a full copy.
			require.Less(t, float64(len(d)), 0.1*float64(fullSize(old)), "delta %d bytes, full %d", len(d), fullSize(old))
			t.Logf("n=%d churn=%.0f%% scores=%v: delta %d bytes, full %d (%.1f%%)", c.n, 100*c.share, c.scores, len(d), fullSize(old), 100*float64(len(d))/float64(fullSize(old)))
		}
	}
}

// A delta that does not decode is an error, never a panic or a huge allocation.
func FuzzApplyDelta(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	old := randomVersion(rng, 40, true)
	newer := churn(rng, old, 0.1)
	d, err := encodeDelta(old, newer)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(d)
	f.Add([]byte{deltaFormat})
	f.Add([]byte{deltaFormat, 3, 7, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		v := &Version{}
		if err := applyDelta(v, newer, b); err != nil {
			return
		}
		if len(v.Scores) != 0 && len(v.Scores) != len(v.Ranking) {
			t.Fatalf("%d scores for %d SKUs", len(v.Scores), len(v.Ranking))
		}
	})
}

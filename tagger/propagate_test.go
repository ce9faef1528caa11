package tagger

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"

	"selection/vectorindex"
)

func TestVoteLift(t *testing.T) {
	lift, prior := voteLift(0, 10, 1000) // the default balance at 1% seeds
	require.InDelta(t, 0.01, prior, 1e-12)
	require.InDelta(t, math.Pow(99, DefaultBalance), lift, 1e-9)
	lift, _ = voteLift(1, 100, 1000) // the full prior correction: 9 non-seeds per seed
	require.InDelta(t, 9, lift, 1e-9)
	for _, c := range []struct {
		balance       float64
		seeds, voters uint64
	}{
		{-1, 10, 1000}, // no correction
		{0.5, 0, 1000}, // no seed among the voters
		{0.5, 10, 10},  // every voter a seed
		{0.5, 0, 0},
	} {
		lift, _ := voteLift(c.balance, c.seeds, c.voters)
		require.Equal(t, 1.0, lift, "%+v", c)
	}
}

// A small class beside a large, dense one: the nearest voters of its hidden members are mostly
// the large class's, so a plain majority leaves most of them out; the balanced vote takes them
// in and still takes no SKU of the large class.
func TestBalancedVoteReachesASmallClass(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 7))
	const dim = 64
	a := make([]float32, dim)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
	}
	a = normalize(a)
	b := noisy(rng, a, 0.055) // near a: the classes' neighbourhoods overlap
	vi, err := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Dim: dim, Exact: true})
	require.NoError(t, err)
	small, large := roaring64.New(), roaring64.New()
	for o := int64(0); o < 440; o++ {
		centre, set := b, large
		if o < 40 {
			centre, set = a, small
		}
		require.NoError(t, vi.Put(o, 1000+o, noisy(rng, centre, 0.1)))
		set.Add(uint64(o))
	}
	// The even ordinals are seen: the small class's are the seeds; the odd ones are voted on.
	seen := roaring64.New()
	for o := uint64(0); o < 440; o += 2 {
		seen.Add(o)
	}
	seeds := roaring64.And(small, seen)
	members := func(balance float64) (fromSmall, fromLarge int) {
		p := &propagation{seeds: seeds, reference: seen, k: DefaultK, minVote: 0.5, near: math.Inf(-1)}
		p.lift, p.prior = voteLift(balance, seeds.GetCardinality(), seen.GetCardinality())
		for o := int64(1); o < 440; o += 2 {
			v, ok := vi.Vector(o)
			require.True(t, ok)
			vote, err := p.vote(ctx, vi, o, v)
			require.NoError(t, err)
			if vote.Share >= p.minVote {
				if small.Contains(uint64(o)) {
					fromSmall++
				} else {
					fromLarge++
				}
			}
		}
		return fromSmall, fromLarge
	}
	plainSmall, plainLarge := members(-1)
	balSmall, balLarge := members(0)
	t.Logf("of the 20 hidden small-class SKUs: plain vote %d (and %d of the large class), balanced %d (and %d)", plainSmall, plainLarge, balSmall, balLarge)
	require.Less(t, plainSmall, 10, "the setup must outvote the small class under a plain majority")
	require.GreaterOrEqual(t, balSmall, plainSmall+5)
	require.LessOrEqual(t, balLarge, 2)
}

package selection

import (
	"encoding/binary"
	"math"
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
	drift := &Version{Members: old.Members, Ranking: old.Ranking, Scores: append([]float32(nil), old.Scores...)}
	for i := range drift.Scores {
		drift.Scores[i] = math.Nextafter32(drift.Scores[i], 0)
	}
	if d, err = encodeDelta(drift, old); err != nil {
		f.Fatal(err)
	}
	f.Add(d) // a score mask
	f.Add([]byte{deltaFormat})
	f.Add([]byte{deltaFormat, 3, 7, 1})
	f.Add([]byte{deltaFormatV1, 3, 6, 0, 1, 1, 1, 0, 0, 32, 64})
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

// Scores that drift by a unit or two in the last place (relevance scores between passes) take
// about a byte and a bit each, not four and a gap, and come back exactly, as do ones that
// change wholly.
func TestVersionDeltaDriftingScores(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	old := randomVersion(rng, 2000, true)
	for i := range old.Scores {
		old.Scores[i] = 0.5 + rng.Float32()
	}
	newer := &Version{Members: old.Members.Clone(), Ranking: append(IDs(nil), old.Ranking...), Scores: append([]float32(nil), old.Scores...)}
	drifted := 0
	for i := range newer.Scores {
		switch rng.IntN(4) {
		case 0, 1:
			newer.Scores[i] = math.Float32frombits(math.Float32bits(newer.Scores[i]) - uint32(1+rng.IntN(2)))
			drifted++
		case 2:
			if rng.IntN(50) == 0 {
				newer.Scores[i] = -newer.Scores[i] * 3
				drifted++
			}
		}
	}
	d, err := encodeDelta(old, newer)
	require.NoError(t, err)
	got := &Version{}
	require.NoError(t, applyDelta(got, newer, d))
	require.Equal(t, old.Scores, got.Scores)
	require.Equal(t, []int64(old.Ranking), []int64(got.Ranking))
	// Gaps and exclusive ors would take about 2 bytes a score; the mask takes a bit a position.
	require.Less(t, float64(len(d)), 1.5*float64(drifted)+300, "%d bytes for %d drifted scores", len(d), drifted)
	t.Logf("%d drifted scores of %d: delta %d bytes (%.2f a score)", drifted, len(old.Scores), len(d), float64(len(d))/float64(drifted))
}

// Deltas written before the scores were coded as exclusive ors (format 1: four bytes a score)
// still decode.
func TestVersionDeltaReadsFormat1(t *testing.T) {
	newer := &Version{Members: roaring64.BitmapOf(10, 20, 30), Ranking: IDs{10, 20, 30}, Scores: []float32{3, 2, 1}}
	empty, err := roaring64.New().ToBytes()
	require.NoError(t, err)
	d := []byte{deltaFormatV1, 3, 3 << 1, 0, 1, 1, 1}
	d = binary.LittleEndian.AppendUint32(d, math.Float32bits(2.5))
	for range 2 {
		d = binary.AppendUvarint(d, uint64(len(empty)))
		d = append(d, empty...)
	}
	got := &Version{}
	require.NoError(t, applyDelta(got, newer, d))
	require.Equal(t, []int64{10, 20, 30}, []int64(got.Ranking))
	require.Equal(t, []float32{3, 2.5, 1}, got.Scores)
	require.True(t, newer.Members.Equals(got.Members))
	require.Error(t, applyDelta(&Version{}, newer, d[:8]), "a score cut short")
}

// DiffVersions says what a naive comparison of the two rankings says.
func TestDiffVersionsAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 50, 1000} {
		a := randomVersion(rng, n, false)
		b := churn(rng, a, 0.1)
		d := DiffVersions(a, b)
		rank := func(r IDs, id int64) int {
			for i, x := range r {
				if x == id {
					return i + 1
				}
			}
			return 0
		}
		want := Diff{Added: []Moved{}, Removed: []Moved{}, Moved: []Moved{}}
		for i, id := range b.Ranking {
			switch r := rank(a.Ranking, id); {
			case r == 0:
				want.Added = append(want.Added, Moved{SKUID: id, ToRank: i + 1})
			case r != i+1:
				want.Moved = append(want.Moved, Moved{SKUID: id, FromRank: r, ToRank: i + 1})
			default:
				want.Same++
			}
		}
		for i, id := range a.Ranking {
			if rank(b.Ranking, id) == 0 {
				want.Removed = append(want.Removed, Moved{SKUID: id, FromRank: i + 1})
			}
		}
		require.Equal(t, want, d, "n=%d", n)
	}
}

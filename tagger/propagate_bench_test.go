package tagger

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/vectorindex"
)

// BenchmarkPropagatedVote is a propagated tag's update for one changed SKU: its k-nearest-
// neighbour vote among every live SKU (the tag's reference unset), on the in-memory index's
// default path (binary codes, then float32 rescoring). SELECTION_BENCH_SKUS sets the catalogue
// size (default 100,000; 1,000,000 needs about 2.5 GB): `go test ./tagger -run '^$' -bench
// PropagatedVote -benchtime 200x`.
func BenchmarkPropagatedVote(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("SELECTION_BENCH_SKUS")); err == nil && v > 0 {
		n = v
	}
	const dim, topics = 512, 300
	rng := rand.New(rand.NewPCG(9, 9))
	centres := make([][]float32, topics)
	for i := range centres {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		centres[i] = normalize(v)
	}
	vi, err := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Dim: dim})
	if err != nil {
		b.Fatal(err)
	}
	seeds := roaring64.New()
	for o := int64(0); o < int64(n); o++ {
		c := rng.IntN(topics)
		if err := vi.Put(o, 1000+o, noisy(rng, centres[c], 0.05)); err != nil {
			b.Fatal(err)
		}
		if c == 0 && rng.IntN(2) == 0 {
			seeds.Add(uint64(o))
		}
	}
	p := &propagation{seeds: seeds, k: DefaultK, minVote: 0.5, near: math.Inf(-1)}
	p.lift, p.prior = voteLift(0, seeds.GetCardinality(), uint64(n))
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o := int64(rng.IntN(n))
		v, _ := vi.Vector(o)
		if _, err := p.vote(ctx, vi, o, v); err != nil {
			b.Fatal(err)
		}
	}
}

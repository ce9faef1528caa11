package tagger

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/vectorindex"
)

// BenchmarkPropagatedVote is a propagated tag's update for one changed SKU: its k-nearest-
// neighbour vote among every live SKU (the tag's reference unset), on the in-memory index's
// lists path (the lists nearest the SKU's vector; Search's choice from ListsFrom vectors)
// against the quantised scan of every code (binary codes, then float32 rescoring) in the same
// run. It
// reports each path's recall@10 of the neighbours against exact scoring and the share of votes
// whose decision (share >= MinVote) is exact scoring's. SELECTION_BENCH_SKUS sets the
// catalogue size (default 100,000; 1,000,000 needs about 2.5 GB): `go test ./tagger -run '^$'
// -bench PropagatedVote -benchtime 200x`.
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
	vi.Recenter()
	ctx := context.Background()
	t0 := time.Now()
	if err := vi.BuildLists(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d vectors: lists built in %s", n, time.Since(t0).Round(time.Millisecond))
	p := &propagation{seeds: seeds, k: DefaultK, minVote: 0.5, near: math.Inf(-1)}
	p.lift, p.prior = voteLift(0, seeds.GetCardinality(), uint64(n))

	// The SKUs voted on: half of them near the seeds' topic, so that votes both pass and fail.
	const sample = 64
	ords := make([]int64, sample)
	for i := range ords {
		ords[i] = int64(rng.IntN(n))
		if i%2 == 0 {
			s, err := seeds.Select(uint64(rng.IntN(int(seeds.GetCardinality()))))
			if err != nil {
				b.Fatal(err)
			}
			ords[i] = int64(s)
		}
	}
	exact := pathVectors{vi, vectorindex.PathExact}
	want := make([]Vote, sample)
	for i, o := range ords {
		v, _ := vi.Vector(o)
		if want[i], err = p.vote(ctx, exact, o, v); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("the path Search takes for a vote: %s", vi.ChoosePath(n, p.k+1))
	for _, path := range []vectorindex.Path{vectorindex.PathLists, vectorindex.PathBinary} {
		b.Run(string(path), func(b *testing.B) {
			vecs := pathVectors{vi, path}
			var recall float64
			agree := 0
			for i, o := range ords {
				v, _ := vi.Vector(o)
				got, err := p.vote(ctx, vecs, o, v)
				if err != nil {
					b.Fatal(err)
				}
				recall += neighbourRecall(want[i].Neighbours, got.Neighbours)
				if (got.Share >= p.minVote) == (want[i].Share >= p.minVote) {
					agree++
				}
			}
			i := 0
			for b.Loop() {
				o := ords[i%sample]
				v, _ := vi.Vector(o)
				if _, err := p.vote(ctx, vecs, o, v); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(recall/sample, "recall@10")
			b.ReportMetric(float64(agree)/sample, "same-decision")
		})
	}
}

// pathVectors searches an index on one path (PathAuto: the one it chooses).
type pathVectors struct {
	ix   *vectorindex.Index
	path vectorindex.Path
}

func (p pathVectors) Vector(o int64) ([]float32, bool) { return p.ix.Vector(o) }

func (p pathVectors) Search(ctx context.Context, q []float32, k int, filter *roaring64.Bitmap) ([]vectorindex.Hit, error) {
	hits, _, err := p.ix.SearchPath(ctx, q, k, filter, p.path)
	return hits, err
}

// neighbourRecall is the share of want's voters (exact scoring's) that got found, counting a
// voter as similar as the last of want's as found.
func neighbourRecall(want, got []NeighbourVote) float64 {
	if len(want) == 0 {
		return 1
	}
	last := want[len(want)-1].Similarity
	n := 0
	for _, g := range got {
		if g.Similarity >= last-1e-5 {
			n++
		}
	}
	return float64(min(n, len(want))) / float64(len(want))
}

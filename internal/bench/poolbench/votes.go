package poolbench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"selection/vectorindex"
)

// VoteResult is the neighbour search of a propagated tag's vote for one changed SKU (its
// nearest voters among every live SKU, tagger.DefaultK + 1 of them) on the index's own choice
// of path and on the quantised scan of every code, with recall@10 against exact scoring.
type VoteResult struct {
	Path                   vectorindex.Path
	P50, P99               time.Duration
	ScanP50, ScanP99       time.Duration
	Recall, ScanRecall     float64
	Queries, RecallQueries int
}

// voteSearch times the neighbour search of a vote for SKUs drawn at random, on ix's choice and
// on the quantised scan, and measures both paths' recall@10 on a few of them against exact
// scoring (a scan of every float32 vector: about 0.1 s a query at 1M).
func voteSearch(ctx context.Context, ix *vectorindex.Index, seed uint64, out io.Writer) (VoteResult, error) {
	const k, queries, recallQueries = 11, 200, 40
	var r VoteResult
	rng := rand.New(rand.NewPCG(seed, 5))
	st := ix.Stats()
	var vecs [][]float32
	var ords []int64
	for tries := 0; len(vecs) < queries && tries < 100*queries; tries++ {
		o := int64(rng.IntN(st.Vectors * 2))
		if v, ok := ix.Vector(o); ok {
			vecs, ords = append(vecs, v), append(ords, o)
		}
	}
	if len(vecs) == 0 {
		return r, fmt.Errorf("vote search: no vectors found")
	}
	r.Path = ix.ChoosePath(st.Vectors, k)
	timed := func(path vectorindex.Path) (p50, p99 time.Duration, recall float64, err error) {
		took := make([]time.Duration, len(vecs))
		for i, v := range vecs {
			t0 := time.Now()
			if _, _, err := ix.SearchPath(ctx, v, k, nil, path); err != nil {
				return 0, 0, 0, err
			}
			took[i] = time.Since(t0)
		}
		slices.Sort(took)
		for i, v := range vecs[:min(recallQueries, len(vecs))] {
			exact, _, err := ix.SearchPath(ctx, v, k, nil, vectorindex.PathExact)
			if err != nil {
				return 0, 0, 0, err
			}
			got, _, err := ix.SearchPath(ctx, v, k, nil, path)
			if err != nil {
				return 0, 0, 0, err
			}
			recall += recallAt(exact, got, ords[i])
		}
		return took[len(took)/2], took[len(took)*99/100], recall / float64(min(recallQueries, len(vecs))), nil
	}
	var err error
	if r.P50, r.P99, r.Recall, err = timed(vectorindex.PathAuto); err != nil {
		return r, err
	}
	if r.ScanP50, r.ScanP99, r.ScanRecall, err = timed(vectorindex.PathBinary); err != nil {
		return r, err
	}
	r.Queries, r.RecallQueries = len(vecs), min(recallQueries, len(vecs))
	fmt.Fprintf(out, "propagated vote's neighbour search (%d nearest of %d live SKUs, %d SKUs; recall@10 on %d against exact scoring): %s p50 %.3f ms p99 %.3f ms recall %.3f; quantised scan p50 %.3f ms p99 %.3f ms recall %.3f (%.1fx)\n",
		k, st.Vectors, r.Queries, r.RecallQueries, r.Path, ms(r.P50), ms(r.P99), r.Recall, ms(r.ScanP50), ms(r.ScanP99), r.ScanRecall,
		float64(r.ScanP50)/float64(max(r.P50, 1)))
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// recallAt is vectorindex.Recall of exact's best 10 other than self (the voting SKU).
func recallAt(exact, got []vectorindex.Hit, self int64) float64 {
	drop := func(hs []vectorindex.Hit) []vectorindex.Hit {
		out := make([]vectorindex.Hit, 0, len(hs))
		for _, h := range hs {
			if h.Ordinal != self {
				out = append(out, h)
			}
		}
		return out[:min(len(out), 10)]
	}
	return vectorindex.Recall(drop(exact), drop(got), 1e-5)
}

package evals

import (
	"context"
	"fmt"
	"math"
	"sort"
)

// The fusions below are the alternatives the default was measured against. They live here,
// not in package search, because they lost (see README.md); they are rebuilt from the same
// lexical and dense indexes so the comparison is like for like.

// fusionDepth is how many results of each side the rank and score fusions combine.
const fusionDepth = 1000

// RRF is reciprocal-rank fusion: sum over the two lists of weight / (60 + rank). Dense weight 1
// is plain RRF (Cormack et al. 2009, k = 60).
func RRF(s *Stack, denseWeight float64) Method {
	return Method{Name: fmt.Sprintf("rrf(dense=%.2g)", denseWeight), Rank: func(ctx context.Context, q string, k int) (Ranked, error) {
		lex, dense, err := bothSides(ctx, s, q)
		if err != nil {
			return Ranked{}, err
		}
		score := map[int64]float64{}
		for r, id := range lex.ids {
			score[id] += 1 / float64(60+r+1)
		}
		for r, id := range dense.ids {
			score[id] += denseWeight / float64(60+r+1)
		}
		return Ranked{IDs: best(score, k), Confidence: math.NaN()}, nil
	}}
}

// ScoreFusion is weighted fusion of min-max normalised scores: (1 - w) * BM25' + w * cosine',
// each side normalised over its own list (a product missing from a list scores 0 there).
func ScoreFusion(s *Stack, w float64) Method {
	return Method{Name: fmt.Sprintf("scores(dense=%.2g)", w), Rank: func(ctx context.Context, q string, k int) (Ranked, error) {
		lex, dense, err := bothSides(ctx, s, q)
		if err != nil {
			return Ranked{}, err
		}
		score := map[int64]float64{}
		for i, id := range lex.ids {
			score[id] += (1 - w) * minmax(lex.scores, i)
		}
		for i, id := range dense.ids {
			score[id] += w * minmax(dense.scores, i)
		}
		return Ranked{IDs: best(score, k), Confidence: math.NaN()}, nil
	}}
}

type side struct {
	ids    []int64
	scores []float64
}

func bothSides(ctx context.Context, s *Stack, q string) (side, side, error) {
	var l, d side
	lr, err := s.Lexical.Search(ctx, q, fusionDepth, nil)
	if err != nil {
		return l, d, err
	}
	for _, h := range lr.Hits {
		l.ids = append(l.ids, h.SKUID)
		l.scores = append(l.scores, float64(h.Score))
	}
	v, err := s.Embedder.EmbedQuery(ctx, q)
	if err != nil {
		return l, d, err
	}
	hits, err := s.Vectors.Search(ctx, v, fusionDepth, nil)
	if err != nil {
		return l, d, err
	}
	for _, h := range hits {
		d.ids = append(d.ids, h.SKUID)
		d.scores = append(d.scores, float64(h.Score))
	}
	return l, d, nil
}

func minmax(xs []float64, i int) float64 {
	lo, hi := xs[len(xs)-1], xs[0] // lists are sorted best first
	if hi == lo {
		return 1
	}
	return (xs[i] - lo) / (hi - lo)
}

func best(score map[int64]float64, k int) []int64 {
	ids := make([]int64, 0, len(score))
	for id := range score {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool {
		if score[ids[a]] != score[ids[b]] {
			return score[ids[a]] > score[ids[b]]
		}
		return ids[a] < ids[b]
	})
	if len(ids) > k {
		ids = ids[:k]
	}
	return ids
}

// Candidate is one configuration under cross-validation.
type Candidate struct {
	Name   string
	Method Method
}

// FoldResult is one fold of a cross-validation: the candidate chosen on the other folds'
// queries and its score on this fold's.
type FoldResult struct {
	Fold        int
	Chosen      string
	TrainNDCG   float64 // the chosen candidate on the training queries
	TestNDCG    float64 // ... and on the held-out queries
	TestRecall  float64
	Baseline    float64 // the baseline method on the held-out queries
	BaselineRec float64
}

// CrossValidation holds every candidate's per-query results, so that several fold splits
// can be scored without running the queries again.
type CrossValidation struct {
	j        *Judgments
	cands    []Candidate
	perCand  []map[string]QueryResult
	baseline map[string]QueryResult
}

// NewCrossValidation runs every candidate and the baseline over every query once.
func NewCrossValidation(ctx context.Context, j *Judgments, cands []Candidate, baseline Method) (*CrossValidation, error) {
	cv := &CrossValidation{j: j, cands: cands}
	run := func(m Method) (map[string]QueryResult, error) {
		rep, err := Evaluate(ctx, j, []Method{m}, "")
		if err != nil {
			return nil, err
		}
		out := map[string]QueryResult{}
		for _, q := range rep.Methods[0].Queries {
			out[q.Query] = q
		}
		return out, nil
	}
	for _, c := range cands {
		r, err := run(c.Method)
		if err != nil {
			return nil, err
		}
		cv.perCand = append(cv.perCand, r)
	}
	var err error
	if cv.baseline, err = run(baseline); err != nil {
		return nil, err
	}
	return cv, nil
}

// Folds splits the queries into n folds (Folds, by a hash of the text) and, for each fold,
// picks the candidate with the best mean nDCG@10 on the other folds and scores it on the
// held-out fold, next to the baseline.
func (cv *CrossValidation) Folds(n int) []FoldResult {
	pick := func(m map[string]QueryResult, qs []string) Summary {
		rows := make([]QueryResult, 0, len(qs))
		for _, q := range qs {
			rows = append(rows, m[q])
		}
		return Summarize(rows)
	}
	var out []FoldResult
	fs := Folds(cv.j.Queries, n)
	for f := range fs {
		var train []string
		for g := range fs {
			if g != f {
				train = append(train, fs[g]...)
			}
		}
		bestI, bestV := 0, math.Inf(-1)
		for i := range cv.cands {
			if v := pick(cv.perCand[i], train).NDCG; v > bestV {
				bestI, bestV = i, v
			}
		}
		test := pick(cv.perCand[bestI], fs[f])
		b := pick(cv.baseline, fs[f])
		out = append(out, FoldResult{Fold: f, Chosen: cv.cands[bestI].Name, TrainNDCG: bestV, TestNDCG: test.NDCG,
			TestRecall: test.Recall, Baseline: b.NDCG, BaselineRec: b.Recall})
	}
	return out
}

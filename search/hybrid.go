package search

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/internal/memo"
	"selection/lexical"
	"selection/vectorindex"
)

// The default method: lexical matches re-ranked with embedding evidence, topped up with
// semantic-only hits.

// cosines returns the query's similarity to each ordinal (those without a vector are left out).
func (e *Searcher) cosines(ctx context.Context, q []float32, ords []int64) (map[int64]float32, error) {
	out := make(map[int64]float32, len(ords))
	if len(ords) == 0 {
		return out, nil
	}
	if s, ok := e.dense.(similarities); ok {
		m, err := s.Similarities(q, ords)
		if err != nil {
			return nil, fmt.Errorf("search: dense: %w", err)
		}
		return m, nil
	}
	bm := roaring64.New()
	for _, o := range ords {
		bm.Add(uint64(o))
	}
	hits, err := e.dense.Search(ctx, q, len(ords), bm)
	if err != nil {
		return nil, fmt.Errorf("search: dense: %w", err)
	}
	for _, h := range hits {
		out[h.Ordinal] = h.Score
	}
	return out, nil
}

// similarities is a Dense index that scores given ordinals directly
// (vectorindex.Index.Similarities: what an exact Search of them gives, without selecting).
type similarities interface {
	Similarities(q []float32, ords []int64) (map[int64]float32, error)
}

// cand is a hybrid candidate with its evidence.
type cand struct {
	lex     lexical.Hit
	l       float32 // lexical evidence
	cos     float32 // query similarity (NaN: no vector)
	z       float64
	fb      float32 // similarity to the feedback centroid (NaN: not re-ranked)
	stage1  float32
	score   float32
	onlySem bool
	pos     int32 // its place among the lexical hits: ties keep that order
}

// hybrid ranks the lexical matches with embedding evidence in two stages (lexical evidence plus
// the query's similarity; then, for the head, the similarity to the best lexical matches),
// keeps them all when one holds every query word (else those far enough above an ordinary
// product), and adds semantic-only hits when too few remain.
func (e *Searcher) hybrid(ctx context.Context, text string, req Request) (Result, error) {
	res := Result{Method: Default}
	depth := max(e.cfg.LexicalDepth, req.K)
	q, err := e.embedQuery(ctx, text)
	if err != nil {
		return res, fmt.Errorf("search: embed query: %w", err)
	}
	cal, err := e.calibrate(ctx, text, q)
	if err != nil {
		return res, err
	}
	f, err := e.stages(ctx, text, depth, req.Candidates, q, cal)
	if err != nil {
		return res, err
	}
	// Confidence and the cut (the same for every request of the stages: shared, as the hits
	// they make are when no expansion follows).
	res.Confidence = f.best
	c := f.cut(e.cfg.PartialZ)
	res.Truncated = c.truncated
	if len(c.kept) < req.K && !(req.NoExpansion && len(c.kept) > 0) {
		kept, err := e.expand(ctx, q, req, cal, slices.Clone(c.kept))
		if err != nil {
			return res, err
		}
		if len(kept) > req.K {
			kept = kept[:req.K]
		}
		res.Hits = hybridHits(kept, f.lr.Terms)
		return res, nil
	}
	// Without semantic-only hits, the hits of the first K kept are the first K of theirs.
	res.Hits = slices.Clone(c.hits[:min(req.K, len(c.hits))])
	return res, nil
}

// cut is the stages' matches kept (all when one holds every query word, else those at least
// partialZ above an ordinary product) and their hits, made once per stages.
func (f firstStages) cut(partialZ float64) *cutHits {
	f.made.once.Do(func() {
		c := f.made
		complete := f.best >= completeCoverage
		for _, m := range f.cs {
			if !complete && !(m.z >= partialZ) {
				c.truncated = true
				continue
			}
			c.kept = append(c.kept, m)
		}
		c.hits = hybridHits(c.kept, f.lr.Terms)
	})
	return f.made
}

// cutHits is what firstStages.cut makes.
type cutHits struct {
	once      sync.Once
	kept      []cand
	truncated bool
	hits      []Hit
}

// stages are the lexical search and the two embedding stages of the hybrid (firstStage,
// feedbackStage), the matches best first. They read only the query, its vector and
// calibration, the depth and the candidates, and the indexes' contents: the Searcher keeps
// them for the indexes' current generations (firsts), and pools made from one brief, which
// search the same words among the same candidates at the same depth, share them. The result
// is shared: callers only read it.
func (e *Searcher) stages(ctx context.Context, text string, depth int, candidates *roaring64.Bitmap, q []float32, cal calibration) (firstStages, error) {
	gen, kept := e.generation()
	key := text + "\x00" + strconv.Itoa(depth)
	scope := memo.ScopeFrom(ctx) // a refresh pass: any state since it began will do
	if scope != nil {
		got, ok := scope.Get(scopeStages+key, candidates, func(v any) bool {
			f := v.(firstStages)
			return f.cal == cal && slices.Equal(f.q, q)
		})
		if ok {
			return got.(firstStages), nil
		}
	}
	if kept {
		got, ok := e.firsts.Get(gen, key, candidates, func(f firstStages) bool { return f.cal == cal && slices.Equal(f.q, q) })
		if ok {
			if scope != nil {
				scope.Put(scopeStages+key, candidates, got)
			}
			return got, nil
		}
	}
	lr, err := e.lex.Search(ctx, text, depth, candidates)
	if err != nil {
		return firstStages{}, err
	}
	cs, best, err := e.firstStage(ctx, q, lr.Hits, cal)
	if err != nil {
		return firstStages{}, err
	}
	if err := e.feedbackStage(ctx, cs, lr.Hits); err != nil {
		return firstStages{}, err
	}
	f := firstStages{q: q, cal: cal, lr: lr, cs: cs, best: best, made: &cutHits{}}
	if kept {
		if now, _ := e.generation(); now == gen { // nothing changed while they ran
			e.firsts.Put(gen, key, candidates, f)
		}
	}
	if scope != nil {
		scope.Put(scopeStages+key, candidates, f)
	}
	return f, nil
}

// scopeStages prefixes the stages' keys in a memo.Scope (a refresh pass's).
const scopeStages = "search.stages\x00"

// firstStages is what stages keeps.
type firstStages struct {
	q    []float32
	cal  calibration
	lr   lexical.Result
	cs   []cand
	best float32
	made *cutHits // the cut and its hits, made by the first request that reads them
}

// firstsKept bounds the hybrid stages the Searcher keeps (each about 200 KB at depth 1,000
// among a market's SKUs of a million: 50 MB when full). A refresh pass asks for about 150
// distinct queries and candidate sets over 6,000 pools made from a few dozen briefs; with 64
// kept, half its searches missed.
const firstsKept = 256

// generation is the indexes' pair of generations, when the vector side counts its changes
// (*vectorindex.Index does; the planner, which may read pgvector, does not: nothing is kept).
func (e *Searcher) generation() ([2]uint64, bool) {
	g, ok := e.dense.(interface{ Generation() uint64 })
	if !ok {
		return [2]uint64{}, false
	}
	return [2]uint64{e.lex.Generation(), g.Generation()}, true
}

// firstStage scores every lexical match by lexical evidence plus the query's similarity, best
// first; best is the highest coverage of a match.
func (e *Searcher) firstStage(ctx context.Context, q []float32, hits []lexical.Hit, cal calibration) ([]cand, float32, error) {
	ords := make([]int64, len(hits))
	for i, h := range hits {
		ords[i] = h.Ordinal
	}
	cos, err := e.cosines(ctx, q, ords)
	if err != nil {
		return nil, 0, err
	}
	cs := make([]cand, len(hits))
	best := float32(0)
	for i, h := range hits {
		c := cand{lex: h, l: e.lexicalEvidence(h, hits[0].Score), cos: float32(math.NaN()), fb: float32(math.NaN()), pos: int32(i)}
		neutral := float32(cal.mean) // a product without a vector is neither helped nor hurt
		s, ok := cos[h.Ordinal]
		if ok {
			c.cos, c.z = s, cal.z(s)
		} else {
			s = neutral
		}
		c.stage1 = c.l + float32(weight(e.cfg.QueryWeight))*s
		c.score = c.stage1
		cs[i] = c
		best = max(best, h.Coverage)
	}
	// Best first, ties in the lexical order: a total order, so the unstable sort gives what a
	// stable one by score would (sort.SliceStable's reflection and merges were 6% of a
	// refresh pass's CPU at 1M SKUs).
	slices.SortFunc(cs, func(a, b cand) int {
		switch {
		case a.stage1 > b.stage1:
			return -1
		case a.stage1 < b.stage1:
			return 1
		}
		return int(a.pos) - int(b.pos)
	})
	return cs, best, nil
}

// feedbackStage re-ranks the head of cs (RerankDepth) by similarity to the centroid of the best
// lexical matches (pseudo-relevance feedback).
func (e *Searcher) feedbackStage(ctx context.Context, cs []cand, hits []lexical.Hit) error {
	head := min(e.cfg.RerankDepth, len(cs))
	if head <= 1 || weight(e.cfg.FeedbackWeight) <= 0 {
		return nil
	}
	centroid := e.centroid(hits, e.cfg.FeedbackDocs)
	if centroid == nil {
		return nil
	}
	headOrds := make([]int64, head)
	for i := range headOrds {
		headOrds[i] = cs[i].lex.Ordinal
	}
	fb, err := e.cosines(ctx, centroid, headOrds)
	if err != nil {
		return err
	}
	var mean float32
	for _, v := range fb {
		mean += v
	}
	if len(fb) > 0 {
		mean /= float32(len(fb))
	}
	for i := 0; i < head; i++ {
		v, ok := fb[cs[i].lex.Ordinal]
		if ok {
			cs[i].fb = v
		} else {
			v = mean
		}
		cs[i].score = cs[i].stage1 + float32(weight(e.cfg.FeedbackWeight))*v
	}
	sort.SliceStable(cs[:head], func(a, b int) bool { return cs[a].score > cs[b].score })
	return nil
}

// expand is the recall expansion: too few lexical results, so it adds (up to req.K in all) the
// products the embedding alone finds more similar than the best of N ordinary products would be
// by chance.
func (e *Searcher) expand(ctx context.Context, q []float32, req Request, cal calibration, kept []cand) ([]cand, error) {
	within := req.Candidates
	if req.Dense != nil {
		within = req.Dense
	}
	hits, err := e.dense.Search(ctx, q, req.K, within)
	if err != nil {
		return kept, fmt.Errorf("search: dense: %w", err)
	}
	have := make(map[int64]bool, len(kept))
	for _, c := range kept {
		have[c.lex.Ordinal] = true
	}
	for _, h := range hits {
		if len(kept) >= req.K {
			break
		}
		if have[h.Ordinal] {
			continue
		}
		z := cal.z(h.Score)
		if z < cal.chance {
			break // hits come best first
		}
		kept = append(kept, cand{lex: lexical.Hit{Ordinal: h.Ordinal, SKUID: h.SKUID}, cos: h.Score, z: z,
			fb: float32(math.NaN()), onlySem: true})
	}
	return kept, nil
}

// hybridHits turns the kept candidates into hits; semantic-only ones score below the lowest
// lexical one, in their order.
func hybridHits(kept []cand, terms []string) []Hit {
	out := make([]Hit, len(kept))
	floor := float32(0) // the lowest lexical score: semantic-only hits come after
	for _, c := range kept {
		if !c.onlySem {
			floor = min(floor, c.score)
		}
	}
	for i, c := range kept {
		h := Hit{Ordinal: c.lex.Ordinal, SKUID: c.lex.SKUID, Lexical: c.l, Semantic: c.cos, Coverage: c.lex.Coverage}
		if c.onlySem {
			h.Score = floor - 1e-3*float32(i+1) + c.cos*1e-4
			h.Why = fmt.Sprintf("no query word; semantic similarity %.2f (%.1f sd above an ordinary product)", c.cos, c.z)
		} else {
			h.Score = c.score
			h.Why = whyHybrid(terms, c)
		}
		out[i] = h
	}
	return out
}

// completeCoverage is the coverage of a product holding every query word (up to rounding).
const completeCoverage = 0.999

// centroid is the normalised mean vector of the first n lexical hits that have vectors; nil if
// none has.
func (e *Searcher) centroid(hits []lexical.Hit, n int) []float32 {
	var c []float32
	used := 0
	for _, h := range hits {
		if used == n {
			break
		}
		v, ok := e.dense.Vector(h.Ordinal)
		if !ok {
			continue
		}
		c = vectorindex.Add(c, v)
		used++
	}
	if c == nil {
		return nil
	}
	c, ok := vectorindex.Normalize(c)
	if !ok {
		return nil
	}
	return c
}

// whyHybrid explains a hybrid hit: its words, and its semantic evidence where it has any. It
// writes what fmt's verbs would ("%.0f%%", "%.2f", "%.1f"; float32 values at their own
// precision) with strconv: fmt was 5% of a refresh pass's CPU at 1M SKUs, every retrieved hit
// being explained.
func whyHybrid(terms []string, c cand) string {
	b := make([]byte, 0, 96)
	b = append(b, "words: "...)
	b = strconv.AppendFloat(b, float64(100*c.lex.Coverage), 'f', 0, 32)
	b = append(b, "% of the query ("...)
	for i, t := range terms {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, t...)
	}
	b = append(b, "), BM25 "...)
	b = strconv.AppendFloat(b, float64(c.lex.Score), 'f', 2, 32)
	if !math.IsNaN(float64(c.cos)) {
		b = append(b, "; semantic "...)
		b = strconv.AppendFloat(b, float64(c.cos), 'f', 2, 32)
		b = append(b, " ("...)
		b = strconv.AppendFloat(b, c.z, 'f', 1, 64)
		b = append(b, " sd)"...)
	}
	if !math.IsNaN(float64(c.fb)) {
		b = append(b, "; like the best matches "...)
		b = strconv.AppendFloat(b, float64(c.fb), 'f', 2, 32)
	}
	return string(b)
}

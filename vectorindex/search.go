package vectorindex

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// Path names how a search scores its candidates.
type Path string

// The search paths. The in-memory ones are the Index's; the pgvector ones are the Planner's
// when the index is not loaded.
const (
	// PathAuto lets the index (or planner) choose.
	PathAuto Path = ""
	// PathExact scores every candidate's float32 vector: exact.
	PathExact Path = "memory-exact"
	// PathBinary ranks every candidate by the Hamming distance of 1-bit codes, then rescores the
	// best Rerank of them in float32.
	PathBinary Path = "memory-binary"
	// PathLists estimates the candidates of the lists nearest the query only (ListProbe of
	// them) from their sign codes and rescores the best ListRerank in float32; the index must
	// hold lists (Load, BuildLists).
	PathLists Path = "memory-lists"
	// PathHNSW is pgvector's HNSW index with an iterative scan and the bitmap as a filter.
	PathHNSW Path = "pgvector-hnsw"
	// PathPGExact is pgvector's exact distance over the candidates' rows.
	PathPGExact Path = "pgvector-exact"
)

// Search returns the k candidates most similar (cosine) to query, best first; filter holds the
// candidate ordinals (nil: every vector in the index). Candidates without a vector are
// skipped. Small candidate sets are scored exactly in float32; from QuantizedMin candidates on,
// a binary first pass picks Rerank of them to score exactly (recall@10 >= 0.99, measured).
func (ix *Index) Search(ctx context.Context, query []float32, k int, filter *roaring64.Bitmap) ([]Hit, error) {
	hits, _, err := ix.search(ctx, query, k, filter, PathAuto, -1)
	return hits, err
}

// Similarities is the cosine of query with the vector of each ordinal the index holds (the
// score an exact Search gives it), by ordinal: a dot product each, without a selection, a
// candidate bitmap or workers (the hybrid's first stage asks it of up to a thousand lexical
// matches).
func (ix *Index) Similarities(query []float32, ords []int64) (map[int64]float32, error) {
	if len(query) != ix.cfg.Dim {
		return nil, fmt.Errorf("vectorindex: query of %d dimensions, index has %d", len(query), ix.cfg.Dim)
	}
	qn := make([]float32, len(query))
	if !normalize(qn, query) {
		return nil, fmt.Errorf("vectorindex: query vector is zero, NaN or Inf")
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if !ix.loaded {
		return nil, ErrNotLoaded
	}
	out := make(map[int64]float32, len(ords))
	for _, o := range ords {
		if v, _, ok := ix.row(o); ok {
			out[o] = ix.kern.dot(qn, v)
		}
	}
	return out, nil
}

// SearchPath is Search on a given path (PathExact or PathBinary; PathAuto chooses). It also
// returns the path taken.
func (ix *Index) SearchPath(ctx context.Context, query []float32, k int, filter *roaring64.Bitmap, path Path) ([]Hit, Path, error) {
	return ix.search(ctx, query, k, filter, path, -1)
}

// Similar returns the k vectors most similar to that of ordinal o (not o itself), within filter.
func (ix *Index) Similar(ctx context.Context, o int64, k int, filter *roaring64.Bitmap) ([]Hit, error) {
	v, ok := ix.Vector(o)
	if !ok {
		return nil, fmt.Errorf("vectorindex: ordinal %d: %w", o, ErrNotFound)
	}
	hits, _, err := ix.search(ctx, v, k, filter, PathAuto, o)
	return hits, err
}

// ChoosePath is the path Search takes for n candidates and k results.
func (ix *Index) ChoosePath(n, k int) Path {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.choosePath(n, k)
}

// choosePath is ChoosePath (callers hold mu).
func (ix *Index) choosePath(n, k int) Path {
	switch {
	case ix.cfg.Exact || n < ix.cfg.QuantizedMin || n <= ix.candidatesFor(k):
		return PathExact
	case ix.lists != nil && ix.cfg.ListsFrom > 0 && n >= ix.cfg.ListsFrom && k <= ix.cfg.ListMaxK:
		return PathLists
	}
	return PathBinary
}

// candidatesFor is how many codes survive the Hamming pass for k results.
func (ix *Index) candidatesFor(k int) int { return max(ix.cfg.Candidates, 40*k) }

// rerankFor is how many of those are rescored in float32 for k results out of n candidates:
// Rerank, but at least 4k and n/250 (measured on 1M synthetic vectors: 2,000 reranks gave
// recall@10 0.990 over 1M candidates, 4,000 gave 0.992; 2,000 over 500K gave 0.994).
func (ix *Index) rerankFor(k, n int) int { return max(ix.cfg.Rerank, 4*k, n/250) }

// asym is a query prepared for the asymmetric estimate: q quantised to asymBits bits per
// dimension (q_i ≈ lo + delta*u_i) and split into bit planes, so that sum_i q_i c_i over the
// set bits c of a code is lo*popcount(c) + delta * sum_p 2^p popcount(plane_p & c).
type asym struct {
	words          int
	planes         []uint64 // plane p, word w at p*words+w
	lo, delta, sum float32
}

// asymBits is the query's bits per dimension in the estimate. The code's one bit per
// dimension is the coarser side, so five bits (32 levels) choose what to rescore about as well
// as eight, at six popcounts a word instead of nine. BenchmarkPropagatedVote at a million
// SKUs, the lists path, runs interleaved: 0.78-0.90 ms a vote against 1.02-1.45 ms with eight
// bits, recall@10 0.969 against 0.970, every decision the same as exact scoring with both;
// four bits changed one decision of 64.
const asymBits = 5

func (ix *Index) asymQuery(q []float32) *asym {
	lo, hi := q[0], q[0]
	var sum float32
	for _, x := range q {
		lo, hi = min(lo, x), max(hi, x)
		sum += x
	}
	const levels = 1<<asymBits - 1
	a := &asym{words: ix.words, planes: make([]uint64, asymBits*ix.words), lo: lo, delta: (hi - lo) / levels, sum: sum}
	if a.delta == 0 {
		return a
	}
	for i, x := range q {
		u := uint(float32(x-lo)/a.delta + 0.5)
		for p := 0; p < asymBits; p++ {
			if u&(1<<p) != 0 {
				a.planes[p*ix.words+i/64] |= 1 << uint(i%64)
			}
		}
	}
	return a
}

// estimate is the asymmetric estimate of q·(v - mean) for a code (row-major words).
func (a *asym) estimate(code []uint64, corr float32) float32 {
	var pc, s int
	planes := a.planes[:asymBits*a.words]
	for w, c := range code[:a.words] {
		pc += bits.OnesCount64(c)
		for p := 0; p < asymBits; p++ {
			s += bits.OnesCount64(planes[p*a.words+w]&c) << p
		}
	}
	dotc := a.lo*float32(pc) + a.delta*float32(s)
	return corr * (2*dotc - a.sum)
}

type span struct{ lo, hi uint64 } // ordinals [lo, hi)

// search is Search, SearchPath and Similar: it checks the query, counts the candidates, picks
// the path, splits the candidates over the workers and scores them; exclude (an ordinal, or
// -1) is left out of the k results.
func (ix *Index) search(ctx context.Context, query []float32, k int, filter *roaring64.Bitmap, path Path, exclude int64) ([]Hit, Path, error) {
	if err := ctx.Err(); err != nil {
		return nil, path, fmt.Errorf("vectorindex: search: %w", err)
	}
	if len(query) != ix.cfg.Dim {
		return nil, path, fmt.Errorf("vectorindex: query of %d dimensions, index has %d", len(query), ix.cfg.Dim)
	}
	if k <= 0 {
		return nil, path, nil
	}
	qn := make([]float32, len(query))
	if !normalize(qn, query) {
		return nil, path, fmt.Errorf("vectorindex: query vector is zero, NaN or Inf")
	}
	kk := k
	if exclude >= 0 {
		kk++
	}

	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if !ix.loaded {
		return nil, path, ErrNotLoaded
	}
	var n int
	if filter == nil {
		n = ix.n
	} else {
		n = int(filter.GetCardinality())
	}
	if n == 0 || ix.maxOrd < 0 {
		return []Hit{}, PathExact, nil
	}
	if path == PathAuto {
		path = ix.choosePath(n, kk)
	}
	if path == PathLists {
		if ix.lists == nil {
			return nil, path, fmt.Errorf("vectorindex: %s: the index holds no lists (Load or BuildLists makes them)", path)
		}
		hits := ix.searchLists(qn, kk, filter)
		return dropOrdinal(hits, exclude, k), path, nil
	}
	parts := 1
	if n >= ix.cfg.ParallelMin {
		parts = ix.cfg.Workers
	}
	// A dense filter becomes a bit mask over the ordinals (about 1 ns per member), so the scan
	// runs word by word like an unfiltered one instead of calling the bitmap iterator per
	// candidate; a sparse one is iterated.
	var mask []uint64
	if filter != nil && uint64(n)*16 >= uint64(ix.maxOrd)+1 {
		mask = filterMask(filter, ix.maxOrd)
		filter = nil
	}
	spans := ix.spans(filter, n, parts)

	var hits []Hit
	switch path {
	case PathExact:
		hits = ix.searchExact(qn, kk, filter, mask, spans)
	case PathBinary:
		hits = ix.searchBinary(qn, kk, n, filter, mask, spans)
	default:
		return nil, path, fmt.Errorf("vectorindex: the in-memory index has no path %q", path)
	}
	return dropOrdinal(hits, exclude, k), path, nil
}

// dropOrdinal is the best k of hits without ordinal exclude (-1: none).
func dropOrdinal(hits []Hit, exclude int64, k int) []Hit {
	if exclude < 0 {
		return hits
	}
	out := hits[:0]
	for _, h := range hits {
		if h.Ordinal != exclude {
			out = append(out, h)
		}
	}
	return out[:min(len(out), k)]
}

// searchExact scores every candidate in float32, a top-k per span merged into one.
func (ix *Index) searchExact(qn []float32, k int, filter *roaring64.Bitmap, mask []uint64, spans []span) []Hit {
	tops := make([]*topK, len(spans))
	ix.parallel(spans, func(i int, s span) { tops[i] = ix.scoreExact(qn, k, filter, mask, s) })
	return mergeTops(k, tops)
}

// mergeTops is the best k hits of the top-k lists, best first.
func mergeTops(k int, tops []*topK) []Hit {
	all := newTopK(k)
	for _, t := range tops {
		for _, h := range t.h {
			all.push(h)
		}
	}
	return all.sorted()
}

// searchBinary is the quantised path over n candidates, in three stages: the Hamming distance
// of the sign codes keeps candidatesFor(k), the asymmetric estimate (float query against the
// sign codes) keeps rerankFor(k, n), and those are scored exactly. Each stage splits over the
// workers like the scan.
func (ix *Index) searchBinary(qn []float32, k, n int, filter *roaring64.Bitmap, mask []uint64, spans []span) []Hit {
	qc := ix.queryCode(qn)
	r1, r2 := ix.candidatesFor(k), ix.rerankFor(k, n)
	kept := make([][]uint64, len(spans))
	ix.parallel(spans, func(i int, s span) { kept[i] = ix.scoreBinary(qc, r1, filter, mask, s) })
	var keys []uint64
	for _, k := range kept {
		keys = append(keys, k...)
	}
	keys = smallestKeys(keys, r1, ix.words*64)
	parts := spans
	if len(keys) < 4096 {
		parts = parts[:1]
	}
	ests := ix.estimateStage(qn, keys, r2, parts)
	if len(ests) < 1024 {
		parts = parts[:1]
	}
	return ix.rescoreStage(qn, k, ests, parts)
}

// estimateStage keeps the r best of the Hamming pass's keys (distance and ordinal, best first)
// by the asymmetric estimate; the keys are split over len(parts) workers.
func (ix *Index) estimateStage(qn []float32, keys []uint64, r int, parts []span) []Hit {
	aq := ix.asymQuery(qn)
	tops := make([]*topK, len(parts))
	ix.parallel(parts, func(i int, _ span) {
		lo, hi := i*len(keys)/len(parts), (i+1)*len(keys)/len(parts)
		est := newTopK(r)
		nw := ix.words
		for _, key := range keys[lo:hi] {
			o := int64(key & ordMask)
			c := ix.chunks[o>>chunkBits]
			row := int(o & chunkMask)
			est.push(Hit{Ordinal: o, Score: aq.estimate(c.rcodes[row*nw:(row+1)*nw], c.corr[row])})
		}
		tops[i] = est
	})
	var ests []Hit
	for _, t := range tops {
		ests = append(ests, t.h...)
	}
	if len(ests) > r {
		slices.SortFunc(ests, func(a, b Hit) int {
			if better(a, b) {
				return -1
			}
			return 1
		})
		ests = ests[:r]
	}
	return ests
}

// rescoreStage scores the estimated hits exactly in float32 and keeps the best k, split over
// len(parts) workers.
func (ix *Index) rescoreStage(qn []float32, k int, ests []Hit, parts []span) []Hit {
	tops := make([]*topK, len(parts))
	ix.parallel(parts, func(i int, _ span) {
		lo, hi := i*len(ests)/len(parts), (i+1)*len(ests)/len(parts)
		t := newTopK(k)
		for _, h := range ests[lo:hi] {
			if v, id, ok := ix.row(h.Ordinal); ok {
				t.push(Hit{Ordinal: h.Ordinal, SKUID: id, Score: ix.kern.dot(qn, v)})
			}
		}
		tops[i] = t
	})
	return mergeTops(k, tops)
}

// parallel runs fn over spans, one goroutine per span beyond the first.
func (ix *Index) parallel(spans []span, fn func(i int, s span)) {
	if len(spans) == 1 {
		fn(0, spans[0])
		return
	}
	var wg sync.WaitGroup
	for i := 1; i < len(spans); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i, spans[i])
		}()
	}
	fn(0, spans[0])
	wg.Wait()
}

// spans splits the candidates into parts of about equal size: ordinal ranges aligned to 512
// (whole presence words and code blocks) without a filter, rank-balanced ranges with one.
func (ix *Index) spans(filter *roaring64.Bitmap, n, parts int) []span {
	end := uint64(ix.maxOrd) + 1
	if parts <= 1 || n < 2*parts {
		return []span{{0, max(end, uint64(1))}}
	}
	var out []span
	if filter == nil {
		step := (end + uint64(parts) - 1) / uint64(parts)
		step = (step + 511) &^ 511
		for lo := uint64(0); lo < end; lo += step {
			out = append(out, span{lo, min(lo+step, end)})
		}
		return out
	}
	lo := filter.Minimum()
	for i := 1; i < parts; i++ {
		b, err := filter.Select(uint64(i * n / parts))
		if err != nil || b <= lo {
			continue
		}
		out = append(out, span{lo, b})
		lo = b
	}
	return append(out, span{lo, filter.Maximum() + 1})
}

// scoreExact scores the candidates in s in float32.
func (ix *Index) scoreExact(q []float32, k int, filter *roaring64.Bitmap, mask []uint64, s span) *topK {
	t := newTopK(k)
	d := ix.cfg.Dim
	dot := ix.kern.dot
	if filter == nil {
		for key := int(s.lo >> chunkBits); key < len(ix.chunks) && uint64(key)<<chunkBits < s.hi; key++ {
			c := ix.chunks[key]
			if c == nil {
				continue
			}
			base := uint64(key) << chunkBits
			r0 := int(max(s.lo, base) - base)
			r1 := int(min(s.hi-base, uint64(c.rows)))
			for w := r0 >> 6; w<<6 < r1; w++ {
				pw := c.present[w]
				if mask != nil {
					pw &= maskWord(mask, base, w)
				}
				for pw != 0 {
					r := w<<6 + bits.TrailingZeros64(pw)
					pw &= pw - 1
					if r < r0 || r >= r1 {
						continue
					}
					sc := dot(q, c.vecs[r*d:(r+1)*d])
					if t.full() && sc < t.h[0].Score {
						continue
					}
					t.push(Hit{Ordinal: int64(base) + int64(r), SKUID: c.ids[r], Score: sc})
				}
			}
		}
		return t
	}
	it := filter.Iterator()
	it.AdvanceIfNeeded(s.lo)
	lastKey := -1
	var c *chunk
	for it.HasNext() {
		o := it.Next()
		if o >= s.hi {
			break
		}
		if o > MaxOrdinal {
			break
		}
		if key := int(o >> chunkBits); key != lastKey {
			lastKey = key
			c = nil
			if key < len(ix.chunks) {
				c = ix.chunks[key]
			}
		}
		if c == nil {
			continue
		}
		r := int(o & chunkMask)
		if r >= c.rows || c.present[r>>6]&(1<<(r&63)) == 0 {
			continue
		}
		sc := dot(q, c.vecs[r*d:(r+1)*d])
		if t.full() && sc < t.h[0].Score {
			continue
		}
		t.push(Hit{Ordinal: int64(o), SKUID: c.ids[r], Score: sc})
	}
	return t
}

// filterMask sets a bit per member of filter up to maxOrd.
func filterMask(filter *roaring64.Bitmap, maxOrd int64) []uint64 {
	mask := make([]uint64, maxOrd>>6+1)
	it := filter.ManyIterator()
	var buf [2048]uint64
	for {
		n := it.NextMany(buf[:])
		if n == 0 {
			return mask
		}
		for _, o := range buf[:n] {
			if o > uint64(maxOrd) {
				return mask
			}
			mask[o>>6] |= 1 << (o & 63)
		}
	}
}

// maskWord is the mask word of presence word w of the chunk at base.
func maskWord(mask []uint64, base uint64, w int) uint64 {
	if i := int(base>>6) + w; i < len(mask) {
		return mask[i]
	}
	return 0
}

// runBlocks is how many code blocks (8 codes each) one Hamming kernel call covers: 64 blocks of
// 8 x 64 bytes are 32 KiB of codes and 4 KiB of distances, within L1.
const runBlocks = 64

// scoreBinary keeps about the r candidates in s with the smallest Hamming distance to qc
// (at least r when there are r; callers sort and cut).
func (ix *Index) scoreBinary(qc []uint64, r int, filter *roaring64.Bitmap, mask []uint64, s span) []uint64 {
	sel := newSelector(r, ix.words*64)
	if filter == nil {
		ix.hammingScan(qc, sel, mask, s)
	} else {
		ix.hammingFiltered(qc, sel, filter, s)
	}
	sel.tighten()
	return sel.keep
}

// hammingScan feeds sel the Hamming distance to qc of every present row in s (within mask when
// there is one), runBlocks code blocks per kernel call.
func (ix *Index) hammingScan(qc []uint64, sel *selector, mask []uint64, s span) {
	w8 := ix.words * 8
	var dist [runBlocks * 8]uint64
	for key := int(s.lo >> chunkBits); key < len(ix.chunks) && uint64(key)<<chunkBits < s.hi; key++ {
		c := ix.chunks[key]
		if c == nil {
			continue
		}
		base := uint64(key) << chunkBits
		r0 := int(max(s.lo, base)-base) &^ 63
		r1 := int(min(s.hi-base, uint64(c.rows)))
		for run := r0; run < r1; run += runBlocks * 8 {
			end := min(run+runBlocks*8, r1)
			end = (end + 7) &^ 7
			// Skip runs without a present row.
			any := false
			for w := run >> 6; w<<6 < end; w++ {
				if c.present[w] != 0 && (mask == nil || maskWord(mask, base, w) != 0) {
					any = true
					break
				}
			}
			if !any {
				continue
			}
			ix.kern.hamming(qc, c.codes[(run>>3)*w8:(end>>3)*w8], ix.words, dist[:])
			for w := run >> 6; w<<6 < end; w++ {
				pw := c.present[w]
				if mask != nil {
					pw &= maskWord(mask, base, w)
				}
				if pw == ^uint64(0) && w<<6+64 <= end {
					// Whole word present: no bit walk.
					d := dist[w<<6-run : w<<6-run+64]
					for j, x := range d {
						if x < sel.lim {
							sel.push(x, base+uint64(w<<6+j))
						}
					}
					continue
				}
				for pw != 0 {
					row := w<<6 + bits.TrailingZeros64(pw)
					pw &= pw - 1
					if row >= end {
						break
					}
					if x := dist[row-run]; x < sel.lim {
						sel.push(x, base+uint64(row))
					}
				}
			}
		}
	}
}

// hammingFiltered feeds sel the Hamming distance to qc of each member of a sparse filter in s,
// one kernel call per code block holding members.
func (ix *Index) hammingFiltered(qc []uint64, sel *selector, filter *roaring64.Bitmap, s span) {
	w8 := ix.words * 8
	var d8 [8]uint64
	it := filter.Iterator()
	it.AdvanceIfNeeded(s.lo)
	lastKey, lastBlk := -1, -1
	var c *chunk
	for it.HasNext() {
		o := it.Next()
		if o >= s.hi || o > MaxOrdinal {
			break
		}
		if key := int(o >> chunkBits); key != lastKey {
			lastKey, lastBlk = key, -1
			c = nil
			if key < len(ix.chunks) {
				c = ix.chunks[key]
			}
		}
		if c == nil {
			continue
		}
		row := int(o & chunkMask)
		if row >= c.rows || c.present[row>>6]&(1<<(row&63)) == 0 {
			continue
		}
		if blk := row >> 3; blk != lastBlk {
			lastBlk = blk
			ix.kern.hamming(qc, c.codes[blk*w8:(blk+1)*w8], ix.words, d8[:])
		}
		if x := d8[row&7]; x < sel.lim {
			sel.push(x, o)
		}
	}
}

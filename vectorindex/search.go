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
	if ix.cfg.Exact || n < ix.cfg.QuantizedMin || n <= ix.rerankFor(k) {
		return PathExact
	}
	return PathBinary
}

// rerankFor is how many binary-pass candidates are rescored for k results.
func (ix *Index) rerankFor(k int) int { return max(ix.cfg.Rerank, 10*k) }

type span struct{ lo, hi uint64 } // ordinals [lo, hi)

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
		path = ix.ChoosePath(n, kk)
	}
	parts := 1
	if n >= ix.cfg.ParallelMin {
		parts = ix.cfg.Workers
	}
	spans := ix.spans(filter, n, parts)

	var hits []Hit
	switch path {
	case PathExact:
		tops := make([]*topK, len(spans))
		ix.parallel(spans, func(i int, s span) { tops[i] = ix.scoreExact(qn, kk, filter, s) })
		all := newTopK(kk)
		for _, t := range tops {
			for _, h := range t.h {
				all.push(h)
			}
		}
		hits = all.sorted()
	case PathBinary:
		qc := ix.queryCode(qn)
		r := ix.rerankFor(kk)
		nears := make([]*nearR, len(spans))
		ix.parallel(spans, func(i int, s span) { nears[i] = ix.scoreBinary(qc, r, filter, s) })
		var keys []uint64
		for _, nr := range nears {
			keys = append(keys, nr.h...)
		}
		slices.Sort(keys)
		keys = keys[:min(r, len(keys))]
		all := newTopK(kk)
		for _, key := range keys {
			o := int64(key & ordMask)
			v, id, ok := ix.row(o)
			if ok {
				all.push(Hit{Ordinal: o, SKUID: id, Score: ix.kern.dot(qn, v)})
			}
		}
		hits = all.sorted()
	default:
		return nil, path, fmt.Errorf("vectorindex: the in-memory index has no path %q", path)
	}
	if exclude >= 0 {
		out := hits[:0]
		for _, h := range hits {
			if h.Ordinal != exclude {
				out = append(out, h)
			}
		}
		hits = out[:min(len(out), k)]
	}
	return hits, path, nil
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
func (ix *Index) scoreExact(q []float32, k int, filter *roaring64.Bitmap, s span) *topK {
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

// runBlocks is how many code blocks (8 codes each) one Hamming kernel call covers: 64 blocks of
// 8 x 64 bytes are 32 KiB of codes and 4 KiB of distances, within L1.
const runBlocks = 64

// scoreBinary keeps the r candidates in s with the smallest Hamming distance to qc.
func (ix *Index) scoreBinary(qc []uint64, r int, filter *roaring64.Bitmap, s span) *nearR {
	nr := newNearR(r)
	w8 := ix.words * 8
	if filter == nil {
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
					if c.present[w] != 0 {
						any = true
						break
					}
				}
				if !any {
					continue
				}
				ix.kern.hamming(qc, c.codes[(run>>3)*w8:(end>>3)*w8], ix.words, dist[:])
				bound := nr.bound()
				for w := run >> 6; w<<6 < end; w++ {
					pw := c.present[w]
					for pw != 0 {
						row := w<<6 + bits.TrailingZeros64(pw)
						pw &= pw - 1
						if row >= end {
							break
						}
						key := dist[row-run]<<48 | (base + uint64(row))
						if key < bound {
							nr.push(key)
							bound = nr.bound()
						}
					}
				}
			}
		}
		return nr
	}
	var d8 [8]uint64
	it := filter.Iterator()
	it.AdvanceIfNeeded(s.lo)
	lastKey, lastBlk := -1, -1
	var c *chunk
	bound := nr.bound()
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
		key := d8[row&7]<<48 | o
		if key < bound {
			nr.push(key)
			bound = nr.bound()
		}
	}
	return nr
}

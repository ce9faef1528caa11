package lexical

import (
	"container/heap"
	"context"
	"math"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// Hit is one matching document.
type Hit struct {
	Ordinal int64
	SKUID   int64
	// Score is the BM25F score (unbounded, comparable within one query only).
	Score float32
	// Coverage is the share of the query's IDF mass the document matches, 0..1: 1 when every
	// query term occurs in it, and a term the catalogue has never seen counts as missing.
	Coverage float32
}

// Result is what a search found.
type Result struct {
	Hits []Hit
	// Terms are the analysed query terms (duplicates removed), in query order.
	Terms []string
	// Known is how many of Terms occur in at least one live document.
	Known int
	// Matched is how many documents matched at least one term (within the candidates).
	Matched int
}

// Search ranks the documents matching any term of text by BM25F and returns the best k. When
// candidates is not nil, only documents whose ordinals it holds are considered; collection
// statistics (IDF, average lengths) stay those of the whole index, so a document scores the same
// whatever the candidate set.
func (ix *Index) Search(ctx context.Context, text string, k int, candidates *roaring64.Bitmap) (Result, error) {
	var res Result
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Terms = dedupe(Analyze(text))
	if len(res.Terms) == 0 || k <= 0 {
		return res, nil
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()

	qs, totalIDF, known := ix.queryTerms(res.Terms)
	res.Known = known
	if len(qs) == 0 {
		return res, nil
	}
	n := float64(ix.live)
	var avg [NumFields]float64
	for f := range avg {
		avg[f] = math.Max(float64(ix.totalLen[f])/math.Max(n, 1), 1)
	}
	sc := &scorer{cfg: &ix.cfg, avg: &avg, lens: ix.lens}

	acc := ix.getAcc(len(ix.docs))
	defer func() {
		acc.reset() // a cancelled search leaves partial scores too
		ix.scratch.Put(acc)
	}()

	var postingsTotal uint64
	for _, q := range qs {
		postingsTotal += uint64(len(ix.postings[q.id]))
	}
	key := ""
	if postingsTotal >= memoMinPostings {
		key = memoKey(res.Terms)
		if got, ok := ix.remembered(ix.gen, key, candidates, k); ok {
			return got, nil
		}
	}
	var err error
	if candidates != nil && candidates.GetCardinality()*candidateFactor < postingsTotal {
		err = ix.scoreCandidates(ctx, acc, sc, qs, candidates)
	} else {
		err = ix.scorePostings(ctx, acc, sc, qs, candidates)
	}
	if err != nil {
		return res, err
	}
	res.Matched = len(acc.touched)
	res.Hits = ix.topHits(acc, qs, totalIDF, k)
	if key != "" {
		ix.remember(ix.gen, key, candidates, k, res)
	}
	return res, nil
}

// queryTerms resolves the analysed terms to the index's: those some live document holds, with
// their IDF and coverage bit. totalIDF counts every term, a word nobody uses as much as the
// rarest possible; known is how many terms occur.
func (ix *Index) queryTerms(terms []string) (qs []queryTerm, totalIDF float64, known int) {
	qs = make([]queryTerm, 0, len(terms))
	n := float64(ix.live)
	for i, t := range terms {
		id, ok := ix.dict[t]
		if !ok || len(ix.postings[id]) == 0 {
			totalIDF += idfOf(n, 0) // a word nobody uses weighs as much as the rarest possible
			continue
		}
		idf := idfOf(n, len(ix.postings[id]))
		totalIDF += idf
		known++
		qs = append(qs, queryTerm{id: id, idf: idf, bit: uint32(1) << (i % 31)})
	}
	return qs, totalIDF, known
}

// candidateFactor: the candidates are scored through the forward index (scoreCandidates) when
// they are fewer than the query terms' postings over this factor, else the postings are walked
// (scorePostings). Measured on 200,000 Zipf documents (2026-12-05, AMD EPYC Zen 4): the
// candidates win at 1% of the postings (0.28 against 0.36 ms), the postings from 4% (0.13
// against 0.27 ms) and by 5-20x at 10-40%; the factor was 8 (12.5%).
const candidateFactor = 50

// scoreCandidates scores few candidates through the forward index: each candidate's terms are
// searched for the query's.
func (ix *Index) scoreCandidates(ctx context.Context, acc *accumulator, sc *scorer, qs []queryTerm, candidates *roaring64.Bitmap) error {
	it := candidates.Iterator()
	for it.HasNext() {
		o := it.Next()
		if o >= uint64(len(ix.docs)) {
			break
		}
		d := &ix.docs[o]
		if !d.live {
			continue
		}
		for _, q := range qs {
			if j, ok := d.term(q.id); ok {
				acc.add(uint32(o), sc.score(uint32(o), &d.terms[j].tf, q.idf), q.bit)
			}
		}
		if it.HasNext() && acc.n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// scorePostings walks the query terms' postings, within the candidates (nil: all) as a bit set
// over the ordinals: a membership test per posting is then a shift and a load instead of a
// roaring lookup (~30 ns).
func (ix *Index) scorePostings(ctx context.Context, acc *accumulator, sc *scorer, qs []queryTerm, candidates *roaring64.Bitmap) error {
	var bits []uint64
	if candidates != nil {
		bits = acc.bitset(candidates, len(ix.docs))
	}
	for qi, q := range qs {
		if qi > 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		for i := range ix.postings[q.id] {
			p := &ix.postings[q.id][i]
			if bits != nil && bits[p.ord>>6]&(1<<(p.ord&63)) == 0 {
				continue
			}
			acc.add(p.ord, sc.score(p.ord, &p.tf, q.idf), q.bit)
		}
	}
	return nil
}

// topHits is the best k scored documents, best first, with their SKU ids and their coverage
// of the query's IDF mass.
func (ix *Index) topHits(acc *accumulator, qs []queryTerm, totalIDF float64, k int) []Hit {
	h := make(hitHeap, 0, min(k, len(acc.touched)))
	for _, o := range acc.touched {
		s := acc.cells[o].score
		if len(h) < k {
			heap.Push(&h, Hit{Ordinal: int64(o), Score: s})
		} else if better(Hit{Ordinal: int64(o), Score: s}, h[0]) {
			h[0] = Hit{Ordinal: int64(o), Score: s}
			heap.Fix(&h, 0)
		}
	}
	hits := make([]Hit, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		x := heap.Pop(&h).(Hit)
		x.SKUID = ix.docs[x.Ordinal].skuID
		x.Coverage = coverage(qs, totalIDF, acc.cells[x.Ordinal].mask)
		hits[i] = x
	}
	return hits
}

// coverage is the share of the query's IDF mass (totalIDF) held by the terms whose bits are
// in mask: Hit.Coverage.
func coverage(qs []queryTerm, totalIDF float64, mask uint32) float32 {
	s := 0.0
	for _, q := range qs {
		if mask&q.bit != 0 {
			s += q.idf
		}
	}
	return float32(s / totalIDF)
}

// idfOf is BM25's inverse document frequency (the non-negative form Lucene uses).
func idfOf(n float64, df int) float64 {
	return math.Log(1 + (n-float64(df)+0.5)/(float64(df)+0.5))
}

type queryTerm struct {
	id  uint32
	idf float64
	bit uint32 // the word's bit in the coverage mask
}

type scorer struct {
	cfg  *Config
	avg  *[NumFields]float64
	lens [][NumFields]uint16
}

// score is one term's BM25F contribution to a document: field frequencies weighted and length
// normalised per field, summed, then saturated once.
func (s *scorer) score(ord uint32, tf *[NumFields]uint8, idf float64) float32 {
	lens := &s.lens[ord]
	w := 0.0
	for f := 0; f < int(NumFields); f++ {
		if tf[f] == 0 || s.cfg.Weights[f] == 0 {
			continue
		}
		norm := 1 - s.cfg.B + s.cfg.B*float64(lens[f])/s.avg[f]
		w += s.cfg.Weights[f] * float64(tf[f]) / norm
	}
	return float32(idf * w * (s.cfg.K1 + 1) / (s.cfg.K1 + w))
}

func dedupe(ts []string) []string {
	seen := make(map[string]bool, len(ts))
	out := ts[:0]
	for _, t := range ts {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// accumulator holds per-document scores for one query; it is reused between queries. Score
// and term mask of a document share one 8-byte cell, so adding a posting touches one cache line.
type accumulator struct {
	cells   []cell
	bits    []uint64
	touched []uint32
	n       int
}

type cell struct {
	score float32
	mask  uint32
}

func (ix *Index) getAcc(n int) *accumulator {
	a, _ := ix.scratch.Get().(*accumulator)
	if a == nil {
		a = &accumulator{}
	}
	if len(a.cells) < n {
		a.cells = make([]cell, n)
	}
	return a
}

// touchedBit marks a document in mask as already in touched.
const touchedBit = 1 << 31

func (a *accumulator) add(o uint32, s float32, bit uint32) {
	a.n++
	c := &a.cells[o]
	if c.mask == 0 {
		a.touched = append(a.touched, o)
	}
	c.score += s
	c.mask |= bit | touchedBit
}

// bitset fills the accumulator's reusable bit set with bm's members below n.
func (a *accumulator) bitset(bm *roaring64.Bitmap, n int) []uint64 {
	words := (n + 63) >> 6
	if cap(a.bits) < words {
		a.bits = make([]uint64, words)
	}
	b := a.bits[:words]
	clear(b)
	it := bm.ManyIterator()
	var buf [1024]uint64
	for {
		m := it.NextMany(buf[:])
		if m == 0 {
			return b
		}
		for _, o := range buf[:m] {
			if o >= uint64(n) {
				return b
			}
			b[o>>6] |= 1 << (o & 63)
		}
	}
}

func (a *accumulator) reset() {
	for _, o := range a.touched {
		a.cells[o] = cell{}
	}
	a.touched = a.touched[:0]
	a.n = 0
}

// better orders hits: higher score first, then lower ordinal (older SKU) for a stable order.
func better(a, b Hit) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.Ordinal < b.Ordinal
}

// hitHeap is a min-heap by better: the root is the worst of the best k.
type hitHeap []Hit

func (h hitHeap) Len() int           { return len(h) }
func (h hitHeap) Less(i, j int) bool { return better(h[j], h[i]) }
func (h hitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *hitHeap) Push(x any)        { *h = append(*h, x.(Hit)) }
func (h *hitHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

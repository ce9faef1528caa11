package lexical

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// Field is one searchable field of a document.
type Field int

// The indexed fields.
const (
	FieldTitle Field = iota
	FieldBrand
	FieldProductType
	FieldCategory
	FieldDescription
	NumFields
)

var fieldNames = [NumFields]string{"title", "brand", "product_type", "category", "description"}

func (f Field) String() string {
	if f < 0 || f >= NumFields {
		return fmt.Sprintf("field(%d)", int(f))
	}
	return fieldNames[f]
}

// Document is what the index knows of one SKU.
type Document struct {
	SKUID   int64
	Ordinal int64 // dense internal ordinal (skus.ordinal), the index's address of the document
	Fields  [NumFields]string
}

// MaxOrdinal is the largest ordinal the index accepts: documents live in slices indexed by
// ordinal, which is what makes candidate bitmaps of ordinals cheap to apply.
const MaxOrdinal = 1<<32 - 2

// ErrOrdinal is returned for an ordinal outside 0..MaxOrdinal.
var ErrOrdinal = errors.New("ordinal out of range")

// Config tunes the BM25F scoring. Zero fields take the defaults stated on each.
type Config struct {
	// K1 is the term-frequency saturation of BM25. Default 1.2 (Robertson's and Lucene's).
	K1 float64
	// B is the length normalisation, the same for every field. Default 0.75.
	B float64
	// Weights multiply each field's term frequency before saturation (BM25F). Default: 1 for
	// every field (see doc.go for the measurements behind it).
	Weights [NumFields]float64
}

// DefaultWeights are the field weights used when Config.Weights is all zero.
var DefaultWeights = [NumFields]float64{FieldTitle: 1, FieldBrand: 1, FieldProductType: 1, FieldCategory: 1, FieldDescription: 1}

// WithDefaults fills zero fields with their defaults.
func (c Config) WithDefaults() Config {
	if c.K1 == 0 {
		c.K1 = 1.2
	}
	if c.B == 0 {
		c.B = 0.75
	}
	if c.Weights == ([NumFields]float64{}) {
		c.Weights = DefaultWeights
	}
	return c
}

func (c Config) validate() error {
	if c.K1 <= 0 || math.IsNaN(c.K1) || math.IsInf(c.K1, 0) {
		return fmt.Errorf("lexical: K1 must be positive, got %v", c.K1)
	}
	if c.B < 0 || c.B > 1 || math.IsNaN(c.B) {
		return fmt.Errorf("lexical: B must be in 0..1, got %v", c.B)
	}
	for f, w := range c.Weights {
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("lexical: weight of %s must be >= 0, got %v", Field(f), w)
		}
	}
	return nil
}

// posting is one document's occurrences of a term: its ordinal and the term frequency in
// each field (saturating at 255, far beyond where BM25 stops caring).
type posting struct {
	ord uint32
	tf  [NumFields]uint8
}

// termTF is the forward-index form of a posting: which term, how often per field.
type termTF struct {
	term uint32
	tf   [NumFields]uint8
}

type doc struct {
	skuID int64
	lens  [NumFields]uint16 // terms per field (saturating)
	terms []termTF          // nil when the slot is empty or deleted
	live  bool
}

// Index is an in-memory BM25F index over SKU documents, addressed by ordinal. It is safe for
// concurrent use: searches share a read lock, Upsert and Delete take the write lock briefly.
type Index struct {
	cfg Config

	mu       sync.RWMutex
	dict     map[string]uint32
	postings [][]posting         // by term id, sorted by ordinal; holds live documents only
	docs     []doc               // by ordinal
	lens     [][NumFields]uint16 // docs[o].lens again, packed: what scoring reads per posting
	bySKU    map[int64]uint32
	live     int
	totalLen [NumFields]int64

	scratch sync.Pool // *accumulator
}

// New returns an empty index.
func New(cfg Config) (*Index, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Index{cfg: cfg, dict: map[string]uint32{}, bySKU: map[int64]uint32{}}, nil
}

// Config returns the index's configuration, defaults filled in.
func (ix *Index) Config() Config { return ix.cfg }

// Len is the number of live documents.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.live
}

// Contains reports whether the SKU is indexed (and not deleted).
func (ix *Index) Contains(skuID int64) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	_, ok := ix.bySKU[skuID]
	return ok
}

// Upsert indexes documents, replacing earlier versions of the same SKUs. A document whose
// ordinal is out of range, or whose SKU id is already indexed under another ordinal, is
// rejected with an error naming it; the others are indexed.
func (ix *Index) Upsert(docs ...Document) error {
	type analyzed struct {
		d     *Document
		lens  [NumFields]uint16
		terms map[string]*[NumFields]uint8
	}
	// Analyse outside the lock: it is most of the work.
	prepared := make([]analyzed, 0, len(docs))
	var errs []error
	for i := range docs {
		d := &docs[i]
		if d.Ordinal < 0 || d.Ordinal > MaxOrdinal {
			errs = append(errs, fmt.Errorf("sku %d: %w: %d", d.SKUID, ErrOrdinal, d.Ordinal))
			continue
		}
		a := analyzed{d: d, terms: map[string]*[NumFields]uint8{}}
		count := func(t string, f Field) {
			tf := a.terms[t]
			if tf == nil {
				tf = new([NumFields]uint8)
				a.terms[t] = tf
			}
			if tf[f] < math.MaxUint8 {
				tf[f]++
			}
		}
		for f := Field(0); f < NumFields; f++ {
			n := 0
			analyze(d.Fields[f], func(stem, _ string) {
				n++
				count(stem, f)
			})
			a.lens[f] = uint16(min(n, math.MaxUint16))
		}
		prepared = append(prepared, a)
	}

	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, a := range prepared {
		ord := uint32(a.d.Ordinal)
		if old, ok := ix.bySKU[a.d.SKUID]; ok && old != ord {
			errs = append(errs, fmt.Errorf("sku %d is indexed under ordinal %d, not %d", a.d.SKUID, old, ord))
			continue
		}
		if int(ord) < len(ix.docs) && ix.docs[ord].live && ix.docs[ord].skuID != a.d.SKUID {
			errs = append(errs, fmt.Errorf("ordinal %d belongs to sku %d, not %d", ord, ix.docs[ord].skuID, a.d.SKUID))
			continue
		}
		ix.removeLocked(ord)
		if int(ord) >= len(ix.docs) {
			ix.docs = slices.Grow(ix.docs, int(ord)+1-len(ix.docs))[:int(ord)+1]
		}
		terms := make([]termTF, 0, len(a.terms))
		for t, tf := range a.terms {
			id, ok := ix.dict[t]
			if !ok {
				id = uint32(len(ix.postings))
				ix.dict[t] = id
				ix.postings = append(ix.postings, nil)
			}
			terms = append(terms, termTF{term: id, tf: *tf})
			ix.postings[id] = insertPosting(ix.postings[id], posting{ord: ord, tf: *tf})
		}
		sort.Slice(terms, func(i, j int) bool { return terms[i].term < terms[j].term })
		ix.docs[ord] = doc{skuID: a.d.SKUID, lens: a.lens, terms: terms, live: true}
		if int(ord) >= len(ix.lens) {
			ix.lens = slices.Grow(ix.lens, int(ord)+1-len(ix.lens))[:int(ord)+1]
		}
		ix.lens[ord] = a.lens
		ix.bySKU[a.d.SKUID] = ord
		ix.live++
		for f := range a.lens {
			ix.totalLen[f] += int64(a.lens[f])
		}
	}
	return errors.Join(errs...)
}

// Delete removes SKUs from the index; unknown ids are ignored. It returns how many were removed.
func (ix *Index) Delete(skuIDs ...int64) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := 0
	for _, id := range skuIDs {
		if ord, ok := ix.bySKU[id]; ok {
			ix.removeLocked(ord)
			delete(ix.bySKU, id)
			n++
		}
	}
	return n
}

// removeLocked drops the live document at ord, if any, from the postings and statistics.
func (ix *Index) removeLocked(ord uint32) {
	if int(ord) >= len(ix.docs) || !ix.docs[ord].live {
		return
	}
	d := &ix.docs[ord]
	for _, t := range d.terms {
		p := ix.postings[t.term]
		i, found := slices.BinarySearchFunc(p, ord, func(p posting, o uint32) int { return cmpU32(p.ord, o) })
		if found {
			ix.postings[t.term] = slices.Delete(p, i, i+1)
		}
	}
	for f := range d.lens {
		ix.totalLen[f] -= int64(d.lens[f])
	}
	ix.live--
	*d = doc{}
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// insertPosting keeps postings sorted by ordinal; new SKUs get increasing ordinals, so this is
// usually an append.
func insertPosting(ps []posting, p posting) []posting {
	if n := len(ps); n == 0 || ps[n-1].ord < p.ord {
		return append(ps, p)
	}
	i, found := slices.BinarySearchFunc(ps, p.ord, func(q posting, o uint32) int { return cmpU32(q.ord, o) })
	if found {
		ps[i] = p
		return ps
	}
	return slices.Insert(ps, i, p)
}

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

	qs := make([]queryTerm, 0, len(res.Terms))
	n := float64(ix.live)
	totalIDF := 0.0
	for i, t := range res.Terms {
		id, ok := ix.dict[t]
		if !ok || len(ix.postings[id]) == 0 {
			totalIDF += idfOf(n, 0) // a word nobody uses weighs as much as the rarest possible
			continue
		}
		idf := idfOf(n, len(ix.postings[id]))
		totalIDF += idf
		res.Known++
		qs = append(qs, queryTerm{id: id, idf: idf, bit: uint32(1) << (i % 31)})
	}
	if len(qs) == 0 {
		return res, nil
	}
	var avg [NumFields]float64
	for f := range avg {
		avg[f] = math.Max(float64(ix.totalLen[f])/math.Max(n, 1), 1)
	}
	sc := &scorer{cfg: &ix.cfg, avg: &avg, lens: ix.lens}

	acc := ix.getAcc(len(ix.docs))
	defer ix.scratch.Put(acc)

	var postingsTotal uint64
	for _, q := range qs {
		postingsTotal += uint64(len(ix.postings[q.id]))
	}
	if candidates != nil && candidates.GetCardinality()*8 < postingsTotal {
		// Few candidates: score them through the forward index.
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
				j, ok := slices.BinarySearchFunc(d.terms, q.id, func(t termTF, id uint32) int { return cmpU32(t.term, id) })
				if ok {
					acc.add(uint32(o), sc.score(uint32(o), &d.terms[j].tf, q.idf), q.bit)
				}
			}
			if it.HasNext() && acc.n%4096 == 0 && ctx.Err() != nil {
				return res, ctx.Err()
			}
		}
	} else {
		// The candidates as a bit set over the ordinals: a membership test per posting is then
		// a shift and a load instead of a roaring lookup (~30 ns).
		var bits []uint64
		if candidates != nil {
			bits = acc.bitset(candidates, len(ix.docs))
		}
		for qi, q := range qs {
			if qi > 0 && ctx.Err() != nil {
				return res, ctx.Err()
			}
			for i := range ix.postings[q.id] {
				p := &ix.postings[q.id][i]
				if bits != nil && bits[p.ord>>6]&(1<<(p.ord&63)) == 0 {
					continue
				}
				acc.add(p.ord, sc.score(p.ord, &p.tf, q.idf), q.bit)
			}
		}
	}
	res.Matched = len(acc.touched)

	// Coverage of each query-term bitmask, by IDF.
	cover := func(mask uint32) float32 {
		s := 0.0
		for _, q := range qs {
			if mask&q.bit != 0 {
				s += q.idf
			}
		}
		return float32(s / totalIDF)
	}
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
	res.Hits = make([]Hit, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		x := heap.Pop(&h).(Hit)
		x.SKUID = ix.docs[x.Ordinal].skuID
		x.Coverage = cover(acc.cells[x.Ordinal].mask)
		res.Hits[i] = x
	}
	acc.reset()
	return res, nil
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

// Mentioning returns the ordinals of the live documents holding any word of any text (after
// analysis, so "Refurbished" also finds "refurbish").
func (ix *Index) Mentioning(texts ...string) *roaring64.Bitmap {
	out := roaring64.New()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, text := range texts {
		for _, t := range Analyze(text) {
			id, ok := ix.dict[t]
			if !ok {
				continue
			}
			ps := ix.postings[id]
			ords := make([]uint64, len(ps))
			for i := range ps {
				ords[i] = uint64(ps[i].ord)
			}
			out.AddMany(ords) // sorted: appends container by container
		}
	}
	return out
}

// Sample returns up to n ordinals of live documents spread evenly over the index (every
// len/n-th), for statistics such as the similarity of a query to an ordinary product.
func (ix *Index) Sample(n int) *roaring64.Bitmap {
	out := roaring64.New()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if n <= 0 || ix.live == 0 {
		return out
	}
	stride := max(1, ix.live/n)
	seen := 0
	for o := range ix.docs {
		if !ix.docs[o].live {
			continue
		}
		if seen%stride == 0 && int(out.GetCardinality()) < n {
			out.Add(uint64(o))
		}
		seen++
	}
	return out
}

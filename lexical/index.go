package lexical

import (
	"cmp"
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
	// every field (evals/README.md has the measurements behind it).
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

// term returns the position of term id among d's terms (sorted by id).
func (d *doc) term(id uint32) (int, bool) {
	return slices.BinarySearchFunc(d.terms, id, func(t termTF, id uint32) int { return cmpU32(t.term, id) })
}

// mask is the coverage bits of the query terms d holds.
func (d *doc) mask(qs []queryTerm) uint32 {
	var m uint32
	for _, q := range qs {
		if _, ok := d.term(q.id); ok {
			m |= q.bit
		}
	}
	return m
}

// liveDocs calls fn with each live document of within, in ordinal order, until fn returns
// false.
func (ix *Index) liveDocs(within *roaring64.Bitmap, fn func(o uint64, d *doc) bool) {
	it := within.Iterator()
	for it.HasNext() {
		o := it.Next()
		if o >= uint64(len(ix.docs)) {
			return
		}
		if d := &ix.docs[o]; d.live && !fn(o, d) {
			return
		}
	}
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
	gen      uint64 // moves on with every Upsert and Delete: what a search memo holds for

	scratch sync.Pool // *accumulator
	memo    *searchMemo
	holding *holdingMemo // HoldingAll's whole-index answers (memo.go)
	memoOff bool         // tests and benchmarks: every search runs
}

// New returns an empty index.
func New(cfg Config) (*Index, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Index{cfg: cfg, dict: map[string]uint32{}, bySKU: map[int64]uint32{}, memo: newSearchMemo(), holding: newHoldingMemo()}, nil
}

// Config returns the index's configuration, defaults filled in.
func (ix *Index) Config() Config { return ix.cfg }

// Len is the number of live documents.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.live
}

// Generation counts the index's changes: every Upsert and Delete that changes something moves
// it on. A result computed while it held still holds while it does.
func (ix *Index) Generation() uint64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.gen
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

	if len(prepared) == 0 {
		return errors.Join(errs...) // a follower's poll that found nothing keeps the memo
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.gen++
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
	if n > 0 {
		ix.gen++
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

// CoverageAmong returns, for the live documents of within (a few) holding a term of text,
// their coverage of it as Search reports it: the share of the query's IDF mass their terms
// hold (Hit.Coverage), read from their own terms.
func (ix *Index) CoverageAmong(text string, within *roaring64.Bitmap) map[int64]float32 {
	out := map[int64]float32{}
	terms := dedupe(Analyze(text))
	if len(terms) == 0 || within.IsEmpty() {
		return out
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	qs, totalIDF, _ := ix.queryTerms(terms)
	if len(qs) == 0 {
		return out
	}
	ix.liveDocs(within, func(o uint64, d *doc) bool {
		if m := d.mask(qs); m != 0 {
			out[int64(o)] = coverage(qs, totalIDF, m)
		}
		return true
	})
	return out
}

// CompleteAmong returns the live documents of within whose coverage of text (CoverageAmong)
// is at least min. A document missing a term that carries more than 2(1-min) of the query's
// IDF mass falls short, so it is looked for first (the rarest first), from its postings when
// within is larger than they are, else in each document's own terms; only documents holding
// every such term are scored.
func (ix *Index) CompleteAmong(text string, within *roaring64.Bitmap, min float32) *roaring64.Bitmap {
	terms := dedupe(Analyze(text))
	out := roaring64.New()
	if len(terms) == 0 || within.IsEmpty() {
		return out
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	qs, totalIDF, _ := ix.queryTerms(terms)
	if len(qs) == 0 {
		return out
	}
	var required []uint32
	if len(terms) <= 31 { // beyond, terms share coverage bits: score every document
		for _, q := range qs {
			if q.idf > 2*(1-float64(min))*totalIDF {
				required = append(required, q.id)
			}
		}
	}
	slices.SortFunc(required, func(a, b uint32) int { return len(ix.postings[a]) - len(ix.postings[b]) })
	check := func(o uint64, d *doc) bool {
		for _, id := range required {
			if _, ok := d.term(id); !ok {
				return true
			}
		}
		if m := d.mask(qs); m != 0 && coverage(qs, totalIDF, m) >= min {
			out.Add(o)
		}
		return true
	}
	if len(required) > 0 && uint64(len(ix.postings[required[0]])) < within.GetCardinality() {
		for _, p := range ix.postings[required[0]] {
			if d := &ix.docs[p.ord]; d.live && within.Contains(uint64(p.ord)) {
				check(uint64(p.ord), d)
			}
		}
		return out
	}
	ix.liveDocs(within, check)
	return out
}

// MentioningAmong is Mentioning within a set: the documents of within holding any word of any
// text. It reads each document's own terms (a binary search per word) when within is small
// next to the words' postings, so a check of a few changed SKUs does not cost the whole
// postings of a common word.
func (ix *Index) MentioningAmong(within *roaring64.Bitmap, texts ...string) *roaring64.Bitmap {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var ids []uint32
	postings := 0
	for _, text := range texts {
		for _, t := range Analyze(text) {
			if id, ok := ix.dict[t]; ok && len(ix.postings[id]) > 0 {
				ids = append(ids, id)
				postings += len(ix.postings[id])
			}
		}
	}
	out := roaring64.New()
	if len(ids) == 0 || within.IsEmpty() {
		return out
	}
	if within.GetCardinality()*uint64(len(ids)) > uint64(postings) {
		for _, id := range ids {
			for _, p := range ix.postings[id] {
				if within.Contains(uint64(p.ord)) {
					out.Add(uint64(p.ord))
				}
			}
		}
		return out
	}
	ix.liveDocs(within, func(o uint64, d *doc) bool {
		for _, id := range ids {
			if _, ok := d.term(id); ok {
				out.Add(o)
				break
			}
		}
		return true
	})
	return out
}

// HoldingAll returns the live documents of within (nil: all) that hold every term of text
// as the analyser reads it (what a hit of coverage 1 is; none when a term is unknown or the
// text has none), intersecting the terms' postings, the shortest first.
func (ix *Index) HoldingAll(text string, within *roaring64.Bitmap) *roaring64.Bitmap {
	terms := Analyze(text)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	lists := ix.termPostings(terms)
	if len(lists) == 0 {
		return roaring64.New()
	}
	if len(lists[0]) < holdingMemoFrom || ix.memoOff {
		return holdingWithin(lists, within)
	}
	// Many documents to walk: the whole index's answer, kept for its contents, within the set
	// (the same as walking the postings within it: they hold live documents only).
	key := holdingKey(terms)
	all, ok := ix.holding.Get(ix.gen, key, nil, nil)
	if !ok {
		all = holdingWithin(lists, nil)
		ix.holding.Put(ix.gen, key, nil, all)
	}
	if within == nil {
		return all.Clone()
	}
	return roaring64.And(all, within)
}

// termPostings is the terms' postings, the shortest first; none when a term has none or there
// are no terms.
func (ix *Index) termPostings(terms []string) [][]posting {
	lists := make([][]posting, 0, len(terms))
	for _, t := range terms {
		id, ok := ix.dict[t]
		if !ok || len(ix.postings[id]) == 0 {
			return nil
		}
		lists = append(lists, ix.postings[id])
	}
	slices.SortFunc(lists, func(a, b []posting) int { return len(a) - len(b) })
	return lists
}

// holdingWithin is the documents of within (nil: all) in every one of lists (postings, the
// shortest first), walking the shortest.
func holdingWithin(lists [][]posting, within *roaring64.Bitmap) *roaring64.Bitmap {
	ords := make([]uint64, 0, len(lists[0]))
	for _, p := range lists[0] {
		if within != nil && !within.Contains(uint64(p.ord)) {
			continue
		}
		all := true
		for _, l := range lists[1:] {
			if _, ok := slices.BinarySearchFunc(l, p.ord, func(q posting, o uint32) int { return cmp.Compare(q.ord, o) }); !ok {
				all = false
				break
			}
		}
		if all {
			ords = append(ords, uint64(p.ord))
		}
	}
	out := roaring64.New()
	out.AddMany(ords) // ascending: the postings are sorted by ordinal
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

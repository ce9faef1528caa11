package filter

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// benchIndex is a 1M-SKU index (1% deleted) with 1,000 brands, 4 markets, a price column and
// a tag on a third of the SKUs, built once for every benchmark that needs it.
var benchIndex = sync.OnceValue(func() *Index {
	rng := rand.New(rand.NewPCG(14, 1))
	const n = 1_000_000
	markets := []string{"SG", "MY", "TH", "ALL"}
	b := NewBuilder(n)
	hot := roaring64.New()
	for i := range n {
		r := Row{Ordinal: int64(i), ID: int64(i + 1), Live: rng.IntN(100) != 0}
		r.Cat[CatBrand] = benchBrand(int(rng.ExpFloat64() * 150))
		r.Cat[CatMarket] = markets[rng.IntN(len(markets))]
		r.Num[NumPrice] = int64(rng.ExpFloat64() * 5000)
		if r.Live && rng.IntN(3) == 0 {
			hot.Add(uint64(i))
		}
		b.Add(r)
	}
	ix := b.Index()
	ix.SetTag(TagInfo{ID: 1, Name: "hot", Kind: "rule"}, hot, nil)
	if err := ix.Prepare(); err != nil { // the range buckets, as a loaded index has them
		panic(err)
	}
	return ix
})

func benchBrand(i int) string { return fmt.Sprintf("brand%03d", i%1000) }

// widest returns the widest expression of one shape within MaxTerms terms: a one-argument
// wrapper (or, and) of k copies of part(i), each cost terms, plus one for the wrapper.
func widest(wrap func(...Expr) Expr, cost int, part func(i int) Expr) Expr {
	k := (MaxTerms - 1) / cost
	args := make([]Expr, k)
	for i := range args {
		args[i] = part(i)
	}
	return wrap(args...)
}

// BenchmarkEvalWidest evaluates the largest filters Validate allows over 1M SKUs:
//
//   - or-of-nots: not brand = b0 or not brand = b1 or ... (distinct brands)
//   - or-of-nots-same: not brand = x or not brand = x or ... (the same brand)
//   - and-of-nots: not brand = b0 and not brand = b1 and ...
//   - and-of-ors: (not brand = b0 or market = SG) and (not brand = b1 or market = SG) and ...
//   - or-of-tag-ands: (tag = hot and not brand = b0) or (tag = hot and not brand = b1) or ...
//   - ranges-or-nots: MaxRanges wide price ranges or'ed with not brand = b0 ... up to MaxTerms
//   - ranges-or-brands: the ranges or'ed with brand = b0 ... (every range over every SKU)
//   - ranges-and-nots: the ranges and'ed with not brand = b0 ...
func BenchmarkEvalWidest(b *testing.B) {
	ix := benchIndex()
	notBrand := func(i int) Expr { return Not(Attr("brand", benchBrand(i))) }
	shapes := []struct {
		name string
		e    Expr
	}{
		{"or-of-nots", widest(Or, 2, notBrand)},
		{"or-of-nots-same", widest(Or, 2, func(int) Expr { return Not(Attr("brand", "brand000")) })},
		{"and-of-nots", widest(And, 2, notBrand)},
		{"and-of-ors", widest(And, 4, func(i int) Expr { return Or(notBrand(i), Attr("market", "SG")) })},
		{"or-of-tag-ands", widest(Or, 4, func(i int) Expr { return And(Tag("hot"), notBrand(i)) })},
		{"ranges-or-nots", withRanges(Or, 2, notBrand)},
		{"ranges-or-brands", withRanges(Or, 1, func(i int) Expr { return Attr("brand", benchBrand(i)) })},
		{"ranges-and-nots", withRanges(And, 2, notBrand)},
	}
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ix.Eval(s.e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// withRanges is MaxRanges price ranges, each over about a third of the SKUs, and as many
// part(i) (each cost terms) as the rest of MaxTerms allows, under one and or or.
func withRanges(wrap func(...Expr) Expr, cost int, part func(i int) Expr) Expr {
	var args []Expr
	for i := range MaxRanges {
		args = append(args, Range("price", int64(i)*100, int64(i)*100+3000))
	}
	for i := 0; 1+MaxRanges+cost*(i+1) <= MaxTerms; i++ {
		args = append(args, part(i))
	}
	return wrap(args...)
}

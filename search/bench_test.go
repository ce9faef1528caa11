package search_test

import (
	"context"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/internal/icecat"
	"selection/lexical"
	"selection/search"
	"selection/vectorindex"
)

// BenchmarkIcecat measures each method on the Icecat catalogue (19,406 products, vectors from
// the internal/icecat disk cache) over the public queries, with and without a 10% candidate
// bitmap. Query embeddings are part of the cost (the model runs per query).
func BenchmarkIcecat(b *testing.B) {
	ctx := context.Background()
	ps := icecat.Products(b)
	emb := icecat.Embedder(b)
	vs := icecat.Vectors(b, emb)
	lex, _ := lexical.New(lexical.Config{})
	vix, _ := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Dim: emb.Dimension()})
	docs := make([]lexical.Document, len(ps))
	cand := roaring64.New()
	for i, p := range ps {
		docs[i] = lexical.Document{SKUID: p.ID, Ordinal: int64(i)}
		docs[i].Fields[lexical.FieldTitle] = p.Title
		docs[i].Fields[lexical.FieldBrand] = p.Supplier
		docs[i].Fields[lexical.FieldProductType] = p.ProductType
		docs[i].Fields[lexical.FieldDescription] = p.ShortDescription
		if err := vix.Put(int64(i), p.ID, vs[p.ID]); err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 {
			cand.Add(uint64(i))
		}
	}
	if err := lex.Upsert(docs...); err != nil {
		b.Fatal(err)
	}
	eng, err := search.New(lex, vix, emb, search.Config{})
	if err != nil {
		b.Fatal(err)
	}
	queries := icecat.Queries(b)
	for _, m := range search.Methods {
		for _, c := range []struct {
			name string
			bm   *roaring64.Bitmap
		}{{"all", nil}, {"10pct", cand}} {
			b.Run(string(m)+"/"+c.name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					q := queries[i%len(queries)]
					if _, err := eng.Search(ctx, search.Request{Text: q, K: 50, Method: m, Candidates: c.bm}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

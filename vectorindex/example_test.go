package vectorindex_test

import (
	"context"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/vectorindex"
)

// An index filled with Put (no database): the three nearest vectors to a query, then the
// nearest within a candidate bitmap of ordinals.
func ExampleIndex_Search() {
	ix, err := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Dim: 4})
	if err != nil {
		panic(err)
	}
	vecs := [][]float32{{1, 0, 0, 0}, {0.9, 0.1, 0, 0}, {0, 1, 0, 0}, {0.7, 0.7, 0, 0}, {0, 0, 1, 0}}
	for ord, v := range vecs {
		_ = ix.Put(int64(ord), 1000+int64(ord), v) // ordinal, SKU id, vector
	}
	ix.Recenter()
	ctx := context.Background()
	hits, _ := ix.Search(ctx, []float32{1, 0, 0, 0}, 3, nil)
	for _, h := range hits {
		fmt.Printf("sku %d score %.3f\n", h.SKUID, h.Score)
	}
	hits, _ = ix.Search(ctx, []float32{1, 0, 0, 0}, 1, roaring64.BitmapOf(2, 4))
	fmt.Printf("within {2, 4}: sku %d\n", hits[0].SKUID)
	// Output:
	// sku 1000 score 1.000
	// sku 1001 score 0.994
	// sku 1003 score 0.707
	// within {2, 4}: sku 1002
}

// Similar finds the neighbours of a stored vector, leaving the vector itself out.
func ExampleIndex_Similar() {
	ix, _ := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Dim: 2})
	_ = ix.Put(0, 10, []float32{1, 0})
	_ = ix.Put(1, 11, []float32{1, 0.2})
	_ = ix.Put(2, 12, []float32{0, 1})
	hits, _ := ix.Similar(context.Background(), 0, 1, nil)
	fmt.Println(hits[0].SKUID)
	// Output: 11
}

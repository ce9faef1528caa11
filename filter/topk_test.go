package filter

import (
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// TopK agrees with sorting every candidate, for both directions, many ties and any k (ties by
// ordinal: the lower first, for released the higher).
func TestTopKMatchesFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ix := NewIndex()
	var rows []Row
	for o := int64(0); o < 5000; o++ {
		r := Row{Ordinal: o, ID: o + 1_000_000_007, Live: true}
		r.Num[NumSales7d] = int64(rng.IntN(50)) * int64(rng.IntN(3)) // many zeros and ties
		r.Num[NumPrice] = int64(rng.IntN(100000))
		r.Num[NumReleased] = int64(rng.IntN(4)) * 7000 // 0 (unknown) and three days, many ties
		rows = append(rows, r)
	}
	ix.Upsert(rows)
	within := roaring64.New()
	for o := uint64(0); o < 5000; o += uint64(1 + rng.IntN(3)) {
		within.Add(o)
	}
	for _, field := range []string{"sales_7d", "price", "released"} {
		for _, desc := range []bool{true, false} {
			for _, k := range []int{1, 7, 100, 1000, 4999, 6000} {
				col := map[string]int{"sales_7d": NumSales7d, "price": NumPrice, "released": NumReleased}[field]
				var all []int64
				it := within.Iterator()
				for it.HasNext() {
					all = append(all, int64(it.Next()))
				}
				sort.SliceStable(all, func(a, b int) bool {
					va, vb := rows[all[a]].Num[col], rows[all[b]].Num[col]
					if va != vb {
						return (va > vb) == desc
					}
					return (all[a] < all[b]) != (field == "released")
				})
				want := all[:min(k, len(all))]
				got, vals, err := ix.TopK(field, k, within, desc)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("%s desc=%v k=%d: %d results, want %d", field, desc, k, len(got), len(want))
				}
				for i := range want {
					if got[i] != want[i] || vals[i] != rows[want[i]].Num[col] {
						t.Fatalf("%s desc=%v k=%d: at %d got ordinal %d (%d), want %d", field, desc, k, i, got[i], vals[i], want[i])
					}
				}
			}
		}
	}
}

// NumericSum is the sum NumericValues gives, negative values, repeated and unknown ordinals
// included.
func TestNumericSumMatchesValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ix := NewIndex()
	var rows []Row
	for o := int64(0); o < 3000; o++ {
		r := Row{Ordinal: o, ID: o + 1, Live: true}
		r.Num[NumSales24h] = int64(rng.IntN(1000))
		r.Num[NumGMV24h] = int64(rng.IntN(1_000_000_000)) - 300_000_000
		rows = append(rows, r)
	}
	ix.Upsert(rows)
	for _, n := range []int{0, 1, 7, 500, 2999} {
		ords := make([]int64, n)
		for i := range ords {
			ords[i] = int64(rng.IntN(3000))
		}
		ords = append(ords, 99_999) // no such SKU
		seen := map[int64]bool{}
		var uniq []int64
		for _, o := range ords {
			if !seen[o] {
				seen[o] = true
				uniq = append(uniq, o)
			}
		}
		for _, field := range []string{"sales_24h", "gmv_24h"} {
			vals, err := ix.NumericValues(field, uniq)
			if err != nil {
				t.Fatal(err)
			}
			var want int64
			for _, v := range vals {
				want += v
			}
			got, err := ix.NumericSum(field, uniq)
			if err != nil || got != want {
				t.Fatalf("%s over %d ordinals: %d (%v), want %d", field, len(uniq), got, err, want)
			}
		}
	}
	if _, err := ix.NumericSum("brand", nil); err == nil {
		t.Fatal("a categorical field has no sum")
	}
}

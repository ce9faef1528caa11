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

// NumericSum is the sum of the values the rows gave, negative values, repeated and unknown
// ordinals included, and stays so as values change, are cleared and new SKUs arrive after its
// first use.
func TestNumericSumMatchesValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ix := NewIndex()
	want := map[string]map[int64]int64{"sales_24h": {}, "gmv_24h": {}}
	upsert := func(from, to int64) {
		var rows []Row
		for o := from; o < to; o++ {
			r := Row{Ordinal: o, ID: o + 1, Live: from == 0 || rng.IntN(10) > 0} // not live: deleted, no values
			r.Num[NumSales24h] = int64(rng.IntN(1000))
			r.Num[NumGMV24h] = int64(rng.IntN(1_000_000_000)) - 300_000_000
			for field, n := range map[string]int{"sales_24h": NumSales24h, "gmv_24h": NumGMV24h} {
				want[field][o] = r.Num[n]
				if !r.Live {
					delete(want[field], o)
				}
			}
			rows = append(rows, r)
		}
		ix.Upsert(rows)
	}
	check := func(n int) {
		t.Helper()
		ords := make([]int64, n)
		for i := range ords {
			ords[i] = int64(rng.IntN(3500))
		}
		ords = append(ords, 99_999, -1) // no such SKU
		if n > 0 {
			ords = append(ords, ords[0]) // named twice
		}
		for field, vals := range want {
			var sum int64
			for _, o := range ords {
				sum += vals[o]
			}
			got, err := ix.NumericSum(field, ords)
			if err != nil || got != sum {
				t.Fatalf("%s over %d ordinals: %d (%v), want %d", field, len(ords), got, err, sum)
			}
		}
	}
	upsert(0, 3000)
	for _, n := range []int{0, 1, 7, 500, 2999} {
		check(n)
	}
	upsert(1000, 3500) // changed values, cleared ones and new SKUs, after the first sum
	for _, n := range []int{1, 500, 3499} {
		check(n)
	}
	if _, err := ix.NumericSum("brand", nil); err == nil {
		t.Fatal("a categorical field has no sum")
	}
}

package lexical

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"
)

func mkdoc(id, ord int64, title, brand, desc string) Document {
	d := Document{SKUID: id, Ordinal: ord}
	d.Fields[FieldTitle], d.Fields[FieldBrand], d.Fields[FieldDescription] = title, brand, desc
	return d
}

func ids(hs []Hit) []int64 {
	out := make([]int64, len(hs))
	for i, h := range hs {
		out[i] = h.SKUID
	}
	return out
}

func newIndex(t testing.TB, docs ...Document) *Index {
	t.Helper()
	ix, err := New(Config{})
	require.NoError(t, err)
	require.NoError(t, ix.Upsert(docs...))
	return ix
}

func TestSearchRanksByBM25(t *testing.T) {
	ctx := context.Background()
	ix := newIndex(t,
		mkdoc(100, 0, "Logitech G502 gaming mouse", "Logitech", "wired gaming mouse, 25k DPI"),
		mkdoc(101, 1, "Logitech M185 wireless mouse", "Logitech", "compact wireless mouse"),
		mkdoc(102, 2, "HyperX gaming mouse pad", "HyperX", "large cloth mouse pad for gaming"),
		mkdoc(103, 3, "Dell laptop bag", "Dell", "15 inch laptop bag"),
		mkdoc(104, 4, "Corsair K70 gaming keyboard", "Corsair", "mechanical keyboard"),
	)
	require.Equal(t, 5, ix.Len())

	r, err := ix.Search(ctx, "Gaming Mice", 10, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"game", "mous"}, r.Terms)
	// "mice" is the plural of "mouse": both words match, and the gaming mouse holds both.
	require.Equal(t, 2, r.Known)
	require.Equal(t, int64(100), r.Hits[0].SKUID)
	require.ElementsMatch(t, []int64{100, 101, 102, 104}, ids(r.Hits))

	r, err = ix.Search(ctx, "wireless mouse", 10, nil)
	require.NoError(t, err)
	require.Equal(t, int64(101), r.Hits[0].SKUID, "the product matching both words wins")
	require.InDelta(t, 1.0, r.Hits[0].Coverage, 1e-6)
	require.Less(t, r.Hits[1].Coverage, float32(1))
	for i := 1; i < len(r.Hits); i++ {
		require.GreaterOrEqual(t, r.Hits[i-1].Score, r.Hits[i].Score)
	}

	r, err = ix.Search(ctx, "netflix", 10, nil)
	require.NoError(t, err)
	require.Empty(t, r.Hits)
	require.Equal(t, 0, r.Known)

	r, err = ix.Search(ctx, "the of and", 10, nil)
	require.NoError(t, err)
	require.Empty(t, r.Terms)
	require.Empty(t, r.Hits)

	// k bounds the hits.
	r, err = ix.Search(ctx, "mouse", 2, nil)
	require.NoError(t, err)
	require.Len(t, r.Hits, 2)
	require.Equal(t, 3, r.Matched)
}

func TestUpsertReplacesAndDeleteRemoves(t *testing.T) {
	ctx := context.Background()
	ix := newIndex(t, mkdoc(1, 0, "red apple", "", ""), mkdoc(2, 1, "green apple", "", ""))
	r, _ := ix.Search(ctx, "red", 10, nil)
	require.Equal(t, []int64{1}, ids(r.Hits))

	require.NoError(t, ix.Upsert(mkdoc(1, 0, "yellow banana", "", "")))
	r, _ = ix.Search(ctx, "red", 10, nil)
	require.Empty(t, r.Hits)
	r, _ = ix.Search(ctx, "banana", 10, nil)
	require.Equal(t, []int64{1}, ids(r.Hits))
	require.Equal(t, 2, ix.Len())

	require.Equal(t, 1, ix.Delete(2, 99))
	require.False(t, ix.Contains(2))
	r, _ = ix.Search(ctx, "apple", 10, nil)
	require.Empty(t, r.Hits)
	require.Equal(t, 1, ix.Len())

	// Re-adding a deleted SKU under its ordinal works; another SKU may not take a live ordinal,
	// and a SKU keeps its ordinal.
	require.NoError(t, ix.Upsert(mkdoc(2, 1, "green apple", "", "")))
	err := ix.Upsert(mkdoc(3, 1, "blue", "", ""), mkdoc(1, 5, "moved", "", ""), mkdoc(4, -1, "bad", "", ""), mkdoc(5, 2, "fine", "", ""))
	require.Error(t, err)
	require.Contains(t, err.Error(), "ordinal 1 belongs to sku 2")
	require.Contains(t, err.Error(), "sku 1 is indexed under ordinal 0")
	require.ErrorIs(t, err, ErrOrdinal)
	require.True(t, ix.Contains(5), "the good document of the batch is indexed")
	require.Equal(t, 3, ix.Len())
}

// Restricting to candidates gives the same scores as an unrestricted search filtered
// afterwards, on both scoring paths (through the postings and through the forward index).
func TestCandidatesMatchFilteredSearch(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"usb", "cable", "hdmi", "mouse", "wireless", "gaming", "keyboard", "laptop", "bag", "black", "red", "stand"}
	var docs []Document
	for i := 0; i < 3000; i++ {
		title := ""
		for j := 0; j < 2+rng.IntN(6); j++ {
			title += words[rng.IntN(len(words))] + " "
		}
		docs = append(docs, mkdoc(int64(1000+i), int64(i), title, "", ""))
	}
	ix := newIndex(t, docs...)
	for _, size := range []int{5, 50, 2000} {
		cand := roaring64.New()
		for cand.GetCardinality() < uint64(size) {
			cand.Add(uint64(rng.IntN(len(docs) + 100))) // some ordinals beyond the index
		}
		for _, q := range []string{"wireless gaming mouse", "usb cable", "red"} {
			all, err := ix.Search(ctx, q, len(docs), nil)
			require.NoError(t, err)
			var want []Hit
			for _, h := range all.Hits {
				if cand.Contains(uint64(h.Ordinal)) {
					want = append(want, h)
				}
			}
			got, err := ix.Search(ctx, q, len(docs), cand)
			require.NoError(t, err)
			require.Equal(t, len(want), len(got.Hits), "size %d query %q", size, q)
			for i := range want {
				require.Equal(t, want[i].Ordinal, got.Hits[i].Ordinal)
				require.InDelta(t, want[i].Score, got.Hits[i].Score, 1e-4)
				require.Equal(t, want[i].Coverage, got.Hits[i].Coverage)
			}
		}
	}
}

func TestSearchHonoursContext(t *testing.T) {
	ix := newIndex(t, mkdoc(1, 0, "a b c", "", ""))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ix.Search(ctx, "a", 10, nil)
	require.ErrorIs(t, err, context.Canceled)
}

// cancelledAfter is a context whose Err reports cancellation from its n+1st call on: a search
// that checks its context while scoring gives up midway.
type cancelledAfter struct {
	context.Context
	n int
}

func (c *cancelledAfter) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

// TestCancelledSearchLeavesNoScores: a search given up midway (after scoring its first term)
// must not leave its partial scores to the next search, which reuses the accumulator.
func TestCancelledSearchLeavesNoScores(t *testing.T) {
	ix := newIndex(t,
		mkdoc(100, 0, "gaming mouse", "", ""),
		mkdoc(101, 1, "gaming keyboard", "", ""),
		mkdoc(102, 2, "laser printer", "", ""),
	)
	_, err := ix.Search(&cancelledAfter{Context: context.Background(), n: 1}, "gaming mouse", 10, nil)
	require.ErrorIs(t, err, context.Canceled)
	res, err := ix.Search(context.Background(), "printer", 10, nil)
	require.NoError(t, err)
	require.Equal(t, []int64{102}, ids(res.Hits))
	require.Equal(t, 1, res.Matched)
}

func TestConfigValidation(t *testing.T) {
	_, err := New(Config{K1: -1})
	require.Error(t, err)
	_, err = New(Config{B: 2})
	require.Error(t, err)
	_, err = New(Config{Weights: [NumFields]float64{1, -1}})
	require.Error(t, err)
	ix, err := New(Config{})
	require.NoError(t, err)
	require.Equal(t, 1.2, ix.Config().K1)
	require.Equal(t, DefaultWeights, ix.Config().Weights)
}

func BenchmarkSearch(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	vocab := make([]string, 5000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("w%d", i)
	}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(5, 6)), 1.1, 1, uint64(len(vocab)-1))
	const n = 200_000
	docs := make([]Document, n)
	for i := range docs {
		t := ""
		for j := 0; j < 12; j++ {
			t += vocab[zipf.Uint64()] + " "
		}
		docs[i] = mkdoc(int64(i+1), int64(i), t, "", "")
	}
	ix := newIndex(b, docs...)
	ix.memoOff = true // each search runs (the memo would answer the repeats)
	ctx := context.Background()
	cand := roaring64.New()
	for i := 0; i < n/100; i++ {
		cand.Add(uint64(rng.IntN(n)))
	}
	for _, c := range []struct {
		name string
		bm   *roaring64.Bitmap
	}{{"all", nil}, {"1pct", cand}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := ix.Search(ctx, "w1 w20 w300", 50, c.bm); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestMentioningAndSample(t *testing.T) {
	ix := newIndex(t, mkdoc(1, 0, "Refurbished laptop", "", ""), mkdoc(2, 1, "new laptop", "", ""), mkdoc(3, 2, "mouse", "", "refurbish kit"))
	require.Equal(t, []uint64{0, 2}, ix.Mentioning("refurbished").ToArray())
	require.Equal(t, []uint64{0, 1, 2}, ix.Mentioning("laptops", "mouse").ToArray())
	require.True(t, ix.Mentioning("netflix").IsEmpty())
	require.Equal(t, uint64(3), ix.Sample(10).GetCardinality())
	require.Equal(t, uint64(1), ix.Sample(1).GetCardinality())
	ix.Delete(1)
	require.Equal(t, []uint64{1, 2}, ix.Sample(10).ToArray())
}

// HoldingAll is the set of documents a search gives coverage 1: every analysed term of the
// text, within a set; none for an unknown term or a text without terms.
func TestHoldingAllIsCompleteCoverage(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 8))
	words := []string{"usb", "cable", "hdmi", "mouse", "gaming", "wireless", "black", "adapter"}
	var docs []Document
	for o := int64(0); o < 400; o++ {
		title := ""
		for range 1 + rng.IntN(4) {
			title += words[rng.IntN(len(words))] + " "
		}
		docs = append(docs, mkdoc(1000+o, o, title, "Brand", ""))
	}
	ix := newIndex(t, docs...)
	within := roaring64.New()
	for o := uint64(0); o < 400; o += 3 {
		within.Add(o)
	}
	for _, q := range []string{"usb cable", "Gaming Mice", "wireless black adapter", "hdmi"} {
		for _, w := range []*roaring64.Bitmap{nil, within} {
			r, err := ix.Search(ctx, q, 1000, w)
			require.NoError(t, err)
			want := roaring64.New()
			for _, h := range r.Hits {
				if h.Coverage >= 0.999 {
					want.Add(uint64(h.Ordinal))
				}
			}
			got := ix.HoldingAll(q, w)
			require.True(t, want.Equals(got), "%q: %v, want %v", q, got.ToArray(), want.ToArray())
			require.False(t, got.IsEmpty(), q)
		}
	}
	require.True(t, ix.HoldingAll("usb zebra", nil).IsEmpty(), "an unknown term: nothing holds it")
	require.True(t, ix.HoldingAll("the and", nil).IsEmpty(), "no term")
}

// MentioningAmong is Mentioning within a set, whether it reads the few documents' own terms
// or, for a set large next to the words' postings, the postings; deleted documents are not in
// it.
func TestMentioningAmongIsMentioningWithin(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	words := []string{"usb", "cable", "hdmi", "mouse", "gaming", "wireless", "black", "adapter"}
	var docs []Document
	for o := int64(0); o < 600; o++ {
		title := ""
		for range 1 + rng.IntN(3) {
			title += words[rng.IntN(len(words))] + " "
		}
		docs = append(docs, mkdoc(1000+o, o, title, "Brand", ""))
	}
	ix := newIndex(t, docs...)
	require.Equal(t, 1, ix.Delete(1004)) // ordinal 4
	small, large := roaring64.BitmapOf(1, 2, 3, 4, 5, 77, 599, 1000), roaring64.New()
	large.AddRange(0, 600)
	for _, q := range [][]string{{"cable"}, {"Gaming", "Mice"}, {"hdmi adapter", "black"}, {"zebra"}, {}} {
		for _, w := range []*roaring64.Bitmap{small, large, roaring64.New()} {
			want := roaring64.And(ix.Mentioning(q...), w)
			got := ix.MentioningAmong(w, q...)
			require.True(t, want.Equals(got), "%q within %d: %v, want %v", q, w.GetCardinality(), got.ToArray(), want.ToArray())
			require.False(t, got.Contains(4), "deleted")
		}
	}
	require.False(t, ix.MentioningAmong(large, "cable").IsEmpty())
	require.False(t, ix.MentioningAmong(small, "usb", "cable", "hdmi", "mouse").IsEmpty())
}

// CoverageAmong is the coverage Search reports for each document holding a query term, and
// leaves out the others and deleted documents.
func TestCoverageAmongIsSearchCoverage(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, 12))
	words := []string{"usb", "cable", "hdmi", "mouse", "gaming", "wireless", "black", "adapter", "the"}
	var docs []Document
	for o := int64(0); o < 400; o++ {
		title := "the "
		for range 1 + rng.IntN(4) {
			title += words[rng.IntN(len(words))] + " "
		}
		docs = append(docs, mkdoc(1000+o, o, title, "Brand", ""))
	}
	ix := newIndex(t, docs...)
	require.Equal(t, 1, ix.Delete(1004)) // ordinal 4
	all := roaring64.New()
	all.AddRange(0, 400)
	for _, q := range []string{"cable", "Gaming Mice", "hdmi adapter black", "the usb cable", "zebra usb", "zebra", ""} {
		res, err := ix.Search(ctx, q, 1000, nil)
		require.NoError(t, err)
		want := map[int64]float32{}
		for _, h := range res.Hits {
			want[h.Ordinal] = h.Coverage
		}
		require.Equal(t, want, ix.CoverageAmong(q, all), "%q", q)
		got := ix.CoverageAmong(q, roaring64.BitmapOf(1, 4, 9))
		for o, c := range got {
			require.Equal(t, want[o], c, "%q: ordinal %d", q, o)
		}
		require.NotContains(t, got, int64(4), "deleted")
	}
}

// CompleteAmong is CoverageAmong at or above the bar, whether it walks postings or documents.
func TestCompleteAmongIsCoverageAtLeast(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	words := []string{"usb", "cable", "hdmi", "mouse", "gaming", "wireless", "black", "adapter", "the"}
	var docs []Document
	for o := int64(0); o < 500; o++ {
		title := "the "
		for range 1 + rng.IntN(5) {
			title += words[rng.IntN(len(words))] + " "
		}
		docs = append(docs, mkdoc(1000+o, o, title, "Brand", ""))
	}
	ix := newIndex(t, docs...)
	require.Equal(t, 1, ix.Delete(1004))
	large := roaring64.New()
	large.AddRange(0, 500)
	for _, q := range []string{"cable", "gaming mouse", "hdmi adapter black", "the usb cable", "zebra usb", "the", ""} {
		for _, within := range []*roaring64.Bitmap{large, roaring64.BitmapOf(1, 4, 9, 33, 250), roaring64.New()} {
			for _, bar := range []float32{0.999, 0.6, 0.2} {
				want := roaring64.New()
				for o, c := range ix.CoverageAmong(q, within) {
					if c >= bar {
						want.Add(uint64(o))
					}
				}
				got := ix.CompleteAmong(q, within, bar)
				require.True(t, want.Equals(got), "%q within %d at %v: %v, want %v", q, within.GetCardinality(), bar, got.ToArray(), want.ToArray())
			}
		}
	}
	require.False(t, ix.CompleteAmong("gaming mouse", large, 0.999).IsEmpty())
}

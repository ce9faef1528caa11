package search_test

import (
	"context"
	"math"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"

	"selection/embed"
	"selection/lexical"
	"selection/search"
	"selection/vectorindex"
)

// products is a small catalogue: ordinal = index, SKU id = 1000 + index.
var products = []struct{ title, brand, desc string }{
	{"Logitech G502 HERO gaming mouse USB 25600 DPI", "Logitech", "Wired gaming mouse with adjustable weights"},
	{"Logitech M185 wireless mouse grey", "Logitech", "Compact wireless mouse with USB receiver"},
	{"Razer DeathAdder V2 gaming mouse", "Razer", "Ergonomic wired gaming mouse"},
	{"HyperX FURY S gaming mouse pad XL", "HyperX", "Cloth mouse pad for gaming"},
	{"Corsair K70 RGB gaming keyboard", "Corsair", "Mechanical keyboard, Cherry MX switches"},
	{"Microsoft Wired Keyboard 600", "Microsoft", "Full-size keyboard"},
	{"Targus 15.6 inch laptop backpack black", "Targus", "Notebook backpack with padded compartment"},
	{"Dell Essential laptop bag 15", "Dell", "Notebook carrying case"},
	{"HP EliteBook 840 G5 notebook 14 inch Intel Core i5", "HP", "Business laptop"},
	{"Lenovo IdeaPad 3 notebook 15.6 inch AMD Ryzen 5", "Lenovo", "Everyday laptop"},
	{"StarTech.com HDMI cable 2 m", "StarTech.com", "High speed HDMI cable, male to male"},
	{"Belkin USB-C to HDMI adapter", "Belkin", "Video adapter for laptops"},
	{"SanDisk Ultra 64GB microSDXC memory card", "SanDisk", "Micro SD card with adapter, class 10"},
	{"Kingston DataTraveler 32GB USB flash drive", "Kingston", "USB stick, USB 3.0"},
	{"Samsung 860 EVO 500GB SSD 2.5 inch SATA", "Samsung", "Solid state drive"},
	{"Seagate Expansion 2TB external hard drive", "Seagate", "Portable USB 3.0 hard drive"},
	{"Sony WH-1000XM3 wireless headphones", "Sony", "Noise cancelling Bluetooth headphones"},
	{"JBL Flip 5 portable Bluetooth speaker", "JBL", "Waterproof speaker"},
	{"Philips Senseo coffee pod machine", "Philips", "Coffee maker for pads"},
	{"Canon EOS 2000D digital camera", "Canon", "DSLR camera with 18-55 mm lens"},
	{"Case Logic camera bag", "Case Logic", "Compact bag for cameras"},
	{"Brother HL-L2350DW laser printer", "Brother", "Mono laser printer, wireless"},
	{"Brother TN-2420 toner cartridge black", "Brother", "Toner for laser printers"},
	{"Casio FX-991EX scientific calculator", "Casio", "Calculator with 552 functions"},
}

var (
	embOnce sync.Once
	emb     embed.Embedder
	embErr  error
	vecs    [][]float32
)

func embedder(t testing.TB) (embed.Embedder, [][]float32) {
	t.Helper()
	embOnce.Do(func() {
		emb, embErr = embed.New(context.Background(), embed.Config{})
		if embErr != nil {
			return
		}
		texts := make([]string, len(products))
		for i, p := range products {
			texts[i] = p.title + ". " + p.desc
		}
		vecs, embErr = emb.EmbedDocuments(context.Background(), texts)
	})
	require.NoError(t, embErr)
	return emb, vecs
}

// newEngine indexes the products; those in noVector get no vector (not embedded yet).
func newEngine(t testing.TB, cfg search.Config, noVector ...int) *search.Searcher {
	t.Helper()
	e, _ := embedder(t)
	lex, vix := newIndexes(t, noVector...)
	eng, err := search.New(lex, vix, e, cfg)
	require.NoError(t, err)
	return eng
}

// newIndexes returns a lexical and a vector index holding the products (the vector index thus
// loaded); those in noVector get no vector.
func newIndexes(t testing.TB, noVector ...int) (*lexical.Index, *vectorindex.Index) {
	t.Helper()
	e, vs := embedder(t)
	lex, err := lexical.New(lexical.Config{})
	require.NoError(t, err)
	vix, err := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Dim: e.Dimension()})
	require.NoError(t, err)
	skip := map[int]bool{}
	for _, i := range noVector {
		skip[i] = true
	}
	for i, p := range products {
		d := lexical.Document{SKUID: int64(1000 + i), Ordinal: int64(i)}
		d.Fields[lexical.FieldTitle], d.Fields[lexical.FieldBrand], d.Fields[lexical.FieldDescription] = p.title, p.brand, p.desc
		require.NoError(t, lex.Upsert(d))
		if !skip[i] {
			require.NoError(t, vix.Put(int64(i), int64(1000+i), vs[i]))
		}
	}
	return lex, vix
}

func skus(hs []search.Hit) []int64 {
	out := make([]int64, len(hs))
	for i, h := range hs {
		out[i] = h.SKUID
	}
	return out
}

func TestMethods(t *testing.T) {
	ctx := context.Background()
	eng := newEngine(t, search.Config{})
	for _, m := range search.Methods {
		res, err := eng.Search(ctx, search.Request{Text: "wireless mouse", K: 5, Method: m})
		require.NoError(t, err, m)
		require.Equal(t, m, res.Method)
		require.NotEmpty(t, res.Hits, m)
		require.LessOrEqual(t, len(res.Hits), 5)
		for i := 1; i < len(res.Hits); i++ {
			require.GreaterOrEqual(t, res.Hits[i-1].Score, res.Hits[i].Score, m)
		}
		for _, h := range res.Hits {
			require.NotEmpty(t, h.Why)
		}
	}
	res, err := eng.Search(ctx, search.Request{Text: "wireless mouse"})
	require.NoError(t, err)
	require.Equal(t, search.Default, res.Method)
	require.Equal(t, int64(1001), res.Hits[0].SKUID, "the product holding both words first")
	require.Equal(t, float32(1), res.Confidence)
	require.False(t, res.Truncated)
	require.False(t, math.IsNaN(float64(res.Hits[0].Semantic)))
	require.Greater(t, res.Hits[0].Lexical, float32(0.9))

	_, err = eng.Search(ctx, search.Request{Text: "  "})
	require.ErrorIs(t, err, search.ErrEmptyQuery)
	_, err = eng.Search(ctx, search.Request{Text: "x", Method: "fancy"})
	require.Error(t, err)
}

func TestCandidatesRestrictEveryMethod(t *testing.T) {
	ctx := context.Background()
	eng := newEngine(t, search.Config{})
	cand := roaring64.BitmapOf(2, 3, 4, 16, 17)
	for _, m := range search.Methods {
		res, err := eng.Search(ctx, search.Request{Text: "gaming mouse", K: 10, Method: m, Candidates: cand})
		require.NoError(t, err)
		for _, h := range res.Hits {
			require.True(t, cand.Contains(uint64(h.Ordinal)), "%s returned ordinal %d", m, h.Ordinal)
		}
	}
	res, err := eng.Search(ctx, search.Request{Text: "gaming mouse", K: 10, Candidates: cand})
	require.NoError(t, err)
	require.Equal(t, int64(1002), res.Hits[0].SKUID)
}

// A query none of whose words the catalogue holds gets confidence 0 and at most the products
// the embedding finds more similar than chance; a query no product fully matches keeps only
// semantically supported partial matches and says it cut.
func TestLowConfidence(t *testing.T) {
	ctx := context.Background()
	eng := newEngine(t, search.Config{})
	res, err := eng.Search(ctx, search.Request{Text: "netflix subscription", K: 20})
	require.NoError(t, err)
	require.Zero(t, res.Confidence)
	require.Less(t, len(res.Hits), 5)
	for _, h := range res.Hits {
		require.Zero(t, h.Lexical)
		require.Contains(t, h.Why, "no query word")
	}

	res, err = eng.Search(ctx, search.Request{Text: "black coffee mouse keyboard", K: 20})
	require.NoError(t, err)
	require.Less(t, res.Confidence, float32(1))
	require.Greater(t, res.Confidence, float32(0))
	lex, err := eng.Search(ctx, search.Request{Text: "black coffee mouse keyboard", K: 20, Method: search.Lexical})
	require.NoError(t, err)
	require.Less(t, len(res.Hits), len(lex.Hits), "partial matches without semantic support are cut")
	require.True(t, res.Truncated)
}

func TestProductsWithoutVectorsStillRank(t *testing.T) {
	ctx := context.Background()
	eng := newEngine(t, search.Config{}, 23) // the calculator has no vector yet
	res, err := eng.Search(ctx, search.Request{Text: "scientific calculator", K: 5})
	require.NoError(t, err)
	require.Equal(t, int64(1023), res.Hits[0].SKUID)
	require.True(t, math.IsNaN(float64(res.Hits[0].Semantic)))
}

func TestLexicalOnlyEngine(t *testing.T) {
	lex, err := lexical.New(lexical.Config{})
	require.NoError(t, err)
	d := lexical.Document{SKUID: 1, Ordinal: 0}
	d.Fields[lexical.FieldTitle] = "usb stick"
	require.NoError(t, lex.Upsert(d))
	eng, err := search.New(lex, nil, nil, search.Config{})
	require.NoError(t, err)
	res, err := eng.Search(context.Background(), search.Request{Text: "usb"})
	require.NoError(t, err)
	require.Equal(t, search.Lexical, res.Method, "without vectors the default answers lexically")
	require.Equal(t, []int64{1}, skus(res.Hits))
	_, err = eng.Search(context.Background(), search.Request{Text: "usb", Method: search.Semantic})
	require.Error(t, err)
	_, err = search.New(nil, nil, nil, search.Config{})
	require.Error(t, err)
}

func TestConfig(t *testing.T) {
	c := search.Config{}.WithDefaults()
	require.Equal(t, 0.5, c.CoverageWeight)
	require.Equal(t, 0.2, c.QueryWeight)
	require.Equal(t, 0.5, c.FeedbackWeight)
	require.Equal(t, 20, c.FeedbackDocs)
	require.Equal(t, 50, c.RerankDepth)
	lex, _ := lexical.New(lexical.Config{})
	_, err := search.New(lex, nil, nil, search.Config{QueryWeight: math.NaN()})
	require.Error(t, err)
	_, err = search.New(lex, nil, nil, search.Config{CoverageWeight: 2})
	require.Error(t, err)
	for in, want := range map[string]search.Method{"": search.Default, "default": search.Default, "Hybrid": search.Default,
		"lexical": search.Lexical, " semantic ": search.Semantic} {
		m, err := search.ParseMethod(in)
		require.NoError(t, err)
		require.Equal(t, want, m)
	}
	_, err = search.ParseMethod("bm25")
	require.Error(t, err)
}

func TestRetrieverAdapter(t *testing.T) {
	eng := newEngine(t, search.Config{})
	r := search.Retriever{Searcher: eng}
	got, err := r.Retrieve(context.Background(), "laser printer", nil, 3)
	require.NoError(t, err)
	require.Equal(t, "hybrid", got.Method)
	require.Equal(t, int64(21), got.Hits[0].Ordinal)
	require.NotEmpty(t, got.Hits[0].Why)
	require.Equal(t, []uint64{21, 22}, r.Mentioning([]string{"toner", "Brother"}).ToArray())

	// HoldingAll is the hits a retrieval marks Complete, without ranking them.
	for _, q := range []string{"gaming mouse", "laptop", "usb", "laser printer toner"} {
		got, err := r.Retrieve(context.Background(), q, nil, len(products))
		require.NoError(t, err)
		want := roaring64.New()
		for _, h := range got.Hits {
			if h.Complete {
				want.Add(uint64(h.Ordinal))
			}
		}
		require.Equal(t, want.ToArray(), r.HoldingAll(q, nil).ToArray(), q)
	}
}

// Searches run concurrently with index updates (the service serves requests while the
// followers apply changes); run with -race. As in the service, which loads the vector index
// before it serves (an index never loaded answers vectorindex.ErrNotLoaded), the catalogue is
// indexed first; the updates then replace, delete and re-add products under the searches.
func TestConcurrentSearchAndUpdates(t *testing.T) {
	ctx := context.Background()
	e, vs := embedder(t)
	lex, vix := newIndexes(t)
	eng, err := search.New(lex, vix, e, search.Config{})
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for round := 0; round < 3; round++ {
			for i, p := range products {
				d := lexical.Document{SKUID: int64(1000 + i), Ordinal: int64(i)}
				d.Fields[lexical.FieldTitle] = p.title
				if err := lex.Upsert(d); err != nil {
					t.Error(err)
				}
				if err := vix.Put(int64(i), int64(1000+i), vs[i]); err != nil {
					t.Error(err)
				}
			}
			lex.Delete(1005, 1006)
			vix.Remove(5)
			vix.Remove(6)
		}
	}()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				for _, m := range search.Methods {
					if _, err := eng.Search(ctx, search.Request{Text: "gaming mouse", K: 5, Method: m}); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
}

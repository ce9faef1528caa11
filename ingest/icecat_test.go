package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/catalog"
)

func readAll(t *testing.T, path string) ([]IcecatProduct, error) {
	t.Helper()
	var got []IcecatProduct
	err := ReadIcecat(context.Background(), path, func(p IcecatProduct) error {
		got = append(got, p)
		return nil
	})
	return got, err
}

func TestReadIcecatSample(t *testing.T) {
	for _, path := range []string{"testdata/icecat_sample.json", "testdata/icecat_sample.json.zip"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got, err := readAll(t, path)
			var bad ProductErrors
			require.ErrorAs(t, err, &bad)
			require.Len(t, bad, 3, "three broken products in the sample")
			require.Equal(t, []int{2, 5, 7}, []int{bad[0].Index, bad[1].Index, bad[2].Index})
			require.Equal(t, "12x", bad[0].ID)
			require.Contains(t, bad[1].Error(), "price")
			require.Contains(t, bad[2].Error(), "no title")

			require.Len(t, got, 5, "every good product is read despite the bad ones")
			ids := make([]int64, len(got))
			for i, p := range got {
				ids[i] = p.ID
			}
			require.Equal(t, []int64{3920564, 2101957, 77190560, 4017277, 3934277}, ids)

			p := got[0]
			require.Equal(t, "006R90321", p.Name)
			require.Equal(t, "Xerox 006R90321 toner cartridge Original Black 6 pc(s)", p.Title)
			require.Equal(t, []string{"0095205603217"}, p.EAN)
			require.Equal(t, "Xerox", p.Supplier)
			require.Equal(t, int64(4995), p.Price)
			require.Equal(t, time.Date(2009, 12, 10, 0, 0, 0, 0, time.UTC), *p.DateReleased)
			require.Equal(t, "Toner (6 Per Box) for CopyCentre C65 Digital Copier", p.ShortDescription)
			require.JSONEq(t, `"Original"`, string(p.Attributes["attr_t_type"]))
			require.JSONEq(t, `6.0`, string(p.Attributes["attr_n_quantity_per_pack"]))
			require.Empty(t, p.ProductType)
			require.Equal(t, "Notebook", got[1].ProductType)
			require.NotContains(t, got[1].Attributes, "img_high")
		})
	}
}

func TestReadIcecatStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := ReadIcecat(context.Background(), "testdata/icecat_sample.json", func(IcecatProduct) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 2, n)
}

func TestDecodeIcecatBrokenJSON(t *testing.T) {
	for name, in := range map[string]string{
		"not an array": `{"id":"1"}`,
		"truncated":    `[{"id":"1","title":"a","price":1},{"id":"2"`,
		"empty":        ``,
	} {
		t.Run(name, func(t *testing.T) {
			err := DecodeIcecat(context.Background(), "x", strings.NewReader(in), func(IcecatProduct) error { return nil }, func(*ProductError) {})
			require.Error(t, err)
		})
	}
}

// icecatDir is the full catalogue: the project's copy, or the shared one.
func icecatDir(t testing.TB) string {
	for _, d := range []string{"../evals/testdata/icecat", "/work/shared/data/icecat"} {
		if files, err := IcecatFiles(d); err == nil && len(files) == 4 {
			return d
		}
	}
	t.Skip("the Icecat catalogue is not available")
	return ""
}

func TestReadIcecatDirFull(t *testing.T) {
	dir := icecatDir(t)
	seen := map[int64]bool{}
	types, markets := 0, map[string]int{}
	err := ReadIcecatDir(context.Background(), dir, func(p IcecatProduct) error {
		if seen[p.ID] {
			return fmt.Errorf("duplicate id %d", p.ID)
		}
		seen[p.ID] = true
		if p.ProductType != "" {
			types++
		}
		markets[p.Facts().Market]++
		return nil
	})
	require.NoError(t, err)
	require.Len(t, seen, 19406)
	require.Equal(t, 1532, types)
	require.Len(t, markets, 6)
	for m, n := range markets {
		require.InDelta(t, 19406/6, n, 300, "market %s", m)
	}
}

func TestIcecatPatch(t *testing.T) {
	got, _ := readAll(t, "testdata/icecat_sample.json")
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, p := range got {
		patch := p.Patch(at)
		require.NoError(t, patch.Validate())
		require.Equal(t, p.ID, patch.ID)
		require.Equal(t, "USD", patch.Currency)
		require.Equal(t, p.Price, patch.Price)
		require.GreaterOrEqual(t, patch.ListPrice, patch.Price)
		require.True(t, catalog.ValidMarket(patch.Market) && patch.Market != catalog.MarketAll)
		require.Equal(t, p.Patch(at), patch, "generated facts are deterministic")
		m := patch.Metrics
		require.True(t, m.Sales1h <= m.Sales24h && m.Sales24h <= m.Sales7d, "%+v", m)
		require.Equal(t, m.Sales7d*p.Price, m.GMV7d)
		require.True(t, m.Rating == 0 || (m.Rating >= 3 && m.Rating <= 5), "%v", m.Rating)
		var attrs map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(patch.Attributes, &attrs))
		require.JSONEq(t, `["market","list_price","stock","rating","sales","gmv","views"]`, string(attrs[GeneratedKey]))
		for k, v := range p.Attributes {
			require.JSONEq(t, string(v), string(attrs[k]))
		}
		for _, got := range []time.Time{patch.ContentAt, patch.PriceAt, patch.StockAt, patch.MetricsAt} {
			require.Equal(t, at, got)
		}
	}
}

// The generated facts have the advertised shape over many ids.
func TestIcecatFactsDistribution(t *testing.T) {
	const n = 20000
	discounted, out, rated := 0, 0, 0
	for id := int64(1); id <= n; id++ {
		f := IcecatProduct{ID: id * 7919, Price: 10000}.Facts()
		if f.ListPrice > 10000 {
			discounted++
			require.LessOrEqual(t, f.ListPrice, int64(20000))
		}
		if f.Stock == 0 {
			out++
		}
		require.LessOrEqual(t, f.Stock, int64(500))
		if f.Metrics.RatingCount > 0 {
			rated++
		}
	}
	require.InDelta(t, 0.30, float64(discounted)/n, 0.02)
	require.InDelta(t, 0.08, float64(out)/n, 0.01)
	require.InDelta(t, 0.85, float64(rated)/n, 0.02)
}

func FuzzDecodeIcecat(f *testing.F) {
	sample, err := os.ReadFile("testdata/icecat_sample.json")
	require.NoError(f, err)
	f.Add(sample)
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"id":"1","title":"x","price":1}]`))
	f.Add([]byte(`[{"id":1,"title":"x","price":1.0,"ean":"123","date_released":"2020-01-02"}]`))
	f.Add([]byte(`[{"id":"-5","title":"x","price":1},null,3,"s"]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var bad []*ProductError
		n := 0
		err := DecodeIcecat(context.Background(), "fuzz", bytes.NewReader(in), func(p IcecatProduct) error {
			n++
			if p.ID <= 0 || p.Price < 0 || p.Title == "" {
				t.Fatalf("accepted an invalid product %+v", p)
			}
			patch := p.Patch(time.Unix(0, 0))
			if err := patch.Validate(); err != nil {
				t.Fatalf("patch of an accepted product is invalid: %v", err)
			}
			return nil
		}, func(e *ProductError) {
			if e.Err == nil || e.Error() == "" {
				t.Fatal("a product error without a reason")
			}
			bad = append(bad, e)
		})
		if err == nil && !json.Valid(in) {
			t.Fatalf("accepted invalid JSON %q", in)
		}
	})
}

func ExampleReadIcecat() {
	n := 0
	err := ReadIcecat(context.Background(), "testdata/icecat_sample.json.zip", func(p IcecatProduct) error {
		if n == 0 {
			f := p.Facts()
			fmt.Println(p.ID, p.Supplier, p.Price, f.Market)
		}
		n++
		return nil
	})
	var bad ProductErrors
	if errors.As(err, &bad) {
		fmt.Println(n, "products read,", len(bad), "could not be decoded")
	}
	// Output:
	// 3920564 Xerox 4995 PH
	// 5 products read, 3 could not be decoded
}

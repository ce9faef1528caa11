package selection

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"selection/filter"
)

var testVocab = StaticVocabulary{
	BrandList: []string{"Logitech", "Samsung", "Western Digital", "HP", "Apple", "Razer"},
	TagList:   []string{"refurbished", "gaming", "eco-friendly"},
}

func i64(v int64) *int64 { return &v }

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want Parsed
	}{
		{"gaming accessories under $50 for the 11.11 sale, in stock, no refurbished",
			Parsed{Query: "gaming accessories", Currency: "USD", PriceMax: i64(5000), InStock: true, ExcludeTags: []string{"refurbished"}, Campaign: "11.11 sale"}},
		{"wireless mouse by Logitech between 20 and 40",
			Parsed{Query: "wireless mouse", Brands: []string{"Logitech"}, Currency: "USD", PriceMin: i64(2000), PriceMax: i64(4000)}},
		{"monitors over 1k in Singapore",
			Parsed{Query: "monitors", Markets: []string{"SG"}, Currency: "SGD", PriceMin: i64(100000)}},
		{"phones excluding Samsung and Apple, at least 20% off",
			Parsed{Query: "phones", ExcludeBrands: []string{"Samsung", "Apple"}, MinDiscountPct: 20}},
		{"top 50 best sellers in MY and TH",
			Parsed{Markets: []string{"MY", "TH"}, Sort: SortSales, Limit: 50}},
		{"cheapest usb stick rated 4+ stars",
			Parsed{Query: "usb stick", Sort: SortPriceAsc, MinRating: 4}},
		{"external hard drive from Western Digital under RM 300",
			Parsed{Query: "external hard drive", Brands: []string{"Western Digital"}, Currency: "MYR", PriceMax: i64(30000)}},
		{"newest laptops under 15,000,000 VND in Vietnam",
			Parsed{Query: "laptops", Markets: []string{"VN"}, Sort: SortNewest, Currency: "VND", PriceMax: i64(15000000)}},
		{"usb cable in stock, no refurbished, best sellers",
			Parsed{Query: "usb cable", InStock: true, ExcludeTags: []string{"refurbished"}, Sort: SortSales}},
		{"no refurbished or used, excluding Samsung, HP",
			Parsed{ExcludeTags: []string{"refurbished"}, ExcludeTerms: []string{"used"}, ExcludeBrands: []string{"Samsung", "HP"}}},
		{"headphones without cable",
			Parsed{Query: "headphones", ExcludeTerms: []string{"cable"}}},
		{"laptops released after 2022 under $900",
			Parsed{Query: "laptops", ReleasedFrom: "2023-01-01", Currency: "USD", PriceMax: i64(90000)}},
		{"2020 models of monitors in stock",
			Parsed{Query: "monitors", InStock: true, ReleasedFrom: "2020-01-01", ReleasedBefore: "2021-01-01"}},
		{"printers released before 2015", Parsed{Query: "printers", ReleasedBefore: "2015-01-01"}},
		{"2000 models of usb cables", Parsed{Query: "2000 models usb cables"}},
		{"cameras launched in 2019", Parsed{Query: "cameras", ReleasedFrom: "2019-01-01", ReleasedBefore: "2020-01-01"}},
		{"gaming mouse", Parsed{Query: "gaming mouse"}},
		{"my id card holder", Parsed{Query: "my id card holder"}},
		{"hp toner", Parsed{Query: "hp toner"}},
		{"", Parsed{}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got := Parse(c.in, testVocab)
			got.Matches, got.priceLo, got.priceHi = nil, nil, nil
			got.ProductText = "" // TestProductText
			require.Equal(t, c.want, got)
		})
	}
}

// The product text keeps the noun phrases that name the products, apart, and drops what the
// products serve.
func TestProductText(t *testing.T) {
	for in, want := range map[string]string{
		"ink cartridges for home printers":                                    "ink cartridges",
		"laptop bags and sleeves for back to school":                          "laptop bags, sleeves",
		"monitor arms and wall mounts":                                        "monitor arms, wall mounts",
		"toner cartridges under $80":                                          "toner cartridges",
		"gaming accessories under $50 in stock, no refurbished, best sellers": "gaming accessories",
		"mice, keyboards & webcams":                                           "mice, keyboards, webcams",
		"cases compatible with iphone 12":                                     "cases",
		"":                                                                    "",
	} {
		require.Equal(t, want, Parse(in, testVocab).ProductText, in)
	}
}

func TestParseRecordsWhatItMatched(t *testing.T) {
	p := Parse("laptops under S$800 in stock, not HP", testVocab)
	require.Equal(t, "laptops", p.Query)
	var texts []string
	for _, m := range p.Matches {
		texts = append(texts, m.Text+" => "+m.Meaning)
	}
	require.ElementsMatch(t, []string{"under S$800 => price at most", "in stock => in stock", "not HP => exclude brand HP"}, texts)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"gaming accessories under $50 for the 11.11 sale, in stock, no refurbished",
		"between 1 and", "top 0", "₫₫₫ 1,2,3,4 k", "no", "excluding excluding", "\xff\xfe under $1e308",
		"999999999999999999999999 dollars", "rated 5 stars in SG/MY",
		"released in 2020, released before 2015", "2099 models released after 2099", strings.Repeat("no x or ", 500)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := Parse(s, testVocab)
		if !utf8.ValidString(p.Query) {
			t.Fatalf("query not valid UTF-8: %q", p.Query)
		}
		if p.PriceMin != nil && p.PriceMax != nil && *p.PriceMin > *p.PriceMax {
			t.Fatalf("min %d > max %d", *p.PriceMin, *p.PriceMax)
		}
		if p.Limit < 0 || p.MinDiscountPct < 0 || p.MinDiscountPct > 99 || p.MinRating < 0 || p.MinRating > 5 {
			t.Fatalf("out of range: %+v", p)
		}
		if len(p.Query) > len(s)+1 {
			t.Fatalf("query grew: %q from %q", p.Query, s)
		}
		plan, _ := FromParsed(p, "USD")
		if err := plan.Validate(); err != nil {
			t.Fatalf("the plan of %q does not validate: %v", s, err)
		}
	})
}

// Boost, bury and slot phrases become rules and slots of the plan; a verb with nothing known
// after it stays in the query.
func TestParseMerchandising(t *testing.T) {
	p := Parse("gaming mice under $50, boost Logitech and Razer, bury low stock, first 3 spots for Razer, top 20", testVocab)
	require.Equal(t, "gaming mice", p.Query)
	require.Equal(t, 20, p.Limit)
	var got []string
	for _, r := range p.Rules {
		got = append(got, r.Name+" "+r.Filter.String()+" "+strconv.FormatFloat(r.Factor, 'f', 2, 64))
	}
	require.Equal(t, []string{"Logitech brand = Logitech 0.30", "Razer brand = Razer 0.30", "low stock stock <= 4 -0.30"}, got)
	require.Equal(t, []Slot{{Name: "Razer", From: 1, To: 3, Filter: filter.Attr("brand", "Razer")}}, p.Slots)
	require.Contains(t, p.Matches, Matched{Text: "boost Logitech and Razer", Meaning: "boost brand Logitech (+0.30); boost brand Razer (+0.30)"})

	p = Parse("headphones, strongly boost deals, demote tag refurbished, slightly bury out-of-stock", testVocab)
	require.Equal(t, "headphones", p.Query)
	got = nil
	for _, r := range p.Rules {
		got = append(got, r.Name+" "+r.Filter.String()+" "+strconv.FormatFloat(r.Factor, 'f', 2, 64))
	}
	require.Equal(t, []string{"deals discount >= 20 0.60", "tag refurbished tag = refurbished -0.30", "out of stock stock <= 0 -0.15"}, got)

	p = Parse("boost quality monitors", testVocab)
	require.Equal(t, "boost quality monitors", p.Query)
	require.Empty(t, p.Rules)

	// In the plan: slots end within the limit, and the plan is valid.
	plan, _ := FromParsed(Parse("mice, first 8 spots for Logitech, top 5, boost Razer", testVocab), "USD")
	require.NoError(t, plan.Validate())
	require.Equal(t, 5, plan.Slots[0].To)
	require.Len(t, plan.Rules, 1)
}

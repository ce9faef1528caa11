package tagger

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"selection/catalog"
)

// Categorical fields: a bitmap per distinct (case-folded) value.
const (
	catMarket = iota
	catBrand
	catCategory
	catProductType
	catCurrency
	catInStock
	numCat
)

// Numeric fields: a roaring64.BSI column each (integers; money in minor units).
const (
	numPrice = iota
	numListPrice
	numDiscount
	numRating
	numRatingCount
	numStock
	numSales1h
	numSales24h
	numSales7d
	numGMV1h
	numGMV24h
	numGMV7d
	numViews1h
	numViews24h
	numViews7d
	numReleased
	numNum
)

var catNames = [numCat]string{"market", "brand", "category", "product_type", "currency", "in_stock"}

var numNames = [numNum]string{"price", "list_price", "discount", "rating", "rating_count", "stock",
	"sales_1h", "sales_24h", "sales_7d", "gmv_1h", "gmv_24h", "gmv_7d",
	"views_1h", "views_24h", "views_7d", "released"}

var numHelp = [numNum]string{"price in minor units", "list price in minor units",
	"discount below list price, percent 0..100", "rating x100 (0..500)", "number of ratings",
	"units in stock", "units sold, last hour", "units sold, last 24 h", "units sold, last 7 days",
	"GMV in minor units, last hour", "GMV, last 24 h", "GMV, last 7 days",
	"views, last hour", "views, last 24 h", "views, last 7 days",
	"release date, days since 1970-01-01 (0: unknown)"}

// FieldKind says how a field is indexed.
type FieldKind int

const (
	// Categorical fields have a bitmap per value and are matched with Attr.
	Categorical FieldKind = iota + 1
	// Numeric fields are BSI columns and are matched with Range.
	Numeric
)

func (k FieldKind) String() string {
	switch k {
	case Categorical:
		return "categorical"
	case Numeric:
		return "numeric"
	}
	return "unknown"
}

// FieldInfo describes one indexed field.
type FieldInfo struct {
	Name string
	Kind FieldKind
	Help string
}

// Fields lists every indexed field, categorical first.
func Fields() []FieldInfo {
	out := make([]FieldInfo, 0, numCat+numNum)
	catHelp := [numCat]string{"market code (SG MY TH ID PH VN or ALL)", "brand", "category path",
		"product type", "ISO 4217 currency", "true when stock > 0"}
	for i, n := range catNames {
		out = append(out, FieldInfo{n, Categorical, catHelp[i]})
	}
	for i, n := range numNames {
		out = append(out, FieldInfo{n, Numeric, numHelp[i]})
	}
	return out
}

// lookupField returns the kind and column index of a field name.
func lookupField(name string) (FieldKind, int, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for i, c := range catNames {
		if c == n {
			return Categorical, i, nil
		}
	}
	for i, c := range numNames {
		if c == n {
			return Numeric, i, nil
		}
	}
	names := make([]string, 0, numCat+numNum)
	names = append(names, catNames[:]...)
	names = append(names, numNames[:]...)
	sort.Strings(names)
	return 0, 0, fmt.Errorf("unknown field %q (fields: %s)", name, strings.Join(names, ", "))
}

// normValue is how categorical values are keyed: trimmed and case-folded, so "Logitech" and
// "logitech " are one brand.
func normValue(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

// Row is the tagger's view of one SKU: what the index stores about it.
type Row struct {
	Ordinal int64
	ID      int64
	Live    bool
	Cat     [numCat]string
	Num     [numNum]int64
}

// RowFromSKU converts a catalogue SKU.
func RowFromSKU(s *catalog.SKU) Row {
	r := Row{Ordinal: s.Ordinal, ID: s.ID, Live: s.Live}
	r.Cat[catMarket] = s.Market
	r.Cat[catBrand] = s.Brand
	r.Cat[catCategory] = s.Category
	r.Cat[catProductType] = s.ProductType
	r.Cat[catCurrency] = s.Currency
	r.Cat[catInStock] = fmt.Sprint(s.Stock > 0)
	r.Num[numPrice] = s.Price
	r.Num[numListPrice] = s.ListPrice
	r.Num[numDiscount] = s.DiscountPercent()
	r.Num[numRating] = int64(s.Rating*100 + 0.5)
	r.Num[numRatingCount] = s.RatingCount
	r.Num[numStock] = s.Stock
	m := &s.Metrics
	r.Num[numSales1h], r.Num[numSales24h], r.Num[numSales7d] = m.Sales1h, m.Sales24h, m.Sales7d
	r.Num[numGMV1h], r.Num[numGMV24h], r.Num[numGMV7d] = m.GMV1h, m.GMV24h, m.GMV7d
	r.Num[numViews1h], r.Num[numViews24h], r.Num[numViews7d] = m.Views1h, m.Views24h, m.Views7d
	r.Num[numReleased] = ReleasedDay(s.ReleasedAt)
	return r
}

// ReleasedDay is the released column's value for a release time: whole days since 1970-01-01
// (UTC), 0 when the date is unknown (so unknown dates rank as oldest).
func ReleasedDay(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return max(t.Unix()/86400, 0)
}

// ReleasedDaySQL is ReleasedDay in SQL over a timestamptz column (skus.released_at).
func ReleasedDaySQL(col string) string {
	return "coalesce(greatest(floor(extract(epoch FROM " + col + ") / 86400), 0)::bigint, 0)"
}

// ParseReleasedDate is the released column's value for a date written YYYY-MM-DD.
func ParseReleasedDate(s string) (int64, error) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, err
	}
	return ReleasedDay(&d), nil
}

// Get returns a field's value in a row as text (for explanations).
func (r *Row) Get(field string) (string, error) {
	kind, i, err := lookupField(field)
	if err != nil {
		return "", err
	}
	if kind == Categorical {
		return r.Cat[i], nil
	}
	return fmt.Sprint(r.Num[i]), nil
}

// Set sets a field of the row by name (a numeric field takes an integer).
func (r *Row) Set(field, value string) error {
	kind, i, err := lookupField(field)
	if err != nil {
		return err
	}
	if kind == Categorical {
		r.Cat[i] = value
		return nil
	}
	v, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	if err != nil {
		return fmt.Errorf("%s is numeric: %q is not an integer", field, value)
	}
	r.Num[i] = v
	return nil
}

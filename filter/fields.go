package filter

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
	CatMarket = iota
	CatBrand
	CatCategory
	CatProductType
	CatCurrency
	CatInStock
	numCat
)

// Numeric fields: a roaring64.BSI column each (integers; money in minor units).
const (
	NumPrice = iota
	NumListPrice
	NumDiscount
	NumRating
	NumRatingCount
	NumStock
	NumSales1h
	NumSales24h
	NumSales7d
	NumGMV1h
	NumGMV24h
	NumGMV7d
	NumViews1h
	NumViews24h
	NumViews7d
	NumReleased
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

// Row is the index's view of one SKU: what it stores about it. Cat and Num are indexed by the
// Cat* and Num* constants.
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
	r.Cat[CatMarket] = s.Market
	r.Cat[CatBrand] = s.Brand
	r.Cat[CatCategory] = s.Category
	r.Cat[CatProductType] = s.ProductType
	r.Cat[CatCurrency] = s.Currency
	r.Cat[CatInStock] = fmt.Sprint(s.Stock > 0)
	r.Num[NumPrice] = s.Price
	r.Num[NumListPrice] = s.ListPrice
	r.Num[NumDiscount] = s.DiscountPercent()
	r.Num[NumRating] = int64(s.Rating*100 + 0.5)
	r.Num[NumRatingCount] = s.RatingCount
	r.Num[NumStock] = s.Stock
	m := &s.Metrics
	r.Num[NumSales1h], r.Num[NumSales24h], r.Num[NumSales7d] = m.Sales1h, m.Sales24h, m.Sales7d
	r.Num[NumGMV1h], r.Num[NumGMV24h], r.Num[NumGMV7d] = m.GMV1h, m.GMV24h, m.GMV7d
	r.Num[NumViews1h], r.Num[NumViews24h], r.Num[NumViews7d] = m.Views1h, m.Views24h, m.Views7d
	r.Num[NumReleased] = ReleasedDay(s.ReleasedAt)
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

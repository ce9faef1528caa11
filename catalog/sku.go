package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned when a SKU does not exist (or, for Get, is deleted).
var ErrNotFound = errors.New("sku not found")

// Markets are the marketplace's markets. MarketAll is the catalogue-wide default.
var Markets = []string{"SG", "MY", "TH", "ID", "PH", "VN"}

// MarketAll marks a SKU offered catalogue-wide rather than in one market.
const MarketAll = "ALL"

// MarketCurrency is each market's currency (ISO 4217).
var MarketCurrency = map[string]string{
	"SG": "SGD", "MY": "MYR", "TH": "THB", "ID": "IDR", "PH": "PHP", "VN": "VND", MarketAll: "USD",
}

// ValidMarket reports whether m is a market code or MarketAll.
func ValidMarket(m string) bool {
	_, ok := MarketCurrency[m]
	return ok
}

// Metrics are the moving sales, GMV (minor units) and view counts of a SKU, plus its rating.
type Metrics struct {
	Sales1h     int64   `json:"sales_1h"`
	Sales24h    int64   `json:"sales_24h"`
	Sales7d     int64   `json:"sales_7d"`
	GMV1h       int64   `json:"gmv_1h"`
	GMV24h      int64   `json:"gmv_24h"`
	GMV7d       int64   `json:"gmv_7d"`
	Views1h     int64   `json:"views_1h"`
	Views24h    int64   `json:"views_24h"`
	Views7d     int64   `json:"views_7d"`
	Rating      float32 `json:"rating"`
	RatingCount int64   `json:"rating_count"`
}

// SKU is one product offer as stored in skus.
type SKU struct {
	ID          int64           `json:"id,string"`
	Ordinal     int64           `json:"ordinal"`
	Market      string          `json:"market"`
	Title       string          `json:"title"`
	Description string          `json:"description,omitempty"`
	Brand       string          `json:"brand,omitempty"`
	Category    string          `json:"category,omitempty"`
	ProductType string          `json:"product_type,omitempty"`
	Attributes  json.RawMessage `json:"attributes,omitempty"`
	ContentHash []byte          `json:"-"`
	Currency    string          `json:"currency"`
	Price       int64           `json:"price"`
	ListPrice   int64           `json:"list_price"`
	Stock       int64           `json:"stock"`
	Metrics
	ReleasedAt *time.Time `json:"released_at,omitempty"`
	ContentAt  time.Time  `json:"content_at"`
	PriceAt    time.Time  `json:"price_at"`
	StockAt    time.Time  `json:"stock_at"`
	MetricsAt  time.Time  `json:"metrics_at"`
	DeletedAt  *time.Time `json:"deleted_at,omitempty"` // newest delete event seen
	Live       bool       `json:"live"`                 // content newer than the newest delete
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// DiscountPercent is how far the price is below the list price, 0..100.
func (s *SKU) DiscountPercent() int64 {
	if s.ListPrice <= 0 || s.Price >= s.ListPrice {
		return 0
	}
	return (s.ListPrice - s.Price) * 100 / s.ListPrice
}

// EmbedText is the text the embedding model sees for a SKU: title, brand, product type and
// description. The model reads at most 128 tokens, so the description mostly adds context to
// short titles. The generated content_hash column covers the same fields, so a change to any
// of them queues the SKU for embedding.
func EmbedText(title, brand, productType, description string) string {
	var b strings.Builder
	b.WriteString(title)
	if brand != "" && !strings.Contains(strings.ToLower(title), strings.ToLower(brand)) {
		b.WriteString(". ")
		b.WriteString(brand)
	}
	if productType != "" && !strings.Contains(strings.ToLower(title), strings.ToLower(productType)) {
		b.WriteString(". ")
		b.WriteString(productType)
	}
	if description != "" {
		b.WriteString(". ")
		b.WriteString(description)
	}
	return b.String()
}

// Field bits say which fields a Patch carries.
const (
	FieldMarket uint32 = 1 << iota
	FieldTitle
	FieldDescription
	FieldBrand
	FieldCategory
	FieldProductType
	FieldAttributes
	FieldReleasedAt
	FieldCurrency
	FieldPrice
	FieldListPrice
	FieldStock
	FieldMetrics // all of Metrics at once
)

// Field groups: each has its own event time in skus.
const (
	contentFields = FieldMarket | FieldTitle | FieldDescription | FieldBrand | FieldCategory |
		FieldProductType | FieldAttributes | FieldReleasedAt
	priceFields   = FieldCurrency | FieldPrice | FieldListPrice
	stockFields   = FieldStock
	metricsFields = FieldMetrics
)

// Patch is what one or more events change in one SKU: any subset of fields, each field group
// stamped with the event time it comes from, and possibly a deletion. Applying a Patch never lets
// an older group overwrite a newer one.
type Patch struct {
	ID     int64
	Fields uint32 // Field bits present

	Market      string
	Title       string
	Description string
	Brand       string
	Category    string
	ProductType string
	Attributes  json.RawMessage
	ReleasedAt  *time.Time
	Currency    string
	Price       int64
	ListPrice   int64
	Stock       int64
	Metrics     Metrics

	ContentAt time.Time // event time of the content fields
	PriceAt   time.Time
	StockAt   time.Time
	MetricsAt time.Time
	DeleteAt  *time.Time // set: a deletion at this event time
}

// Has reports whether all of the bits f are present.
func (p *Patch) Has(f uint32) bool { return p.Fields&f == f }

// Validate checks a patch before it reaches the database.
func (p *Patch) Validate() error {
	if p.ID == 0 {
		return errors.New("sku id is 0")
	}
	if p.Fields == 0 && p.DeleteAt == nil {
		return errors.New("patch changes nothing")
	}
	if p.Fields&FieldMarket != 0 && !ValidMarket(p.Market) {
		return fmt.Errorf("unknown market %q", p.Market)
	}
	if p.Fields&contentFields != 0 && p.ContentAt.IsZero() {
		return errors.New("content fields without an event time")
	}
	if p.Fields&priceFields != 0 && p.PriceAt.IsZero() {
		return errors.New("price fields without an event time")
	}
	if p.Fields&stockFields != 0 && p.StockAt.IsZero() {
		return errors.New("stock without an event time")
	}
	if p.Fields&metricsFields != 0 && p.MetricsAt.IsZero() {
		return errors.New("metrics without an event time")
	}
	if p.Has(FieldPrice) && p.Price < 0 {
		return fmt.Errorf("negative price %d", p.Price)
	}
	if p.Has(FieldListPrice) && p.ListPrice < 0 {
		return fmt.Errorf("negative list price %d", p.ListPrice)
	}
	if p.Has(FieldCurrency) && !validCurrency(p.Currency) {
		return fmt.Errorf("currency %q is not a 3-letter ISO 4217 code", p.Currency)
	}
	if p.Has(FieldAttributes) && len(p.Attributes) > 0 {
		if !json.Valid(p.Attributes) || p.Attributes[0] != '{' {
			return errors.New("attributes are not a JSON object")
		}
	}
	if p.Has(FieldMetrics) && (p.Metrics.Rating < 0 || p.Metrics.Rating > 5) {
		return fmt.Errorf("rating %v outside 0..5", p.Metrics.Rating)
	}
	return nil
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// group is one field group's view of a patch: its field bits and event time.
type group struct {
	mask uint32
	at   func(p *Patch) *time.Time
}

var groups = []group{
	{contentFields, func(p *Patch) *time.Time { return &p.ContentAt }},
	{priceFields, func(p *Patch) *time.Time { return &p.PriceAt }},
	{stockFields, func(p *Patch) *time.Time { return &p.StockAt }},
	{metricsFields, func(p *Patch) *time.Time { return &p.MetricsAt }},
}

// merge folds later patch b for the same SKU into a. It reports false, changing nothing, when
// the two cannot be merged without losing the per-group event-time guard (a group present in
// both where neither covers the other's fields): such a patch goes into the next apply round.
func (a *Patch) merge(b *Patch) bool {
	type action int
	const (
		keep action = iota
		take
	)
	acts := make([]action, len(groups))
	for i, g := range groups {
		am, bm := a.Fields&g.mask, b.Fields&g.mask
		switch {
		case bm == 0:
			acts[i] = keep
		case am == 0:
			acts[i] = take
		case !g.at(b).Before(*g.at(a)) && bm&am == am: // b newer or same, covers a
			acts[i] = take
		case g.at(b).Before(*g.at(a)) && am&bm == bm: // b older, covered by a
			acts[i] = keep
		default:
			return false
		}
	}
	for i, g := range groups {
		if acts[i] != take {
			continue
		}
		a.Fields = a.Fields&^g.mask | b.Fields&g.mask
		*g.at(a) = *g.at(b)
		switch g.mask {
		case contentFields:
			a.Market, a.Title, a.Description, a.Brand = b.Market, b.Title, b.Description, b.Brand
			a.Category, a.ProductType, a.Attributes, a.ReleasedAt = b.Category, b.ProductType, b.Attributes, b.ReleasedAt
		case priceFields:
			a.Currency, a.Price, a.ListPrice = b.Currency, b.Price, b.ListPrice
		case stockFields:
			a.Stock = b.Stock
		case metricsFields:
			a.Metrics = b.Metrics
		}
	}
	if b.DeleteAt != nil && (a.DeleteAt == nil || b.DeleteAt.After(*a.DeleteAt)) {
		t := *b.DeleteAt
		a.DeleteAt = &t
	}
	return true
}

// rounds splits patches (in arrival order) into rounds holding at most one patch per SKU,
// merging where the event-time guard allows; round k is applied after round k-1.
func rounds(patches []Patch) [][]Patch {
	var out [][]Patch
	where := make([]map[int64]int, 0, 1) // per round: SKU id -> index in out[r]
	for i := range patches {
		p := patches[i]
		placed := false
		// A patch may only merge into the newest round holding its SKU, and only go to a round
		// after it; otherwise its order relative to that SKU's other patches would change.
		last := -1
		for r := range out {
			if _, ok := where[r][p.ID]; ok {
				last = r
			}
		}
		if last >= 0 {
			if out[last][where[last][p.ID]].merge(&p) {
				placed = true
			}
		}
		if !placed {
			r := last + 1
			if r == len(out) {
				out = append(out, nil)
				where = append(where, map[int64]int{})
			}
			where[r][p.ID] = len(out[r])
			out[r] = append(out[r], p)
		}
	}
	return out
}

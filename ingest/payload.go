package ingest

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"selection/catalog"
)

// The payloads of the event kinds. Producers fill them (NewEvent marshals them into Event.Data);
// the decoder reads Data back into the same structs (decodeUpsert, decodePrice, ...: one
// function per kind, with the schema's rules) and each maps itself onto a catalogue patch
// (apply). schema/events.schema.json states the same rules: TestSchemaAgreesWithDecoder.

// UpsertData is the payload of sku.upsert: any non-empty subset of a SKU's fields. Absent
// fields keep their stored values. The envelope's market is the SKU's market.
type UpsertData struct {
	Title       *string         `json:"title,omitempty"`
	Description *string         `json:"description,omitempty"`
	Brand       *string         `json:"brand,omitempty"`
	Category    *string         `json:"category,omitempty"`
	ProductType *string         `json:"product_type,omitempty"`
	Attributes  json.RawMessage `json:"attributes,omitempty"` // a JSON object
	ReleasedAt  *time.Time      `json:"released_at,omitempty"`
	// ClearReleasedAt is "released_at": null, which clears the stored date (ReleasedAt nil).
	ClearReleasedAt bool         `json:"-"`
	Currency        *string      `json:"currency,omitempty"` // ISO 4217, e.g. "SGD"
	Price           *int64       `json:"price,omitempty"`    // minor units
	ListPrice       *int64       `json:"list_price,omitempty"`
	Stock           *int64       `json:"stock,omitempty"`
	Metrics         *MetricsData `json:"metrics,omitempty"`
}

// MarshalJSON writes the fields set, and "released_at": null for ClearReleasedAt.
func (u UpsertData) MarshalJSON() ([]byte, error) {
	type plain UpsertData
	b, err := json.Marshal(plain(u))
	if err != nil || !u.ClearReleasedAt || u.ReleasedAt != nil {
		return b, err
	}
	if len(b) == 2 { // {}
		return []byte(`{"released_at":null}`), nil
	}
	return append([]byte(`{"released_at":null,`), b[1:]...), nil
}

// PriceData is the payload of price.update. Price is required; list price and currency keep
// their stored values when absent.
type PriceData struct {
	Price     int64   `json:"price"`
	ListPrice *int64  `json:"list_price,omitempty"`
	Currency  *string `json:"currency,omitempty"`
}

// StockData is the payload of stock.update: the absolute stock level (not a delta, so that
// replaying or redelivering an event is harmless).
type StockData struct {
	Stock int64 `json:"stock"`
}

// MetricsData is the payload of metrics.update, a full snapshot of the SKU's moving metrics:
// every field is required.
type MetricsData struct {
	Sales1h     int64   `json:"sales_1h"`
	Sales24h    int64   `json:"sales_24h"`
	Sales7d     int64   `json:"sales_7d"`
	GMV1h       int64   `json:"gmv_1h"` // minor units
	GMV24h      int64   `json:"gmv_24h"`
	GMV7d       int64   `json:"gmv_7d"`
	Views1h     int64   `json:"views_1h"`
	Views24h    int64   `json:"views_24h"`
	Views7d     int64   `json:"views_7d"`
	Rating      float32 `json:"rating"` // 0..5
	RatingCount int64   `json:"rating_count"`
}

// DeleteData is the optional payload of sku.delete.
type DeleteData struct {
	Reason string `json:"reason,omitempty"`
}

// Metrics converts to the catalogue's type.
func (m MetricsData) Metrics() catalog.Metrics { return catalog.Metrics(m) }

// MetricsDataOf converts from the catalogue's type.
func MetricsDataOf(m catalog.Metrics) MetricsData { return MetricsData(m) }

// buildPatch decodes the event's payload with its kind's decoder and maps it to a catalogue
// patch. (The branches are written out: through a generic decode-and-apply helper the patch
// escaped to the heap, 384 more bytes an event.)
func (d *Decoded) buildPatch() error {
	e := &d.Event
	p := catalog.Patch{ID: e.SKUID}
	at := e.EventTime
	switch e.Kind {
	case KindDelete:
		x, err := decodeDelete(e.Data)
		if err != nil {
			return err
		}
		x.apply(&p, at)
	case KindPrice:
		x, err := decodePrice(e.Data)
		if err != nil {
			return err
		}
		x.apply(&p, at)
	case KindStock:
		x, err := decodeStock(e.Data)
		if err != nil {
			return err
		}
		x.apply(&p, at)
	case KindMetrics:
		x, err := decodeMetricsData(e.Data)
		if err != nil {
			return err
		}
		x.apply(&p, at)
	case KindUpsert:
		x, err := decodeUpsert(e.Data)
		if err != nil {
			return err
		}
		p.Market = e.Market // the envelope's market is the SKU's
		x.apply(&p, at)
	}
	d.Patch = p
	return nil
}

// decodeDelete reads sku.delete's optional payload (raw is nil when the event has none).
func decodeDelete(raw json.RawMessage) (DeleteData, error) {
	var d DeleteData
	if raw == nil {
		return d, nil
	}
	f, err := object("data", raw, "reason")
	if err != nil {
		return d, err
	}
	d.Reason, _, err = f.str("reason", 0, 1000)
	return d, err
}

func (d DeleteData) apply(p *catalog.Patch, at time.Time) { p.DeleteAt = &at }

// decodePrice reads price.update's payload.
func decodePrice(raw json.RawMessage) (PriceData, error) {
	var d PriceData
	f, err := object("data", raw, "price", "list_price", "currency")
	if err != nil {
		return d, err
	}
	if d.Price, _, err = f.int("price", true, 0); err != nil {
		return d, err
	}
	if n, ok, err := f.int("list_price", false, 0); err != nil {
		return d, err
	} else if ok {
		d.ListPrice = &n
	}
	if c, ok, err := f.currency("currency"); err != nil {
		return d, err
	} else if ok {
		d.Currency = &c
	}
	return d, nil
}

func (d PriceData) apply(p *catalog.Patch, at time.Time) {
	applyPrices(p, &d.Price, d.ListPrice, d.Currency, at)
}

// applyPrices sets the price fields given (price, list price, currency) and their event time.
func applyPrices(p *catalog.Patch, price, list *int64, currency *string, at time.Time) {
	if price != nil {
		p.Fields |= catalog.FieldPrice
		p.Price = *price
	}
	if list != nil {
		p.Fields |= catalog.FieldListPrice
		p.ListPrice = *list
	}
	if currency != nil {
		p.Fields |= catalog.FieldCurrency
		p.Currency = *currency
	}
	if price != nil || list != nil || currency != nil {
		p.PriceAt = at
	}
}

// decodeStock reads stock.update's payload.
func decodeStock(raw json.RawMessage) (StockData, error) {
	var d StockData
	f, err := object("data", raw, "stock")
	if err != nil {
		return d, err
	}
	d.Stock, _, err = f.int("stock", true, 0)
	return d, err
}

func (d StockData) apply(p *catalog.Patch, at time.Time) {
	p.Fields |= catalog.FieldStock
	p.Stock, p.StockAt = d.Stock, at
}

var metricsFields = []string{"sales_1h", "sales_24h", "sales_7d", "gmv_1h", "gmv_24h", "gmv_7d",
	"views_1h", "views_24h", "views_7d", "rating", "rating_count"}

// decodeMetricsData reads metrics.update's payload.
func decodeMetricsData(raw json.RawMessage) (MetricsData, error) { return decodeMetrics("data", raw) }

// decodeMetrics reads metrics (path "data", or "data.metrics" in sku.upsert).
func decodeMetrics(path string, raw json.RawMessage) (MetricsData, error) {
	var m MetricsData
	f, err := object(path, raw, metricsFields...)
	if err != nil {
		return m, err
	}
	ints := []*int64{&m.Sales1h, &m.Sales24h, &m.Sales7d, &m.GMV1h, &m.GMV24h, &m.GMV7d,
		&m.Views1h, &m.Views24h, &m.Views7d}
	for i, name := range metricsFields[:9] {
		if *ints[i], _, err = f.int(name, true, 0); err != nil {
			return m, err
		}
	}
	if m.RatingCount, _, err = f.int("rating_count", true, 0); err != nil {
		return m, err
	}
	rraw, ok := f.m["rating"]
	if !ok {
		return m, invalid(f.name("rating"), "required")
	}
	r, ok := jsonFloat(rraw)
	if !ok {
		return m, invalid(f.name("rating"), "must be a number")
	}
	if r < 0 || r > 5 {
		return m, invalid(f.name("rating"), "must be within 0..5, not %v", r)
	}
	m.Rating = float32(r)
	return m, nil
}

func (m MetricsData) apply(p *catalog.Patch, at time.Time) {
	p.Fields |= catalog.FieldMetrics
	p.Metrics, p.MetricsAt = m.Metrics(), at
}

// upsertValues hold what an UpsertData's pointers point to: one allocation for the lot.
type upsertValues struct {
	title, description, brand, category, productType, currency string
	price, listPrice, stock                                    int64
	releasedAt                                                 time.Time
	metrics                                                    MetricsData
}

// decodeUpsert reads sku.upsert's payload: at least one field; attributes are compacted.
func decodeUpsert(raw json.RawMessage) (UpsertData, error) {
	var u UpsertData
	f, err := object("data", raw, "title", "description", "brand", "category", "product_type",
		"attributes", "released_at", "currency", "price", "list_price", "stock", "metrics")
	if err != nil {
		return u, err
	}
	if len(f.m) == 0 {
		return u, invalid("data", "sku.upsert needs at least one field")
	}
	v := new(upsertValues)
	for _, s := range []struct {
		name     string
		min, max int
		val      *string
		dst      **string
	}{
		{"title", 1, MaxTitleLen, &v.title, &u.Title},
		{"description", 0, MaxDescriptionLen, &v.description, &u.Description},
		{"brand", 0, MaxNameLen, &v.brand, &u.Brand},
		{"category", 0, MaxNameLen, &v.category, &u.Category},
		{"product_type", 0, MaxNameLen, &v.productType, &u.ProductType},
	} {
		x, ok, err := f.str(s.name, s.min, s.max)
		if err != nil {
			return u, err
		}
		if ok {
			*s.val, *s.dst = x, s.val
		}
	}
	if raw, ok := f.m["attributes"]; ok {
		var buf bytes.Buffer
		if firstByte(raw) != '{' || !json.Valid(raw) || json.Compact(&buf, raw) != nil {
			return u, invalid("data.attributes", "must be an object")
		}
		u.Attributes = buf.Bytes()
	}
	if raw, ok := f.m["released_at"]; ok {
		if u.ClearReleasedAt = isNull(raw); !u.ClearReleasedAt {
			s, ok := jsonString(raw)
			if !ok {
				return u, invalid("data.released_at", "must be a date-time string or null")
			}
			if v.releasedAt, err = parseTime(s); err != nil {
				return u, invalid("data.released_at", "%v", err)
			}
			u.ReleasedAt = &v.releasedAt
		}
	}
	return u, decodeUpsertNumbers(f, v, &u)
}

// decodeUpsertNumbers reads sku.upsert's price, list price, currency, stock and metrics.
func decodeUpsertNumbers(f obj, v *upsertValues, u *UpsertData) error {
	for _, n := range []struct {
		name string
		val  *int64
		dst  **int64
	}{{"price", &v.price, &u.Price}, {"list_price", &v.listPrice, &u.ListPrice}} {
		x, ok, err := f.int(n.name, false, 0)
		if err != nil {
			return err
		}
		if ok {
			*n.val, *n.dst = x, n.val
		}
	}
	if c, ok, err := f.currency("currency"); err != nil {
		return err
	} else if ok {
		v.currency, u.Currency = c, &v.currency
	}
	if n, ok, err := f.int("stock", false, 0); err != nil {
		return err
	} else if ok {
		v.stock, u.Stock = n, &v.stock
	}
	if raw, ok := f.m["metrics"]; ok {
		m, err := decodeMetrics("data.metrics", raw)
		if err != nil {
			return err
		}
		v.metrics, u.Metrics = m, &v.metrics
	}
	return nil
}

// apply sets the fields given; p.Market must hold the event's market.
func (u UpsertData) apply(p *catalog.Patch, at time.Time) {
	p.Fields |= catalog.FieldMarket
	for _, s := range []struct {
		bit uint32
		val *string
		dst *string
	}{
		{catalog.FieldTitle, u.Title, &p.Title},
		{catalog.FieldDescription, u.Description, &p.Description},
		{catalog.FieldBrand, u.Brand, &p.Brand},
		{catalog.FieldCategory, u.Category, &p.Category},
		{catalog.FieldProductType, u.ProductType, &p.ProductType},
	} {
		if s.val != nil {
			p.Fields |= s.bit
			*s.dst = *s.val
		}
	}
	if u.Attributes != nil {
		p.Fields |= catalog.FieldAttributes
		p.Attributes = u.Attributes
	}
	if u.ReleasedAt != nil || u.ClearReleasedAt {
		p.Fields |= catalog.FieldReleasedAt
		p.ReleasedAt = u.ReleasedAt
	}
	p.ContentAt = at
	applyPrices(p, u.Price, u.ListPrice, u.Currency, at)
	if u.Stock != nil {
		StockData{*u.Stock}.apply(p, at)
	}
	if u.Metrics != nil {
		u.Metrics.apply(p, at)
	}
}

// fields are a JSON object's members by name, as raw JSON (scanObject or encoding/json).
type fields map[string]json.RawMessage

// obj is a payload object and its path in errors ("data", "data.metrics").
type obj struct {
	path string
	m    fields
}

func (f obj) name(field string) string { return f.path + "." + field }

// object decodes a payload object into its fields, rejecting names not in allowed.
func object(path string, raw json.RawMessage, allowed ...string) (obj, error) {
	f, ok := scanObject(raw)
	if !ok {
		if err := json.Unmarshal(raw, &f); err != nil || f == nil {
			return obj{}, invalid(path, "must be an object")
		}
	}
	for k := range f {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			return obj{}, invalid(path+"."+k, "unknown field")
		}
	}
	return obj{path, f}, nil
}

// int reads an integer field of at least min; ok says whether it was there.
func (f obj) int(name string, required bool, min int64) (n int64, ok bool, err error) {
	raw, ok := f.m[name]
	if !ok {
		if required {
			return 0, false, invalid(f.name(name), "required")
		}
		return 0, false, nil
	}
	n, err = intValue(raw)
	if err != nil {
		return 0, false, invalid(f.name(name), "must be an integer: %v", err)
	}
	if n < min {
		return 0, false, invalid(f.name(name), "must be at least %d, not %d", min, n)
	}
	return n, true, nil
}

// str reads a string field of minLen..maxLen code points; ok says whether it was there.
func (f obj) str(name string, minLen, maxLen int) (string, bool, error) {
	s, ok, err := f.string(name)
	if err != nil || !ok {
		return "", false, err
	}
	if n := utf8.RuneCountInString(s); n < minLen || n > maxLen {
		return "", false, invalid(f.name(name), "must be %d..%d characters, not %d", minLen, maxLen, n)
	}
	return s, true, nil
}

// currency reads an ISO 4217 code; ok says whether it was there.
func (f obj) currency(name string) (string, bool, error) {
	s, ok, err := f.string(name)
	if err != nil || !ok {
		return "", false, err
	}
	if len(s) != 3 || strings.ToUpper(s) != s || strings.IndexFunc(s, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		return "", false, invalid(f.name(name), "%q is not a 3-letter upper-case ISO 4217 code", s)
	}
	return s, true, nil
}

// string reads a string field; ok says whether it was there.
func (f obj) string(name string) (string, bool, error) {
	raw, ok := f.m[name]
	if !ok {
		return "", false, nil
	}
	s, ok := jsonString(raw)
	if !ok {
		return "", false, invalid(f.name(name), "must be a string")
	}
	return s, true, nil
}

package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"selection/catalog"
)

// SchemaVersion is the version of the event envelope this package reads and writes ("v").
const SchemaVersion = 1

// Kind is what an event does.
type Kind string

// The event kinds.
const (
	KindUpsert  Kind = "sku.upsert"     // create or change a SKU: any subset of its fields
	KindDelete  Kind = "sku.delete"     // tombstone a SKU
	KindPrice   Kind = "price.update"   // price, optionally list price and currency
	KindStock   Kind = "stock.update"   // absolute stock level
	KindMetrics Kind = "metrics.update" // sales, GMV and views over 1 h, 24 h and 7 d, rating
)

// Kinds lists every event kind.
var Kinds = []Kind{KindUpsert, KindDelete, KindPrice, KindStock, KindMetrics}

// Limits of the event schema (the JSON Schema states the same ones).
const (
	MaxEventIDLen     = 256   // code points
	MaxTitleLen       = 1000  // code points
	MaxDescriptionLen = 20000 // code points
	MaxNameLen        = 200   // brand, category, product type: code points
	DefaultMaxSkew    = 5 * time.Minute
)

// Event is one versioned event envelope. Data holds the kind's payload as JSON (see UpsertData,
// PriceData, StockData, MetricsData, DeleteData).
type Event struct {
	V         int             `json:"v"`
	EventID   string          `json:"event_id"`
	Kind      Kind            `json:"kind"`
	SKUID     int64           `json:"sku_id,string"`
	Market    string          `json:"market"`
	EventTime time.Time       `json:"event_time"`
	Data      json.RawMessage `json:"data,omitempty"`
}

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
	Currency    *string         `json:"currency,omitempty"` // ISO 4217, e.g. "SGD"
	Price       *int64          `json:"price,omitempty"`    // minor units
	ListPrice   *int64          `json:"list_price,omitempty"`
	Stock       *int64          `json:"stock,omitempty"`
	Metrics     *MetricsData    `json:"metrics,omitempty"`
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

// NewEvent builds an event whose data is data marshalled as JSON.
func NewEvent(id string, kind Kind, sku int64, market string, at time.Time, data any) (Event, error) {
	e := Event{V: SchemaVersion, EventID: id, Kind: kind, SKUID: sku, Market: market, EventTime: at.UTC()}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return e, fmt.Errorf("event %s: marshal data: %w", id, err)
		}
		e.Data = b
	}
	return e, nil
}

// Marshal encodes the event as JSON (the same as json.Marshal).
func (e Event) Marshal() ([]byte, error) { return json.Marshal(e) }

// ValidationError says why an event was rejected: the field (a JSON path such as
// "data.price") and the rule it broke.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return "invalid event: " + e.Reason
	}
	return "invalid event: " + e.Field + ": " + e.Reason
}

func invalid(field, format string, a ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

// DecodeOptions tune DecodeEvent.
type DecodeOptions struct {
	// Now is the clock for the future-skew check; zero means time.Now().
	Now time.Time
	// MaxSkew is how far in the future an event time may be; 0 means DefaultMaxSkew (5 min),
	// negative disables the check (replay of events accepted earlier).
	MaxSkew time.Duration
}

// Decoded is an event that passed validation, with the catalogue patch it maps to.
type Decoded struct {
	Event
	Patch catalog.Patch
}

// DecodeEvent parses and strictly validates one event: the envelope version, a non-empty
// event id, a known kind, a positive 64-bit SKU id (a JSON string or number), a market, an
// RFC 3339 event time no more than MaxSkew in the future, and the kind's payload (unknown fields,
// wrong types, negative money or stock are errors). Errors are *ValidationError or JSON syntax
// errors; either way the event belongs in the dead letters.
func DecodeEvent(b []byte, o DecodeOptions) (Decoded, error) {
	var d Decoded
	top, ok := scanObject(b)
	if !ok {
		var err error
		if top, err = topObject(b); err != nil {
			return d, err
		}
	}
	for k := range top {
		switch k {
		case "v", "event_id", "kind", "sku_id", "market", "event_time", "data":
		default:
			return d, invalid(k, "unknown field")
		}
	}
	str := func(name string) (*string, error) {
		raw, ok := top[name]
		if !ok {
			return nil, nil
		}
		s, ok := jsonString(raw)
		if !ok {
			return nil, invalid(name, "must be a string")
		}
		return &s, nil
	}
	var env struct {
		EventID, Kind, Market, EventTime *string
	}
	for _, f := range []struct {
		name string
		dst  **string
	}{{"event_id", &env.EventID}, {"kind", &env.Kind}, {"market", &env.Market}, {"event_time", &env.EventTime}} {
		v, err := str(f.name)
		if err != nil {
			return d, err
		}
		*f.dst = v
	}
	e := &d.Event
	vraw, ok := top["v"]
	if !ok {
		return d, invalid("v", "required")
	}
	if v, err := intValue(vraw); err != nil || v != SchemaVersion {
		return d, invalid("v", "unsupported version %s (this decoder reads %d)", vraw, SchemaVersion)
	}
	e.V = SchemaVersion
	if env.EventID == nil {
		return d, invalid("event_id", "required")
	}
	if n := utf8.RuneCountInString(*env.EventID); n == 0 || n > MaxEventIDLen {
		return d, invalid("event_id", "must be 1..%d characters", MaxEventIDLen)
	}
	e.EventID = *env.EventID
	if env.Kind == nil {
		return d, invalid("kind", "required")
	}
	e.Kind = Kind(*env.Kind)
	if !validKind(e.Kind) {
		return d, invalid("kind", "unknown kind %q", *env.Kind)
	}
	rawID, ok := top["sku_id"]
	if !ok {
		return d, invalid("sku_id", "required")
	}
	id, err := parseSKUID(rawID)
	if err != nil {
		return d, err
	}
	e.SKUID = id
	if env.Market == nil {
		return d, invalid("market", "required")
	}
	if !catalog.ValidMarket(*env.Market) {
		return d, invalid("market", "unknown market %q (one of SG MY TH ID PH VN ALL)", *env.Market)
	}
	e.Market = *env.Market
	if env.EventTime == nil {
		return d, invalid("event_time", "required")
	}
	t, err := parseTime(*env.EventTime)
	if err != nil {
		return d, invalid("event_time", "%v", err)
	}
	if o.MaxSkew >= 0 {
		skew := o.MaxSkew
		if skew == 0 {
			skew = DefaultMaxSkew
		}
		now := o.Now
		if now.IsZero() {
			now = time.Now()
		}
		if t.After(now.Add(skew)) {
			return d, invalid("event_time", "%s is more than %v in the future", *env.EventTime, skew)
		}
	}
	e.EventTime = t
	data, ok := top["data"]
	if !ok {
		if e.Kind != KindDelete {
			return d, invalid("data", "required for %s", e.Kind)
		}
	} else if firstByte(data) != '{' {
		return d, invalid("data", "must be an object")
	} else {
		e.Data = data
	}
	if err := d.buildPatch(); err != nil {
		return d, err
	}
	if err := d.Patch.Validate(); err != nil {
		return d, &ValidationError{Reason: err.Error()}
	}
	return d, nil
}

func validKind(k Kind) bool {
	for _, x := range Kinds {
		if k == x {
			return true
		}
	}
	return false
}

func isNull(b json.RawMessage) bool { return b != nil && string(bytes.TrimSpace(b)) == "null" }

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// topObject decodes one JSON object into its fields, rejecting anything else and trailing data.
func topObject(b []byte) (fields, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var top fields
	if err := dec.Decode(&top); err != nil {
		return nil, decodeErr(err)
	}
	if top == nil {
		return nil, &ValidationError{Reason: "an event must be a JSON object"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &ValidationError{Reason: "trailing data after the JSON object"}
	}
	return top, nil
}

// decodeErr turns encoding/json errors into validation errors naming the field.
func decodeErr(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return invalid(te.Field, "must be %s, not a JSON %s", jsonTypeName(te.Type.Kind().String()), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &ValidationError{Reason: fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return invalid(strings.Trim(f, `"`), "unknown field")
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &ValidationError{Reason: "malformed JSON: unexpected end"}
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve
	}
	return &ValidationError{Reason: "malformed JSON: " + msg}
}

func jsonTypeName(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int64", "int", "int32":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	case "bool":
		return "a boolean"
	case "ptr":
		return "a value of another type"
	}
	return k
}

// parseSKUID reads a positive int64 given as a JSON string of digits or a JSON integer.
func parseSKUID(raw json.RawMessage) (int64, error) {
	s := string(bytes.TrimSpace(raw))
	if s == "null" {
		return 0, invalid("sku_id", "required")
	}
	if len(s) > 0 && s[0] == '"' {
		str, ok := jsonString(raw)
		if !ok {
			return 0, invalid("sku_id", "malformed string")
		}
		if str == "" || str[0] < '1' || str[0] > '9' {
			return 0, invalid("sku_id", "%q is not a positive integer without leading zeros", str)
		}
		for i := 0; i < len(str); i++ {
			if str[i] < '0' || str[i] > '9' {
				return 0, invalid("sku_id", "%q is not a positive integer", str)
			}
		}
		n, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			return 0, invalid("sku_id", "%q does not fit in 64 bits", str)
		}
		return n, nil
	}
	n, err := intValue(raw)
	if err != nil {
		return 0, invalid("sku_id", "must be a positive integer or a string of digits: %v", err)
	}
	if n < 1 {
		return 0, invalid("sku_id", "must be positive, not %d", n)
	}
	return n, nil
}

// intValue reads a JSON number that is an integer (1000 and 1000.0 and 1e3 alike, as JSON
// Schema's "integer" does) and fits in an int64.
func intValue(raw json.RawMessage) (int64, error) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || s == "null" {
		return 0, errors.New("missing")
	}
	if s[0] != '-' && (s[0] < '0' || s[0] > '9') {
		return 0, fmt.Errorf("not a number")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !json.Valid(raw) {
		return 0, fmt.Errorf("%s is not a number", s)
	}
	if f != math.Trunc(f) {
		return 0, fmt.Errorf("%s is not an integer", s)
	}
	if f >= 9.2e18 || f <= -9.2e18 {
		return 0, fmt.Errorf("%s is out of range", s)
	}
	return int64(f), nil
}

// parseTime reads an RFC 3339 time with a zone (Z or an offset), as JSON Schema's date-time,
// in UTC and to the microsecond.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("%q is not an RFC 3339 date-time", s)
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return t, fmt.Errorf("%q is out of range", s)
	}
	// Postgres keeps microseconds: truncating here makes live ingest and replay agree.
	return t.UTC().Truncate(time.Microsecond), nil
}

// field readers for the payloads: each takes the raw value of a present field.

type fields map[string]json.RawMessage

func (f fields) int(name string, required bool, min int64) (int64, bool, error) {
	raw, ok := f[name]
	if !ok {
		if required {
			return 0, false, invalid("data."+name, "required")
		}
		return 0, false, nil
	}
	n, err := intValue(raw)
	if err != nil {
		return 0, false, invalid("data."+name, "must be an integer: %v", err)
	}
	if n < min {
		return 0, false, invalid("data."+name, "must be at least %d, not %d", min, n)
	}
	return n, true, nil
}

func (f fields) str(name string, minLen, maxLen int) (string, bool, error) {
	raw, ok := f[name]
	if !ok {
		return "", false, nil
	}
	s, ok := jsonString(raw)
	if !ok {
		return "", false, invalid("data."+name, "must be a string")
	}
	if n := utf8.RuneCountInString(s); n < minLen || n > maxLen {
		return "", false, invalid("data."+name, "must be %d..%d characters, not %d", minLen, maxLen, n)
	}
	return s, true, nil
}

func (f fields) currency(name string) (string, bool, error) {
	raw, ok := f[name]
	if !ok {
		return "", false, nil
	}
	s, ok := jsonString(raw)
	if !ok {
		return "", false, invalid("data."+name, "must be a string")
	}
	if len(s) != 3 || strings.ToUpper(s) != s || strings.IndexFunc(s, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		return "", false, invalid("data."+name, "%q is not a 3-letter upper-case ISO 4217 code", s)
	}
	return s, true, nil
}

// object decodes a payload object into its fields, rejecting names not in allowed.
func object(path string, raw json.RawMessage, allowed ...string) (fields, error) {
	f, ok := scanObject(raw)
	if !ok {
		if err := json.Unmarshal(raw, &f); err != nil || f == nil {
			return nil, invalid(path, "must be an object")
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
			return nil, invalid(path+"."+k, "unknown field")
		}
	}
	return f, nil
}

var metricsFields = []string{"sales_1h", "sales_24h", "sales_7d", "gmv_1h", "gmv_24h", "gmv_7d",
	"views_1h", "views_24h", "views_7d", "rating", "rating_count"}

func decodeMetrics(path string, raw json.RawMessage) (catalog.Metrics, error) {
	var m catalog.Metrics
	f, err := object(path, raw, metricsFields...)
	if err != nil {
		return m, err
	}
	ints := []*int64{&m.Sales1h, &m.Sales24h, &m.Sales7d, &m.GMV1h, &m.GMV24h, &m.GMV7d,
		&m.Views1h, &m.Views24h, &m.Views7d}
	for i, name := range metricsFields[:9] {
		n, _, err := f.int(name, true, 0)
		if err != nil {
			return m, relabel(err, path)
		}
		*ints[i] = n
	}
	n, _, err := f.int("rating_count", true, 0)
	if err != nil {
		return m, relabel(err, path)
	}
	m.RatingCount = n
	rraw, ok := f["rating"]
	if !ok {
		return m, invalid(path+".rating", "required")
	}
	r, ok := jsonFloat(rraw)
	if !ok {
		return m, invalid(path+".rating", "must be a number")
	}
	if r < 0 || r > 5 {
		return m, invalid(path+".rating", "must be within 0..5, not %v", r)
	}
	m.Rating = float32(r)
	return m, nil
}

// relabel rewrites "data.x" in a field error to "<path>.x".
func relabel(err error, path string) error {
	var ve *ValidationError
	if errors.As(err, &ve) && path != "data" {
		return &ValidationError{Field: path + strings.TrimPrefix(ve.Field, "data"), Reason: ve.Reason}
	}
	return err
}

// buildPatch validates the payload and maps the event to a catalogue patch.
func (d *Decoded) buildPatch() error {
	e := &d.Event
	p := catalog.Patch{ID: e.SKUID}
	t := e.EventTime
	switch e.Kind {
	case KindDelete:
		if e.Data != nil {
			f, err := object("data", e.Data, "reason")
			if err != nil {
				return err
			}
			if _, _, err := f.str("reason", 0, 1000); err != nil {
				return err
			}
		}
		p.DeleteAt = &t

	case KindPrice:
		f, err := object("data", e.Data, "price", "list_price", "currency")
		if err != nil {
			return err
		}
		if err := pricePatch(f, &p, true); err != nil {
			return err
		}
		p.PriceAt = t

	case KindStock:
		f, err := object("data", e.Data, "stock")
		if err != nil {
			return err
		}
		n, _, err := f.int("stock", true, 0)
		if err != nil {
			return err
		}
		p.Fields, p.Stock, p.StockAt = catalog.FieldStock, n, t

	case KindMetrics:
		m, err := decodeMetrics("data", e.Data)
		if err != nil {
			return err
		}
		p.Fields, p.Metrics, p.MetricsAt = catalog.FieldMetrics, m, t

	case KindUpsert:
		f, err := object("data", e.Data, "title", "description", "brand", "category", "product_type",
			"attributes", "released_at", "currency", "price", "list_price", "stock", "metrics")
		if err != nil {
			return err
		}
		if len(f) == 0 {
			return invalid("data", "sku.upsert needs at least one field")
		}
		p.Fields = catalog.FieldMarket
		p.Market = e.Market
		for _, s := range []struct {
			name     string
			bit      uint32
			min, max int
			dst      *string
		}{
			{"title", catalog.FieldTitle, 1, MaxTitleLen, &p.Title},
			{"description", catalog.FieldDescription, 0, MaxDescriptionLen, &p.Description},
			{"brand", catalog.FieldBrand, 0, MaxNameLen, &p.Brand},
			{"category", catalog.FieldCategory, 0, MaxNameLen, &p.Category},
			{"product_type", catalog.FieldProductType, 0, MaxNameLen, &p.ProductType},
		} {
			v, ok, err := f.str(s.name, s.min, s.max)
			if err != nil {
				return err
			}
			if ok {
				p.Fields |= s.bit
				*s.dst = v
			}
		}
		if raw, ok := f["attributes"]; ok {
			if firstByte(raw) != '{' || !json.Valid(raw) {
				return invalid("data.attributes", "must be an object")
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return invalid("data.attributes", "must be an object")
			}
			p.Fields |= catalog.FieldAttributes
			p.Attributes = buf.Bytes()
		}
		if raw, ok := f["released_at"]; ok {
			p.Fields |= catalog.FieldReleasedAt
			if !isNull(raw) {
				s, ok := jsonString(raw)
				if !ok {
					return invalid("data.released_at", "must be a date-time string or null")
				}
				rt, err := parseTime(s)
				if err != nil {
					return invalid("data.released_at", "%v", err)
				}
				p.ReleasedAt = &rt
			}
		}
		p.ContentAt = t
		if err := pricePatch(f, &p, false); err != nil {
			return err
		}
		if p.Fields&(catalog.FieldPrice|catalog.FieldListPrice|catalog.FieldCurrency) != 0 {
			p.PriceAt = t
		}
		if n, ok, err := f.int("stock", false, 0); err != nil {
			return err
		} else if ok {
			p.Fields |= catalog.FieldStock
			p.Stock, p.StockAt = n, t
		}
		if raw, ok := f["metrics"]; ok {
			m, err := decodeMetrics("data.metrics", raw)
			if err != nil {
				return err
			}
			p.Fields |= catalog.FieldMetrics
			p.Metrics, p.MetricsAt = m, t
		}
	}
	d.Patch = p
	return nil
}

func pricePatch(f fields, p *catalog.Patch, required bool) error {
	n, ok, err := f.int("price", required, 0)
	if err != nil {
		return err
	}
	if ok {
		p.Fields |= catalog.FieldPrice
		p.Price = n
	}
	if n, ok, err := f.int("list_price", false, 0); err != nil {
		return err
	} else if ok {
		p.Fields |= catalog.FieldListPrice
		p.ListPrice = n
	}
	if c, ok, err := f.currency("currency"); err != nil {
		return err
	} else if ok {
		p.Fields |= catalog.FieldCurrency
		p.Currency = c
	}
	return nil
}

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
	if err := d.decodeEnvelope(top, o); err != nil {
		return d, err
	}
	if err := d.buildPatch(); err != nil {
		return d, err
	}
	if err := d.Patch.Validate(); err != nil {
		return d, &ValidationError{Reason: err.Error()}
	}
	return d, nil
}

// decodeEnvelope checks the envelope's fields in a fixed order (the first broken rule is the
// error) and fills d.Event; Data is the payload's raw JSON, checked by the kind's decoder.
func (d *Decoded) decodeEnvelope(top fields, o DecodeOptions) error {
	for k := range top {
		switch k {
		case "v", "event_id", "kind", "sku_id", "market", "event_time", "data":
		default:
			return invalid(k, "unknown field")
		}
	}
	var env [4]string // event_id, kind, market, event_time
	var has [4]bool
	for i, name := range [...]string{"event_id", "kind", "market", "event_time"} {
		if raw, ok := top[name]; ok {
			if env[i], has[i] = jsonString(raw); !has[i] {
				return invalid(name, "must be a string")
			}
		}
	}
	e := &d.Event
	vraw, ok := top["v"]
	if !ok {
		return invalid("v", "required")
	}
	if v, err := intValue(vraw); err != nil || v != SchemaVersion {
		return invalid("v", "unsupported version %s (this decoder reads %d)", vraw, SchemaVersion)
	}
	e.V = SchemaVersion
	if !has[0] {
		return invalid("event_id", "required")
	}
	if n := utf8.RuneCountInString(env[0]); n == 0 || n > MaxEventIDLen {
		return invalid("event_id", "must be 1..%d characters", MaxEventIDLen)
	}
	e.EventID = env[0]
	if !has[1] {
		return invalid("kind", "required")
	}
	if e.Kind = Kind(env[1]); !validKind(e.Kind) {
		return invalid("kind", "unknown kind %q", env[1])
	}
	rawID, ok := top["sku_id"]
	if !ok {
		return invalid("sku_id", "required")
	}
	id, err := parseSKUID(rawID)
	if err != nil {
		return err
	}
	e.SKUID = id
	if !has[2] {
		return invalid("market", "required")
	}
	if !catalog.ValidMarket(env[2]) {
		return invalid("market", "unknown market %q (one of SG MY TH ID PH VN ALL)", env[2])
	}
	e.Market = env[2]
	if !has[3] {
		return invalid("event_time", "required")
	}
	t, err := eventTime(env[3], o)
	if err != nil {
		return err
	}
	e.EventTime = t
	data, ok := top["data"]
	switch {
	case !ok && e.Kind != KindDelete:
		return invalid("data", "required for %s", e.Kind)
	case ok && firstByte(data) != '{':
		return invalid("data", "must be an object")
	case ok:
		e.Data = data
	}
	return nil
}

// eventTime parses the envelope's event_time and checks it against o's future-skew limit.
func eventTime(s string, o DecodeOptions) (time.Time, error) {
	t, err := parseTime(s)
	if err != nil {
		return t, invalid("event_time", "%v", err)
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
			return t, invalid("event_time", "%s is more than %v in the future", s, skew)
		}
	}
	return t, nil
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

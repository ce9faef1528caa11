package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"selection/catalog"
)

var testNow = time.Date(2025, 11, 11, 12, 0, 0, 0, time.UTC)

const metricsJSON = `{"sales_1h":1,"sales_24h":5,"sales_7d":20,"gmv_1h":1000,"gmv_24h":5000,"gmv_7d":20000,"views_1h":10,"views_24h":100,"views_7d":900,"rating":4.5,"rating_count":12}`

// eventSamples are valid and invalid events; the schema and the decoder must agree on each.
var eventSamples = []struct {
	name  string
	json  string
	valid bool
}{
	{"price", `{"v":1,"event_id":"e1","kind":"price.update","sku_id":"42","market":"SG","event_time":"2025-11-11T11:59:00Z","data":{"price":1999}}`, true},
	{"price full", `{"v":1,"event_id":"e1","kind":"price.update","sku_id":42,"market":"MY","event_time":"2025-11-11T11:59:00.123456+08:00","data":{"price":1999,"list_price":2999,"currency":"MYR"}}`, true},
	{"stock", `{"v":1,"event_id":"e2","kind":"stock.update","sku_id":"7","market":"TH","event_time":"2025-11-11T11:00:00Z","data":{"stock":0}}`, true},
	{"metrics", `{"v":1,"event_id":"e3","kind":"metrics.update","sku_id":"7","market":"ID","event_time":"2025-11-11T11:00:00Z","data":` + metricsJSON + `}`, true},
	{"delete", `{"v":1,"event_id":"e4","kind":"sku.delete","sku_id":"9223372036854775807","market":"PH","event_time":"2025-11-11T11:00:00Z"}`, true},
	{"delete reason", `{"v":1,"event_id":"e4","kind":"sku.delete","sku_id":"5","market":"PH","event_time":"2025-11-11T11:00:00Z","data":{"reason":"discontinued"}}`, true},
	{"upsert full", `{"v":1,"event_id":"e5","kind":"sku.upsert","sku_id":"5","market":"VN","event_time":"2025-11-11T11:00:00Z","data":{"title":"Logitech G502 gaming mouse","description":"Wired","brand":"Logitech","category":"Computers > Mice","product_type":"Mouse","attributes":{"colour":"black","dpi":25600},"released_at":"2019-01-01T00:00:00Z","currency":"VND","price":1500000,"list_price":1800000,"stock":12,"metrics":` + metricsJSON + `}}`, true},
	{"upsert partial", `{"v":1,"event_id":"e6","kind":"sku.upsert","sku_id":"5","market":"ALL","event_time":"2025-11-11T11:00:00Z","data":{"title":"New title"}}`, true},
	{"upsert released null", `{"v":1,"event_id":"e6","kind":"sku.upsert","sku_id":"5","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"released_at":null}}`, true},
	{"integral float", `{"v":1,"event_id":"e7","kind":"stock.update","sku_id":3,"market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":10.0}}`, true},
	{"future within skew", `{"v":1,"event_id":"e8","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T12:04:00Z","data":{"stock":1}}`, true},

	{"not json", `{"v":1,"event_id":`, false},
	{"array", `[1,2]`, false},
	{"trailing", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}} {}`, false},
	{"version 2", `{"v":2,"event_id":"e1","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"version string", `{"v":"1","event_id":"e1","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"no version", `{"event_id":"e1","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"no event id", `{"v":1,"kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"empty event id", `{"v":1,"event_id":"","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"long event id", `{"v":1,"event_id":"` + strings.Repeat("x", 257) + `","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"unknown kind", `{"v":1,"event_id":"e1","kind":"stock.set","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"no sku id", `{"v":1,"event_id":"e1","kind":"stock.update","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"zero sku id", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"0","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"negative sku id", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":-3,"market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"sku id letters", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"12a","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"sku id leading zero", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"012","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"sku id fraction", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":1.5,"market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"bad market", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"3","market":"US","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"lower-case market", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"3","market":"sg","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"no market", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"3","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"no time", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"3","market":"SG","data":{"stock":1}}`, false},
	{"bad time", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"3","market":"SG","event_time":"yesterday","data":{"stock":1}}`, false},
	{"time without zone", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00","data":{"stock":1}}`, false},
	{"unknown field", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1},"extra":1}`, false},
	{"upper-case field", `{"v":1,"EVENT_ID":"e1","event_id":"e1","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`, false},
	{"no data", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z"}`, false},
	{"null data", `{"v":1,"event_id":"e1","kind":"sku.delete","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":null}`, false},
	{"data array", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":[1]}`, false},
	{"negative price", `{"v":1,"event_id":"e1","kind":"price.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"price":-1}}`, false},
	{"price string", `{"v":1,"event_id":"e1","kind":"price.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"price":"10"}}`, false},
	{"price fraction", `{"v":1,"event_id":"e1","kind":"price.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"price":10.5}}`, false},
	{"no price", `{"v":1,"event_id":"e1","kind":"price.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"list_price":10}}`, false},
	{"bad currency", `{"v":1,"event_id":"e1","kind":"price.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"price":10,"currency":"sgd"}}`, false},
	{"price typo", `{"v":1,"event_id":"e1","kind":"price.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"price":10,"prcie":10}}`, false},
	{"negative stock", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":-2}}`, false},
	{"stock delta", `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"delta":-2}}`, false},
	{"metrics missing", `{"v":1,"event_id":"e1","kind":"metrics.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"sales_1h":1}}`, false},
	{"rating high", `{"v":1,"event_id":"e1","kind":"metrics.update","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":` + strings.Replace(metricsJSON, `"rating":4.5`, `"rating":5.5`, 1) + `}`, false},
	{"upsert empty", `{"v":1,"event_id":"e1","kind":"sku.upsert","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{}}`, false},
	{"upsert no data", `{"v":1,"event_id":"e1","kind":"sku.upsert","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z"}`, false},
	{"upsert empty title", `{"v":1,"event_id":"e1","kind":"sku.upsert","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"title":""}}`, false},
	{"upsert attributes array", `{"v":1,"event_id":"e1","kind":"sku.upsert","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"attributes":["a"]}}`, false},
	{"upsert bad metrics", `{"v":1,"event_id":"e1","kind":"sku.upsert","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"metrics":{"sales_1h":1}}}`, false},
	{"upsert long brand", `{"v":1,"event_id":"e1","kind":"sku.upsert","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"brand":"` + strings.Repeat("b", 201) + `"}}`, false},
	{"upsert unknown field", `{"v":1,"event_id":"e1","kind":"sku.upsert","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"title":"x","colour":"red"}}`, false},
	{"delete unknown field", `{"v":1,"event_id":"e1","kind":"sku.delete","sku_id":"3","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"why":"x"}}`, false},
}

func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(EventSchema))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource("events.schema.json", doc))
	s, err := c.Compile("events.schema.json")
	require.NoError(t, err)
	return s
}

func TestSchemaAgreesWithDecoder(t *testing.T) {
	schema := compileSchema(t)
	for _, s := range eventSamples {
		t.Run(s.name, func(t *testing.T) {
			_, derr := DecodeEvent([]byte(s.json), DecodeOptions{Now: testNow})
			var serr error
			if inst, err := jsonschema.UnmarshalJSON(strings.NewReader(s.json)); err != nil {
				serr = err
			} else {
				serr = schema.Validate(inst)
			}
			require.Equal(t, s.valid, derr == nil, "decoder: %v", derr)
			require.Equal(t, s.valid, serr == nil, "schema: %v", serr)
			if derr != nil {
				var ve *ValidationError
				require.ErrorAs(t, derr, &ve)
				require.NotEmpty(t, ve.Reason)
			}
		})
	}
}

// Rules the schema cannot state: the future-skew limit and 64-bit ids.
func TestDecodeEventDecoderOnlyRules(t *testing.T) {
	future := `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"3","market":"SG","event_time":"2025-11-11T12:06:00Z","data":{"stock":1}}`
	_, err := DecodeEvent([]byte(future), DecodeOptions{Now: testNow})
	require.ErrorContains(t, err, "in the future")
	_, err = DecodeEvent([]byte(future), DecodeOptions{Now: testNow, MaxSkew: -1})
	require.NoError(t, err, "replay turns the skew check off")

	big := `{"v":1,"event_id":"e1","kind":"stock.update","sku_id":"9223372036854775808","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":1}}`
	_, err = DecodeEvent([]byte(big), DecodeOptions{Now: testNow})
	require.ErrorContains(t, err, "64 bits")
}

func TestDecodeEventPatches(t *testing.T) {
	at := time.Date(2025, 11, 11, 11, 0, 0, 0, time.UTC)
	dec := func(js string) catalog.Patch {
		t.Helper()
		d, err := DecodeEvent([]byte(js), DecodeOptions{Now: testNow})
		require.NoError(t, err)
		return d.Patch
	}
	p := dec(eventSamples[6].json) // upsert full
	require.Equal(t, int64(5), p.ID)
	require.Equal(t, "VN", p.Market)
	require.Equal(t, "Logitech G502 gaming mouse", p.Title)
	require.Equal(t, "Computers > Mice", p.Category)
	require.JSONEq(t, `{"colour":"black","dpi":25600}`, string(p.Attributes))
	require.Equal(t, int64(1500000), p.Price)
	require.Equal(t, int64(1800000), p.ListPrice)
	require.Equal(t, "VND", p.Currency)
	require.Equal(t, int64(12), p.Stock)
	require.Equal(t, float32(4.5), p.Metrics.Rating)
	require.Equal(t, int64(20000), p.Metrics.GMV7d)
	require.Equal(t, time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), *p.ReleasedAt)
	for _, got := range []time.Time{p.ContentAt, p.PriceAt, p.StockAt, p.MetricsAt} {
		require.Equal(t, at, got)
	}
	require.Nil(t, p.DeleteAt)

	p = dec(eventSamples[7].json) // upsert partial: title only
	require.Equal(t, catalog.FieldMarket|catalog.FieldTitle, p.Fields)
	require.True(t, p.PriceAt.IsZero())

	p = dec(eventSamples[0].json)
	require.Equal(t, catalog.FieldPrice, p.Fields)
	require.Equal(t, int64(1999), p.Price)
	require.Equal(t, time.Date(2025, 11, 11, 11, 59, 0, 0, time.UTC), p.PriceAt)

	p = dec(eventSamples[1].json)
	require.Equal(t, catalog.FieldPrice|catalog.FieldListPrice|catalog.FieldCurrency, p.Fields)
	require.Equal(t, time.Date(2025, 11, 11, 3, 59, 0, 123456000, time.UTC), p.PriceAt, "times are kept in UTC")

	p = dec(eventSamples[4].json)
	require.Equal(t, uint32(0), p.Fields)
	require.Equal(t, int64(9223372036854775807), p.ID)
	require.Equal(t, at, *p.DeleteAt)

	p = dec(eventSamples[2].json)
	require.Equal(t, catalog.FieldStock, p.Fields)
	require.Equal(t, int64(0), p.Stock)
}

func TestDecodeEventErrorsNameTheField(t *testing.T) {
	for _, c := range []struct{ sample, field string }{
		{"negative price", "data.price"},
		{"bad market", "market"},
		{"unknown kind", "kind"},
		{"price typo", "data.prcie"},
		{"upsert bad metrics", "data.metrics.sales_24h"},
		{"no time", "event_time"},
		{"unknown field", "extra"},
	} {
		var js string
		for _, s := range eventSamples {
			if s.name == c.sample {
				js = s.json
			}
		}
		require.NotEmpty(t, js, c.sample)
		_, err := DecodeEvent([]byte(js), DecodeOptions{Now: testNow})
		var ve *ValidationError
		require.True(t, errors.As(err, &ve), "%s: %v", c.sample, err)
		require.Equal(t, c.field, ve.Field, "%s: %v", c.sample, err)
	}
}

func TestEventRoundTrip(t *testing.T) {
	at := testNow.Add(-time.Minute)
	lp := int64(2500)
	title, cur := "Mouse", "SGD"
	stock := int64(3)
	m := MetricsData{Sales1h: 1, Sales24h: 2, Sales7d: 3, Rating: 4}
	for _, c := range []struct {
		kind Kind
		data any
	}{
		{KindPrice, PriceData{Price: 1999, ListPrice: &lp, Currency: &cur}},
		{KindStock, StockData{Stock: 0}},
		{KindMetrics, m},
		{KindDelete, nil},
		{KindUpsert, UpsertData{Title: &title, Stock: &stock, Metrics: &m}},
		{KindUpsert, UpsertData{ClearReleasedAt: true}},
	} {
		e, err := NewEvent("id-"+string(c.kind), c.kind, 77, "SG", at, c.data)
		require.NoError(t, err)
		b, err := e.Marshal()
		require.NoError(t, err)
		d, err := DecodeEvent(b, DecodeOptions{Now: testNow})
		require.NoError(t, err, "%s", b)
		require.Equal(t, e.EventID, d.EventID)
		require.Equal(t, e.SKUID, d.SKUID)
		require.Equal(t, at, d.EventTime)
		require.NoError(t, compileSchema(t).Validate(mustJSON(t, b)), "%s", b)
		if u, ok := c.data.(UpsertData); ok {
			back, err := decodeUpsert(d.Data)
			require.NoError(t, err)
			require.Equal(t, u, back, "%s", d.Data)
		}
	}
}

func mustJSON(t testing.TB, b []byte) any {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	return v
}

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range eventSamples {
		f.Add([]byte(s.json))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeEvent(b, DecodeOptions{Now: testNow})
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Reason == "" {
				t.Fatalf("error is not a ValidationError with a reason: %T %v", err, err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if err := d.Patch.Validate(); err != nil {
			t.Fatalf("accepted event maps to an invalid patch: %v", err)
		}
		if d.SKUID <= 0 || d.EventID == "" || !catalog.ValidMarket(d.Market) || d.EventTime.After(testNow.Add(DefaultMaxSkew)) {
			t.Fatalf("accepted an event breaking the envelope rules: %+v", d.Event)
		}
		// Re-encoding an accepted event and decoding it again gives the same patch.
		b2, err := d.Event.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := DecodeEvent(b2, DecodeOptions{Now: testNow})
		if err != nil {
			t.Fatalf("re-encoded event %s rejected: %v", b2, err)
		}
		if fmt.Sprint(d2.Patch) != fmt.Sprint(d.Patch) {
			t.Fatalf("patch changed on re-encoding:\n%+v\n%+v", d.Patch, d2.Patch)
		}
	})
}

func ExampleDecodeEvent() {
	d, err := DecodeEvent([]byte(`{"v":1,"event_id":"px-1","kind":"price.update","sku_id":"3920564",
		"market":"SG","event_time":"2025-11-11T11:59:00Z","data":{"price":4495,"list_price":4995}}`), DecodeOptions{})
	fmt.Println(d.SKUID, d.Patch.Price, d.Patch.ListPrice, err)
	_, err = DecodeEvent([]byte(`{"v":1,"event_id":"px-2","kind":"price.update","sku_id":"3920564",
		"market":"SG","event_time":"2025-11-11T11:59:00Z","data":{"price":-5}}`), DecodeOptions{})
	fmt.Println(err)
	// Output:
	// 3920564 4495 4995 <nil>
	// invalid event: data.price: must be at least 0, not -5
}

// The fast path and encoding/json agree on every input: the same event and patch, or both an
// error.
func FuzzFastPathAgrees(f *testing.F) {
	for _, s := range eventSamples {
		f.Add([]byte(s.json))
	}
	f.Add([]byte(`{"v":1,"event_id":"a","kind":"price.update","sku_id":"1","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"price":1,"price":2}}`))
	f.Add([]byte(`{"v":1,"event_id":"caf\u00e9","kind":"stock.update","sku_id":"1","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"stock":01}}`))
	f.Add([]byte(`{"v":1.0,"event_id":"a","kind":"metrics.update","sku_id":"1","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"rating":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ferr := DecodeEvent(b, DecodeOptions{Now: testNow})
		noFastPath = true
		slow, serr := DecodeEvent(b, DecodeOptions{Now: testNow})
		noFastPath = false
		if (ferr == nil) != (serr == nil) {
			t.Fatalf("fast path: %v, encoding/json: %v", ferr, serr)
		}
		if ferr == nil && fmt.Sprint(fast) != fmt.Sprint(slow) {
			t.Fatalf("different results:\n%+v\n%+v", fast, slow)
		}
	})
}

package ingest

import (
	"testing"
	"time"
)

func BenchmarkDecodeEvent(b *testing.B) {
	for _, c := range []struct{ name, json string }{
		{"price", `{"v":1,"event_id":"b1764124800-123456","kind":"price.update","sku_id":"42137","market":"SG","event_time":"2025-11-11T11:59:00.123456789Z","data":{"price":1999}}`},
		{"stock", `{"v":1,"event_id":"b1764124800-123457","kind":"stock.update","sku_id":"42137","market":"SG","event_time":"2025-11-11T11:59:00.123456789Z","data":{"stock":17}}`},
		{"upsert", eventSamples[6].json},
	} {
		b.Run(c.name, func(b *testing.B) {
			in := []byte(c.json)
			o := DecodeOptions{Now: time.Date(2025, 11, 11, 12, 0, 0, 0, time.UTC)}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := DecodeEvent(in, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

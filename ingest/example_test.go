package ingest_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"selection/ingest"
)

func ExampleNewEvent() {
	at := time.Date(2025, 11, 11, 0, 0, 3, 0, time.UTC)
	list := int64(4995)
	e, _ := ingest.NewEvent("pos-7781-0001", ingest.KindPrice, 3920564, "SG", at,
		ingest.PriceData{Price: 4495, ListPrice: &list})
	b, _ := e.Marshal()
	fmt.Println(string(b))
	// Output:
	// {"v":1,"event_id":"pos-7781-0001","kind":"price.update","sku_id":"3920564","market":"SG","event_time":"2025-11-11T00:00:03Z","data":{"price":4495,"list_price":4995}}
}

func ExampleReadCSV() {
	csv := "sku_id,market,title,currency,price,stock\n" +
		"501,SG,USB stick 64 GB,SGD,1290,40\n" +
		"502,SG,Laser printer,SGD,49.90,3\n"
	at := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	_ = ingest.ReadCSV(context.Background(), "prices.csv", strings.NewReader(csv), ingest.CSVOptions{EventTime: at},
		func(r ingest.Record) error {
			if r.Err != nil {
				fmt.Println(r.Source, "dead letter:", r.Err)
				return nil
			}
			fmt.Println(r.Source, r.Event.Kind, r.Event.SKUID, r.Event.Patch.Title, r.Event.Patch.Price)
			return nil
		})
	// Output:
	// file:prices.csv:2 sku.upsert 501 USB stick 64 GB 1290
	// file:prices.csv:3 dead letter: invalid event: data.price: "49.90" is not an integer (money is in minor units)
}

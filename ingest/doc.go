// Package ingest brings product data in: the versioned event schema, the Kafka consumer
// (franz-go), batch files, dead letters, and replay of the sku_events table.
//
// # Icecat
//
// ReadIcecat and ReadIcecatDir stream the Icecat open catalogue (19,406 real products in four
// zipped JSON arrays) one product at a time with a token-level json.Decoder, so memory stays at
// one product however large the file. A product that cannot be decoded (a non-numeric id, a
// price given as a string, no title) is reported as a ProductError with its file and index, and
// the others are read regardless.
//
// Icecat has products, brands, descriptions, attributes and US prices, but no markets, stock,
// list prices, ratings or sales. IcecatProduct.Patch keeps the price in US cents with currency
// USD and adds deterministic generated facts (IcecatProduct.Facts) from a SplitMix64 hash of the
// product id, so every run gives the same values: the market (uniform over SG MY TH ID PH VN),
// the list price (30% of products discounted 5-50%), the stock (8% out of stock, the rest 1-500,
// mostly under 60) and heavy-tailed sales, GMV, views and ratings (15% unrated). The SKU's
// attributes say so: "_generated" lists the generated fields and "_source" is "icecat". The SKU
// id is the Icecat id, which the relevance judgments reference.
package ingest

// Package tagger owns tag definitions and the in-memory roaring64 index over SKU ordinals
// (tags, categorical attributes, BSI numeric columns), its persistence in tag_bitmaps, and
// auto-tagging from vector neighbourhoods.
//
// # The index
//
// Index holds, for the dense internal ordinals of skus (never raw 64-bit SKU ids: random ids
// cost one roaring container each and were slower than Postgres GIN; dense ordinals pack 65,536
// SKUs per container):
//
//   - the live universe (a bitmap);
//   - a bitmap per categorical value: market, brand, category, product_type, currency, in_stock;
//   - a roaring64.BSI column per numeric field: price and list_price (minor units), discount
//     (percent), rating (x100), rating_count, stock, and the sales, GMV and views windows;
//   - a bitmap per tag, and for tags whose memberships have a confidence, a BSI of
//     confidence x1000;
//   - ordinal -> SKU id (a dense slice) and SKU id -> ordinal (a map).
//
// Filters are Expr values (And, Or, Not, Tag, Attr, Range, All) with a JSON form the selection
// engine embeds in its plans and a text form for people (`brand = Logitech and price < 5000`).
// Index.Eval answers with a bitmap of the caller's own; NOT is relative to the live universe; an
// unknown tag or field is an error. And-terms are intersected smallest first, negated terms are
// subtracted, and numeric ranges run last over the few candidates left.
//
// Ranges are faster than the BSI's own CompareValue (which walks every bit plane with two
// bitmap operations each, ~2-3 ms over 1M SKUs whatever the candidates): each numeric column
// gets, on its first range query (or Index.Prepare), a range accelerator of dense values and
// 32 range-encoded bitmaps at the column's quantiles. A range is then two bitmap operations for
// the buckets wholly inside plus a value check of the candidates in the two edge buckets; small
// candidate sets (< 16,384) are checked value by value. BenchmarkRange measures the three ways.
//
// Concurrency: many readers, one writer, under a sync.RWMutex; an evaluation holds the read
// lock for its duration (microseconds to a millisecond at 1M SKUs).
package tagger

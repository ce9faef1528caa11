// Package filter is the in-memory roaring64 index over SKU ordinals and the filter language
// evaluated over it: tags, categorical attributes and BSI numeric columns, the Expr types with
// their JSON and text forms, evaluation, top-k by a numeric field, and the index's snapshot in
// tag_bitmaps. Package tagger keeps the index loaded and fresh and decides tag memberships;
// this package knows tags only as named bitmaps.
//
// A filter is built from And, Or, Not, Tag, Attr and Range (or parsed from its text or JSON
// form) and evaluated into a bitmap of ordinals:
//
//	ix := filter.NewIndex()
//	r := filter.Row{Ordinal: 0, ID: 9_000_000_000_000, Live: true}
//	_ = r.Set("brand", "Logitech")
//	_ = r.Set("price", "1999")
//	ix.Upsert([]filter.Row{r})
//
//	e, err := filter.ParseExpr("brand = logitech and price < 2500")
//	// the same: filter.And(filter.Attr("brand", "logitech"), filter.Below("price", 2500))
//	bm, err := ix.Eval(e)                              // a bitmap of ordinals, the caller's own
//	ids := ix.SKUIDs(bm, 0)                            // [9000000000000]
//	ords, vals, err := ix.TopK("price", 10, bm, false) // cheapest first
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
//     (percent), rating (x100), rating_count, stock, the sales, GMV and views windows, and
//     released (days since 1970-01-01; 0 when unknown), which "newest" ranks by;
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
// Filters come from API callers, so their cost is bounded: at most 64 levels of nesting,
// MaxTerms (1,000) terms and MaxRanges (16) numeric ones, refused by Validate and by both
// parsers at the first term too many (a 1 MiB text body of `not brand = x or ...` is refused
// after reading 8.5 KB of it). Evaluation never copies the live universe per NOT: a result is
// a bitmap or the complement of one, NOT flips which, an OR of negated parts is the complement
// of their intersection (its ranges evaluated only over what that leaves), an AND of them the
// complement of their union, and the universe is copied once at the end if the answer is a
// complement. The index's own bitmaps are combined by reference and an operator's computed
// parts are merged as they come, so at most one per operator is alive. Index.EvalContext looks
// at its context every 8 terms. BenchmarkEvalWidest measures the widest filters
// the bounds allow (figures in the README).
//
// Ranges are faster than the BSI's own CompareValue (which walks every bit plane with two
// bitmap operations each, whatever the candidates): each numeric column
// gets, on its first range query (or Index.Prepare), a range accelerator of dense values and
// 32 range-encoded bitmaps at the column's quantiles. A range is then two bitmap operations for
// the buckets wholly inside plus a value check of the candidates in the two edge buckets; small
// candidate sets (< 16,384) are checked value by value. BenchmarkRange measures the three ways.
//
// Concurrency: many readers, one writer, under a sync.RWMutex; an evaluation holds the read
// lock for its duration.
//
// Journal: with KeepJournal(d), each Upsert is a generation and keeps, for d, the rows it
// replaced (about 300 bytes each; a bulk write of more than 50,000 rows, or Replace, is not
// journaled row by row and forgets what came before). StatesSince(gen, set) returns what each
// ordinal held in every state since generation gen, oldest first, or says it cannot. The tagger
// keeps it when configured (tagger.Config.JournalFor) and maps its event snapshots to generations; the pool refresher uses it to
// tell that a SKU whose price or stock changed passed a pool's filter all along, and after each
// pass releases what no version of its pools needs (ReleaseJournal), so d is an upper bound.
//
// Kept answers: Eval and EvalContext keep the answer of each expression (256 at most, the
// least recently used going first) at the version it was read at, and bring it up to date by
// evaluating the expression again over the ordinals written since only (Upsert's rows,
// SetTagBits' members): an expression's answer for a SKU depends on that SKU's row and tags
// alone. SetTag, DropTag, Replace and a load of saved tags may change any answer: those read
// before them are evaluated afresh, as are those with more than an eighth of the live SKUs
// written since. Pools share few filters and a write touches few SKUs, so a refresh pass's
// whole-catalogue evaluations are mostly a patch and a copy (evalmemo.go). The log of written
// ordinals keeps what the kept answers need: each time it doubles it drops the writes before
// the oldest answer, and the answers more writes than half the live SKUs followed.
//
// `selection bench tags` compares the index with Postgres' best layout (int4[] + GIN) on the
// same SKUs and tags, for speed and storage, and times loading the saved index against building
// it from skus (figures in the README): loading is much faster, so the service loads the
// snapshot and replays the events since.
//
// # Saving
//
// Store.SaveSnapshot writes every bitmap and BSI (portable roaring64 format; keys "live",
// "brand:Logitech", "bsi:price", "tag:12", "tagconf:12") to tag_bitmaps with the pg_snapshot
// it reflects (tag_index_state); Store.LoadSnapshot reads it back in one repeatable-read snapshot (with the ordinal -> id map
// from skus); a snapshot saved by an older version (another layout, or without a numeric column
// that exists now) is refused with ErrOutdated, and the caller builds from skus instead.
package filter

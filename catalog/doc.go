// Package catalog is the SKU catalogue: the SKU type and its Postgres store.
//
// Writes are patches of field groups, each stamped with its event time; reads are by SKU id:
//
//	store := catalog.NewStore(pool)
//	res, err := store.Upsert(ctx, []catalog.Patch{{ID: 9_000_000_000_001,
//		Fields: catalog.FieldPrice | catalog.FieldListPrice, Price: 1999, ListPrice: 2499, PriceAt: eventTime}})
//	// res.Inserted, res.Updated, res.Stale (older than what is stored), res.TextChanged
//	sku, err := store.Get(ctx, 9_000_000_000_001) // ErrNotFound when unknown
//
// Every SKU has a 64-bit external id and, on first sight, a dense internal ordinal from the
// sku_ordinal_seq sequence, assigned once in arrival order and never reused (a deletion is a
// tombstone, not a removed row). Every bitmap in the system holds ordinals, never raw ids: roaring
// bitmaps compress runs of nearby integers in 2^16-wide containers, so random 64-bit ids cost one
// container each (an index over them was slower than Postgres GIN and many times larger), while
// dense ordinals pack 65,536 SKUs per container (the README's figures table compares the tag
// index over ordinals with GIN).
//
// Writes are patches: any subset of a SKU's fields, in four field groups (content, price, stock,
// metrics) each stamped with the event time it comes from, plus deletions. Apply writes a group
// only when its event time is at least the stored one, so an older event never overwrites newer
// data, re-applying is harmless, and full-group events converge to the same state in any order
// (TestApplyOrderDoesNotMatter). Deletion is its own group: a SKU is live while its content is
// newer than its newest delete (the generated column skus.live).
//
// Apply is set-based: one COPY into a temporary staging table, then one UPDATE with the guards
// for the SKUs that exist and, only when some do not, one INSERT for those (ordinals in arrival
// order; a SKU another transaction inserted meanwhile is then updated), per round; a round holds at most
// one patch per SKU, and patches for one SKU merge into a round whenever the guards allow, so a
// batch usually needs a single round. Text changes (the generated content_hash differs) queue the
// SKU in embed_queue in the same statement; price, stock and metrics never do.
package catalog

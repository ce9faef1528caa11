// Package selection turns a campaign scenario into a plan (filters, semantic query, ranking),
// executes it against the tag index and the vector index, and keeps the resulting pools with
// their versions and diffs.
//
// A scenario becomes a plan through the deterministic parser (or an LLM planner), and an
// Executor runs the plan against the tag index and a Retriever:
//
//	parsed := selection.NewParser(vocab).Parse("top 20 gaming mice by Razer under $50, in stock, in Singapore")
//	// parsed.Query "gaming mice", Brands [Razer], Markets [SG], PriceMax 5000 (SGD cents), Limit 20
//	plan, notes := selection.FromParsed(parsed, "USD") // the filter, prices in the catalogue's currency
//	ex := &selection.Executor{Index: tags, Retriever: search.Retriever{Searcher: eng}}
//	res, err := ex.Run(ctx, plan)
//	for _, it := range res.Items {
//		fmt.Println(it.Rank, it.SKUID, it.Why)
//	}
//
// Service wraps the two with the pool store: PlanScenario, Preview, CreatePool, Refresh.
//
// Pools are sets first. A plan's Intent names the product types the scenario means (resolved
// by an IntentResolver, search.Intents in the service; editable like any other part): the pool
// is every SKU of those types that passes the filter, plus (Intent.Widen) the SKUs of other
// types whose text holds every word of the query, ranked as asked, up to the limit. A Result
// says how many matched and why it stops where it does:
//
//	res, _ := svc.Preview(ctx, plan)
//	fmt.Println(res.Matched, res.Stop) // 10 all 10 SKUs pass the filter and are of the types mouse pad
//
// Refreshing. A pool's version records the Position of the engine's in-memory indexes read just
// before it was ranked: the tag index's pg_snapshot in sku_events, and the stamps the vector and
// text followers read sku_vectors and skus from. RefreshAll re-runs a pool only when a SKU that
// changed after that position is a member or is admitted by the pool's filter, and the change
// can move it (touch.go): a pin moves only by going out of stock or coming back; a pool ranked
// by a field, only by a member's value or an admitted SKU's beating the last member's; a pool
// ranked by relevance and filled after its hits with its types' best sellers, only by a hit's
// text or vector, or by sales in that tail. When only the values a pool's ordered part is
// sorted by changed (a field-ranked pool's members, or that tail) and nothing can enter or
// leave, the part is sorted again from the filter index without running the plan (the version
// then holds at the pass's position, read before the changes). A SKU whose only changes are to
// fields the pool's filter reads (a price, a stock level) and not its ranking is not admitted
// when it passed the filter in every state since the version's position: the filter index
// journals the rows it replaces for a few minutes (filter.Index.StatesSince; the tagger maps
// its event snapshots to the journal's generations, Service.GenerationAt and PastStates), so
// the refresh knows that the SKU passed at the version's ranking and was not chosen, and
// nothing the ranking reads moved. That holds only for versions this process wrote or
// confirmed on this index, when the states agree on every field such events do not write, for
// filters without tags and for plans that do not order a relevance-limited set by a field
// (steadyAmong says why each).
// Otherwise
// (and when a re-run finds the ranking unchanged) the version is confirmed at the newer
// position; a run that moves the border between hits and tail writes a version, as the tail is
// read from its scores (0). A pass is a pipeline: the next page of pools is read while the
// workers refresh this one, pools go to whichever worker is free, and a page is confirmed
// when its last pool is done.
// Comparing snapshots rather than event seqs means neither an index a poll behind nor a
// transaction that took a lower seq and committed later can hide a change to those tables.
// (What the skip cannot see: effects on a ranking through SKUs that are neither members nor
// admitted, such as BM25 term statistics of a text query, and tag indexes rebuilt by another
// process without a table change; a manual refresh re-runs the plan regardless.) A new version is
// written only on top of the version the refresh started from and for the plan it ran
// (concurrent refreshes and edits retry instead of adding duplicates); a pool and its first
// version are written in one transaction.
package selection

// Package scenariobench is `selection bench scenario --skus N`: it times scenario-to-pool end to
// end on the Icecat catalogue (N = 19,406) or on the catalogue plus synthetic variants (N up to
// millions), measures the recall of the dense search the engine relies on, and compares with
// Postgres answering the same plans alone. Its last line is
//
//	scenario skus=<n> p50_ms=<n> p95_ms=<n> recall_at10_min=<n>
//
// # What one pass is
//
// The command builds (or reuses) the data set, then measures the stack serve would build over it:
//
//	fresh, info, err := scenariobench.EnsureSchema(ctx, admin, scenariobench.DataConfig{SKUs: 1_000_000}, false)
//	// ... build the service over the bench schema: selection.Service, tag and vector indexes
//	t := scenariobench.Target{Service: svc, Index: tags, Vectors: vix, Embedder: emb, DB: pool}
//	rep, err := scenariobench.Run(ctx, t, scenariobench.RunConfig{BaselineRuns: 5}, os.Stdout)
//
// A pass is what the service does to refresh a pool, in process (no HTTP): Service.PlanScenario
// with the deterministic parser (the vocabulary is the index's brands and tags, through the
// same 30-second cache serve uses), the newest sku_events seq (as Service.Refresh reads it),
// Executor.Run (filter over the tag index, hybrid retrieval or a ranking by a field, assembly)
// and PoolStore.AddVersion, which writes the version to the scenario's pool in one transaction.
// The stack is built with serve's constructors and settings (embedder behind the Postgres
// embedding cache, in-memory vector index, lexical index and follower, search engine, tagger
// with its rule tags, selection.Service), pollers running; the API, the Kafka consumer, the
// embedding worker and the pool refresher are left out. Scenarios is a fixed list of 22 briefs
// (product queries with filters, bare queries, pure filters, one selecting 7 SKUs of 19,406 and
// broad ones over the whole catalogue); a test checks that each plans as intended against the
// Icecat brands. Each gets 2 untimed passes, then R timed ones, scenarios interleaved; p50 and
// p95 are over all timed passes. The table gives per scenario the candidates (filter
// cardinality), the method, the results, a fingerprint of the ranking (an A/B run of two builds
// shows whether a change ranks alike), p50/p95 and the median of each stage. --cpuprofile
// writes a profile of the timed passes with a pprof label per scenario
// (go tool pprof -tagfocus scenario=NAME).
//
// # The data set
//
// Built once in a schema of its own (bench_scenario_<N> of DATABASE_URL) and reused while its
// parameters match (--reload rebuilds): the Icecat catalogue through ingest.LoadFile (as
// `selection load`), N - 19,406 variants through catalog.Apply in transactions of 20,000 (a random
// 63-bit id, a random Icecat product's title plus a suffix such as "Black", "2-Pack" or
// "Refurbished", its brand, type and description, its price x 0.85..1.20, market, stock, list
// price, sales and rating drawn from the new id like any Icecat SKU's), then every vector by
// one COPY into sku_vectors: the Icecat products' USE-Lite vectors (from the disk cache the test
// fixture keeps, or embedded once), each variant's its product's vector plus N(0, 0.01²) per
// dimension, renormalised (cosine ~0.975 to its product; embedding a million texts on two
// cores would take hours). The HNSW index is dropped: the in-memory index answers every search
// the service makes, the baseline scans exactly, and building HNSW over 1M vectors on two cores
// takes the better part of an hour. The embedding queue is emptied (the vectors are there) and
// updated_at of skus and sku_vectors is set one second apart by ordinal, because the lexical
// and vector pollers re-read the 5-10 s behind the newest stamp on every poll: with the load's
// own stamps they would re-read the last batches (or all vectors of one COPY) twice a second.
//
// # Recall
//
// recall_at10_min: for each scenario with a query, the top 10 of vectorindex.Index.Search (the
// search the engine's retriever makes: exact float32 below 65,536 candidates, the 1-bit first
// pass with rescoring above) within the plan's exact candidate bitmap, against exact float32
// scoring of every candidate, for the plan's query embedding; ties at the 10th score count as
// found; the minimum over those scenarios. At 19,406 every search is exact (1.000 by
// construction); at 1M most query scenarios take the quantised path.
//
// # The baseline
//
// Postgres alone, same plan, same version write: the filter as SQL over skus (rule tags
// expanded into their rules), with a query the rows nearest the query embedding by exact
// pgvector distance (ORDER BY embedding <=> q over the filtered rows: no HNSW index) reordered
// by the ranking's field when there is one, without one ORDER BY that field. 5 runs per
// scenario up to 100,000 SKUs, 1 above.
//
// # Numbers
//
// The README's figures table has the current p50/p95 and the speed-up over Postgres; its
// figures section keeps the profile at 1M SKUs and the changes it led to.
package scenariobench

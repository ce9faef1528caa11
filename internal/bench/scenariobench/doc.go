// Package scenariobench is `selection bench scenario --skus N`: it times scenario-to-pool end to
// end on the Icecat catalogue (N = 19,406) or on the catalogue plus synthetic variants (N up to
// millions), measures the recall of the dense search the engine relies on, and compares with
// Postgres answering the same plans alone. Its last line is
//
//	scenario skus=<n> p50_ms=<n> p95_ms=<n> recall_at10_min=<n>
//
// # What one pass is
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
// At 1M the build takes about 2 minutes (variants 50 s at ~20,000 SKUs/s, vectors 41 s).
//
// # Recall
//
// recall_at10_min: for each scenario with a query, the top 10 of vectorindex.Index.Search (the
// search the engine's retriever makes: exact float32 below 65,536 candidates, the 1-bit first
// pass with rescoring above) within the plan's exact candidate bitmap, against exact float32
// scoring of every candidate, for the plan's query embedding; ties at the 10th score count as
// found; the minimum over those scenarios. At 19,406 every search is exact (1.000 by
// construction); at 1M, 17 of 18 query scenarios take the quantised path and all reach 1.000.
//
// # The baseline
//
// Postgres alone, same plan, same version write: the filter as SQL over skus (rule tags
// expanded into their rules), with a query the rows nearest the query embedding by exact
// pgvector distance (ORDER BY embedding <=> q over the filtered rows: no HNSW index) reordered
// by the ranking's field when there is one, without one ORDER BY that field. 5 runs per
// scenario up to 100,000 SKUs, 1 above.
//
// # Numbers (2 shared cores; absolute times move 2-3x with the other engineers' load)
//
// 19,406 SKUs (20 timed passes per scenario): p50 2.7 ms, p95 5.0 ms, recall 1.000; Postgres
// alone 18.5x slower (geometric mean of the per-scenario p50 ratios; 10.7x-55.6x). Data set 6 s,
// indexes 1 s.
//
// 1,000,000 SKUs: p50 12.7-13.3 ms and p95 25.6-29.4 ms on quiet runs (17.4/33.3 ms and 39/151 ms
// while other engineers' tests ran), recall 1.000 (17 of 18 query scenarios on the quantised
// path); Postgres alone 112x slower (21x-326x: a filtered exact pgvector scan reads 0.03-1 M
// vectors, 1.1-3.1 s). Data set 1m52s (variants 62 s, vectors 26-41 s, VACUUM 18 s); indexes:
// vectors 16-38 s, lexical 86-131 s, tags 4 s from skus or 1 s from the saved snapshot; heap
// 2.8 GiB, 2.0 of it the vector index.
//
// Profile at 1M: lexical BM25 scoring 41% of the CPU (every posting reads the document's field
// lengths from a 56-byte struct in a 56 MB array: a cache miss each), the tag index's ranges
// and top-k 22%, dense search 19% (the semantic calibration 10%, the rest mostly the recall
// expansion over large candidate sets). Prototyped in a copy of the tree and measured A/B, back
// to back, with identical ranking fingerprints: packed field lengths, one accumulator cell per
// document and a bit set for the candidates in lexical.Index.Search; range edge buckets wholly
// inside a range left unchecked, and top-k by one pass over the dense values, in the tag index;
// the calibration cached by query text; no semantic-only expansion when the plan ranks by a
// field (its hits cannot pass the engine's 75% relevance cut); versions written without waiting
// for the WAL flush. Together: p50 12.7-13.3 -> 6.4-6.7 ms, p95 25.6-29.4 -> 12.5-16.8 ms.
// Loading the lexical index by ordinal rather than SKU id (postings append instead of insert)
// takes its build from 86-131 s to 15-21 s.
//
// All of these but the WAL one then landed; measured on the committed code the same day:
// 19,406 SKUs p50 1.79 ms, p95 3.51 ms (Postgres alone 28x slower); 1,000,000 SKUs p50 6.35 ms,
// p95 13.86 ms, recall 1.000 (Postgres alone 222x slower); lexical build at 1M 16.7 s.
package scenariobench

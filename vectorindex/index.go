package vectorindex

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/internal/cpukernel"
	"selection/internal/pg"
	"selection/internal/poll"
)

// ErrNotLoaded is returned by searches on an index that has not been loaded (or was refused
// because the vectors do not fit in MaxBytes); the planner then uses pgvector.
var ErrNotLoaded = errors.New("in-memory vector index not loaded")

// ErrTooLarge is wrapped by Load when the vectors would take more than IndexConfig.MaxBytes.
var ErrTooLarge = errors.New("vectors do not fit the in-memory index budget")

// IndexConfig tunes an Index. Zero fields take the defaults stated on each.
type IndexConfig struct {
	// Dim is the vector dimension. Default: 512.
	Dim int
	// PollInterval is how often sku_vectors is polled for new and changed vectors.
	// Default: 500ms (a new vector is searchable within about that).
	PollInterval time.Duration
	// PollOverlap is the furthest a poll reads behind the newest stamp it has seen. A poll
	// starts at the start of the oldest transaction still open (it may commit rows stamped
	// before those already read; see pg.Tail), or at the newest stamp when none is; a
	// transaction open longer than this is read only this far back. Writers stamp updated_at
	// with clock_timestamp() at the write. Default: 10s.
	PollOverlap time.Duration
	// MaxBytes is the memory the index may take (float32 slab + binary codes + ids); Load
	// refuses beyond it and the planner falls back to pgvector. Default: 8 GiB.
	MaxBytes int64
	// Workers is the number of goroutines a large search is split over. Default: GOMAXPROCS.
	Workers int
	// ParallelMin is the candidate count from which a search is split over Workers.
	// Default: DefaultParallelMin (measured, see doc.go).
	ParallelMin int
	// Exact makes every search score every candidate in float32 (no binary first pass).
	// Default: false.
	Exact bool
	// QuantizedMin is the candidate count from which the binary-code first pass is used
	// (below it every candidate is scored in float32). Default: DefaultQuantizedMin (measured).
	QuantizedMin int
	// Candidates is how many codes survive the Hamming pass (at least 40 x k) to be estimated
	// with the float query against their sign bits. Default: DefaultCandidates (measured).
	Candidates int
	// Rerank is how many of those are rescored in float32 (at least 4 x k and 1/250 of the
	// candidates).
	// Default: DefaultRerank (measured: recall@10 >= 0.99).
	Rerank int
	// ListsFrom is the vector count from which Load partitions the vectors into lists (k-means,
	// lists.go), and the candidate count from which a search for at most ListMaxK neighbours
	// reads the nearest lists only instead of every candidate's code; negative: never.
	// Default: DefaultListsFrom (measured, see doc.go).
	ListsFrom int
	// ListProbe is how many candidates the lists path gathers from the lists nearest the query.
	// Default: DefaultListProbe (measured with ListRerank by BenchmarkPropagatedVote, see doc.go).
	ListProbe int
	// ListRerank is how many of those, best by the asymmetric estimate from their codes, are
	// scored in float32 (at least 4 x k). Default: DefaultListRerank (measured).
	ListRerank int
	// ListMaxK is the most neighbours a search may ask for and take the lists path (more take
	// the quantised one). Default: 100.
	ListMaxK int
	// Kernel chooses the scoring kernels: "auto" for the fastest this build and CPU support
	// (AVX-512, else AVX2+FMA, else portable), or "avx512", "avx2" or "portable" to force one;
	// NewIndex refuses a path the build or the CPU lacks (cpukernel.ErrUnsupported).
	// Default: "auto".
	Kernel string
	// Logger receives poll errors. Default: slog.Default().
	Logger *slog.Logger
}

// Defaults measured by `selection bench vectors` and BenchmarkSearch (see doc.go).
const (
	DefaultParallelMin  = 16384
	DefaultQuantizedMin = 65536
	DefaultCandidates   = 20000
	DefaultRerank       = 2000
	// The lists path's defaults (measured by BenchmarkListsPath and the propagated vote's
	// benchmark, see doc.go).
	DefaultListsFrom  = 131072
	DefaultListProbe  = 4096
	DefaultListRerank = 768
)

// WithDefaults fills zero fields with their defaults.
func (c IndexConfig) WithDefaults() IndexConfig {
	if c.Dim == 0 {
		c.Dim = 512
	}
	if c.PollInterval == 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.PollOverlap == 0 {
		c.PollOverlap = 10 * time.Second
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 8 << 30
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.ParallelMin == 0 {
		c.ParallelMin = DefaultParallelMin
	}
	if c.QuantizedMin == 0 {
		c.QuantizedMin = DefaultQuantizedMin
	}
	if c.Candidates == 0 {
		c.Candidates = DefaultCandidates
	}
	if c.Rerank == 0 {
		c.Rerank = DefaultRerank
	}
	if c.ListsFrom == 0 {
		c.ListsFrom = DefaultListsFrom
	}
	if c.ListProbe == 0 {
		c.ListProbe = DefaultListProbe
	}
	if c.ListRerank == 0 {
		c.ListRerank = DefaultListRerank
	}
	if c.ListMaxK == 0 {
		c.ListMaxK = 100
	}
	if c.Kernel == "" {
		c.Kernel = string(cpukernel.Auto)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c IndexConfig) validate() error {
	switch {
	case c.Dim < 1 || c.Dim > 16000:
		return fmt.Errorf("vectorindex: Dim %d outside 1..16000 (pgvector's limit)", c.Dim)
	case c.PollInterval < 0 || c.PollOverlap < 0:
		return errors.New("vectorindex: negative PollInterval or PollOverlap")
	case c.MaxBytes < 0:
		return errors.New("vectorindex: negative MaxBytes")
	case c.Workers < 1 || c.ParallelMin < 1 || c.QuantizedMin < 1 || c.Candidates < 1 || c.Rerank < 1:
		return errors.New("vectorindex: Workers, ParallelMin, QuantizedMin, Candidates and Rerank must be positive")
	case c.ListProbe < 1 || c.ListRerank < 1 || c.ListMaxK < 1:
		return errors.New("vectorindex: ListProbe, ListRerank and ListMaxK must be positive")
	}
	return nil
}

const (
	chunkBits = 16 // one chunk per 2^16 ordinals: the same split as a roaring container
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
	// MaxOrdinal bounds the ordinals the index holds (ordinals are dense from 0).
	MaxOrdinal = 1<<36 - 1
)

// chunk holds the vectors of ordinals [key<<16, (key+1)<<16), by row = ordinal & 0xffff.
type chunk struct {
	rows    int       // rows allocated, a multiple of 8
	vecs    []float32 // rows x dim, L2-normalised
	codes   []uint64  // rows/8 blocks of words x 8 (block-transposed sign bits)
	rcodes  []uint64  // the same codes row-major (one cache line per 512-d code), for stage 2
	corr    []float32 // per row |x|^2 / |x|_1, x = v - mean: scales the asymmetric estimate
	ids     []int64   // SKU id by row
	present [chunkSize / 64]uint64
	n       int
}

// Index is the in-memory exact vector index: every live SKU's vector by ordinal, in chunks of
// 2^16 contiguous float32 rows, plus a 1-bit code per vector for the binary first pass on
// large candidate sets. It is safe for concurrent use; see doc.go.
type Index struct {
	pool  *pgxpool.Pool
	cfg   IndexConfig
	kern  kernel
	words int // uint64 words per binary code

	mu       sync.RWMutex
	chunks   []*chunk
	n        int
	maxOrd   int64 // highest ordinal held, -1 if none
	mean     []float32
	lists    *lists // the partition of the lists path (nil: none)
	loaded   bool
	loadTime time.Duration
	wm       time.Time // newest updated_at seen

	pollMu  sync.Mutex   // one Refresh at a time; it owns tail and delFrom
	tail    *pg.Tail     // where Refresh reads from (made from wm on first use)
	delFrom time.Time    // where Refresh reads deletions from (zero: tail's From)
	from    atomic.Int64 // tail.From() after the last poll, in Unix nanoseconds (0: none yet)

	runMu sync.Mutex // serialises Start and Stop
	loop  poll.Loop

	gen atomic.Uint64 // moves on with every change (Generation)

	polls, pollErrors, applied, removed atomic.Int64
	lastPoll                            atomic.Int64 // unix nanos of the last successful poll
}

// NewIndex returns an empty index over pool (nil for an index filled only with Put).
func NewIndex(pool *pgxpool.Pool, cfg IndexConfig) (*Index, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	kp, err := cpukernel.Resolve(cfg.Kernel)
	if err != nil {
		return nil, fmt.Errorf("vectorindex: %w", err)
	}
	return &Index{pool: pool, cfg: cfg, kern: newKernel(kp), words: (cfg.Dim + 63) / 64,
		mean: make([]float32, cfg.Dim), maxOrd: -1,
		loop: poll.Loop{Name: "vectorindex: poll", Every: cfg.PollInterval, Retry: cfg.PollInterval, MaxRetry: poll.TailRetryMax, Logger: cfg.Logger}}, nil
}

// Config returns the index's configuration (with defaults filled).
func (ix *Index) Config() IndexConfig { return ix.cfg }

// Kernel names the scoring kernels in use: "avx512-archsimd", "avx2-archsimd" or "portable".
func (ix *Index) Kernel() string { return ix.kern.name() }

// Len is the number of vectors held.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.n
}

// Loaded reports whether the index holds the catalogue (Load succeeded, or Put was used).
func (ix *Index) Loaded() bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.loaded
}

// IndexStats describes the index for /metrics and the CLI.
type IndexStats struct {
	Vectors    int
	Bytes      int64
	Loaded     bool
	LoadTime   time.Duration
	Kernel     string
	Polls      int64
	PollErrors int64
	Applied    int64 // vectors added or replaced by polls
	Removed    int64 // vectors removed by polls
	LastPoll   time.Time
	Watermark  time.Time
}

// Stats returns counters and sizes.
func (ix *Index) Stats() IndexStats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var b int64
	for _, c := range ix.chunks {
		if c != nil {
			b += int64(c.rows) * (int64(ix.cfg.Dim)*4 + int64(ix.words)*8 + 8)
		}
	}
	if l := ix.lists; l != nil {
		b += int64(len(l.cents)+len(l.of)+len(l.at))*4 + int64(len(l.codes))*8
		for _, m := range l.members {
			b += int64(len(m.ords)+len(m.codes))*8 + int64(len(m.corr))*4
		}
	}
	st := IndexStats{Vectors: ix.n, Bytes: b, Loaded: ix.loaded, LoadTime: ix.loadTime, Kernel: ix.kern.name(),
		Polls: ix.polls.Load(), PollErrors: ix.pollErrors.Load(), Applied: ix.applied.Load(),
		Removed: ix.removed.Load(), Watermark: ix.wm}
	if t := ix.lastPoll.Load(); t != 0 {
		st.LastPoll = time.Unix(0, t)
	}
	return st
}

// bytesPerVector is what one vector costs in the index.
func (ix *Index) bytesPerVector() int64 { return int64(ix.cfg.Dim)*4 + int64(ix.words)*8 + 8 }

// normalize writes v / |v| into dst and reports false for a zero, NaN or Inf vector.
func normalize(dst, v []float32) bool {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return false
	}
	inv := float32(1 / math.Sqrt(s))
	for i, x := range v {
		dst[i] = x * inv
	}
	return true
}

// grow makes sure c has room for row (rows double, at least 1,024).
func (ix *Index) grow(c *chunk, row int) {
	if row < c.rows {
		return
	}
	rows := max(1024, c.rows*2)
	for rows <= row {
		rows *= 2
	}
	rows = min(rows, chunkSize)
	dim := ix.cfg.Dim
	vecs := make([]float32, rows*dim)
	copy(vecs, c.vecs)
	codes := make([]uint64, rows/8*ix.words*8)
	copy(codes, c.codes)
	rcodes := make([]uint64, rows*ix.words)
	copy(rcodes, c.rcodes)
	corr := make([]float32, rows)
	copy(corr, c.corr)
	ids := make([]int64, rows)
	copy(ids, c.ids)
	c.vecs, c.codes, c.rcodes, c.corr, c.ids, c.rows = vecs, codes, rcodes, corr, ids, rows
}

// chunkFor returns the chunk of ordinal o in chunks, creating it.
func chunkFor(chunks *[]*chunk, o int64) *chunk {
	key := int(o >> chunkBits)
	for len(*chunks) <= key {
		*chunks = append(*chunks, nil)
	}
	c := (*chunks)[key]
	if c == nil {
		c = &chunk{}
		(*chunks)[key] = c
	}
	return c
}

// put stores a normalised vector (callers hold mu for writing, or own chunks exclusively).
func (ix *Index) put(chunks *[]*chunk, o, id int64, vn []float32, mean []float32) (added bool) {
	added = ix.putEncode(chunks, o, id, vn, mean, true)
	if ix.lists != nil {
		c := (*chunks)[o>>chunkBits]
		r := int(o & chunkMask)
		ix.lists.place(ix, o, vn, ix.codeRow(c, r), c.corr[r])
	}
	return added
}

func (ix *Index) putEncode(chunks *[]*chunk, o, id int64, vn []float32, mean []float32, encode bool) (added bool) {
	c := chunkFor(chunks, o)
	row := int(o & chunkMask)
	ix.grow(c, row)
	copy(c.vecs[row*ix.cfg.Dim:(row+1)*ix.cfg.Dim], vn)
	c.ids[row] = id
	if encode {
		ix.encode(c, row, vn, mean)
	}
	bit := uint64(1) << (row & 63)
	if c.present[row>>6]&bit == 0 {
		c.present[row>>6] |= bit
		c.n++
		return true
	}
	return false
}

// Generation counts the index's changes: every Put, Remove, poll that applied something, Load,
// Recenter and BuildLists moves it on (inside the write lock, so a search never sees contents
// newer than the generation read before it). A result computed while it held still holds while
// it does.
func (ix *Index) Generation() uint64 { return ix.gen.Load() }

// Put stores (or replaces) the vector of ordinal o, SKU id. The vector is L2-normalised on the
// way in, so scores are cosine similarities. Put marks the index loaded; use it to build an
// index without a database (tests, benchmarks, a replica fed some other way).
func (ix *Index) Put(o, skuID int64, v []float32) error {
	if o < 0 || o > MaxOrdinal {
		return fmt.Errorf("vectorindex: ordinal %d outside 0..%d", o, MaxOrdinal)
	}
	if len(v) != ix.cfg.Dim {
		return fmt.Errorf("vectorindex: vector of %d dimensions, index has %d", len(v), ix.cfg.Dim)
	}
	vn := make([]float32, len(v))
	if !normalize(vn, v) {
		return fmt.Errorf("vectorindex: vector of ordinal %d is zero, NaN or Inf", o)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.gen.Add(1)
	if ix.put(&ix.chunks, o, skuID, vn, ix.mean) {
		ix.n++
	}
	ix.maxOrd = max(ix.maxOrd, o)
	ix.loaded = true
	return nil
}

// Remove drops the vector of ordinal o; it reports whether there was one.
func (ix *Index) Remove(o int64) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.remove(o)
}

func (ix *Index) remove(o int64) bool {
	key := int(o >> chunkBits)
	if o < 0 || key >= len(ix.chunks) || ix.chunks[key] == nil {
		return false
	}
	c := ix.chunks[key]
	row := int(o & chunkMask)
	bit := uint64(1) << (row & 63)
	if c.present[row>>6]&bit == 0 {
		return false
	}
	ix.gen.Add(1)
	c.present[row>>6] &^= bit
	c.n--
	ix.n--
	if ix.lists != nil {
		ix.lists.drop(o)
	}
	return true
}

// Vector returns a copy of the (normalised) vector of ordinal o.
func (ix *Index) Vector(o int64) ([]float32, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	v, _, ok := ix.row(o)
	if !ok {
		return nil, false
	}
	return append([]float32(nil), v...), true
}

// SKUID returns the SKU id held for ordinal o.
func (ix *Index) SKUID(o int64) (int64, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	_, id, ok := ix.row(o)
	return id, ok
}

// row returns the vector and id of ordinal o (callers hold mu).
func (ix *Index) row(o int64) ([]float32, int64, bool) {
	key := int(o >> chunkBits)
	if o < 0 || key >= len(ix.chunks) || ix.chunks[key] == nil {
		return nil, 0, false
	}
	c := ix.chunks[key]
	r := int(o & chunkMask)
	if r >= c.rows || c.present[r>>6]&(1<<(r&63)) == 0 {
		return nil, 0, false
	}
	d := ix.cfg.Dim
	return c.vecs[r*d : (r+1)*d : (r+1)*d], c.ids[r], true
}

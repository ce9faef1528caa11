package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/embed"
	"selection/internal/memo"
	"selection/lexical"
	"selection/vectorindex"
)

// Method is a retrieval method.
type Method string

// The methods. Default is the hybrid the evaluation chose; Lexical and Semantic are its two
// halves alone, kept for comparison and for callers that want one signal.
const (
	Default  Method = "hybrid"
	Lexical  Method = "lexical"
	Semantic Method = "semantic"
)

// Methods lists every method, the default first.
var Methods = []Method{Default, Lexical, Semantic}

// ParseMethod maps a name ("", "default", "hybrid", "lexical", "semantic") to a Method.
func ParseMethod(s string) (Method, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "default", string(Default):
		return Default, nil
	case string(Lexical):
		return Lexical, nil
	case string(Semantic):
		return Semantic, nil
	}
	return "", fmt.Errorf("unknown search method %q (want hybrid, lexical or semantic)", s)
}

// ErrEmptyQuery is returned for a request without text.
var ErrEmptyQuery = errors.New("search: empty query")

// Dense is the vector side: *vectorindex.Index implements it.
type Dense interface {
	// Search returns the k vectors most similar (cosine) to q among filter (nil: all), best first.
	Search(ctx context.Context, q []float32, k int, filter *roaring64.Bitmap) ([]vectorindex.Hit, error)
	// Vector returns the stored (unit) vector of an ordinal.
	Vector(ordinal int64) ([]float32, bool)
}

// Config holds the fusion's few parameters. Zero fields take the defaults stated on each (a
// negative weight turns its signal off); doc.go explains them and evals/README.md has the
// measurements.
type Config struct {
	// CoverageWeight mixes the two lexical signals: (1 - w) * BM25 / best BM25 + w * coverage.
	// Default 0.5 (equal parts).
	CoverageWeight float64
	// QueryWeight weighs the cosine similarity of query and product in the first stage.
	// Default 0.2 (chosen by 2-fold cross-validation over queries).
	QueryWeight float64
	// FeedbackWeight weighs the similarity of each re-ranked product to the centroid of the
	// best lexical matches (pseudo-relevance feedback). Default 0.5 (cross-validated).
	FeedbackWeight float64
	// FeedbackDocs is how many of the best lexical matches make the centroid. Default 20.
	FeedbackDocs int
	// RerankDepth is how many first-stage results the feedback re-ranks. Default 50, the depth
	// of recall@50: the set of the first 50 is the first stage's, only their order changes.
	RerankDepth int
	// LexicalDepth is how many lexical matches the first stage scores. Default 1000.
	LexicalDepth int
	// PartialZ is how far above the query's mean similarity to ordinary products (in standard
	// deviations) a product must be to stay in a list where no product matches every query word.
	// Default 3 (one-sided p = 0.0013 under normality).
	PartialZ float64
	// CalibrationSample is how many products estimate the mean and spread of a query's
	// similarity to ordinary products. Default 2048.
	CalibrationSample int
}

// WithDefaults fills zero fields with their defaults.
func (c Config) WithDefaults() Config {
	if c.CoverageWeight == 0 {
		c.CoverageWeight = 0.5
	}
	if c.QueryWeight == 0 {
		c.QueryWeight = 0.2
	}
	if c.FeedbackWeight == 0 {
		c.FeedbackWeight = 0.5
	}
	if c.FeedbackDocs == 0 {
		c.FeedbackDocs = 20
	}
	if c.RerankDepth == 0 {
		c.RerankDepth = 50
	}
	if c.LexicalDepth == 0 {
		c.LexicalDepth = 1000
	}
	if c.PartialZ == 0 {
		c.PartialZ = 3
	}
	if c.CalibrationSample == 0 {
		c.CalibrationSample = 2048
	}
	return c
}

func (c Config) validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"CoverageWeight", c.CoverageWeight}, {"QueryWeight", c.QueryWeight}, {"FeedbackWeight", c.FeedbackWeight}, {"PartialZ", c.PartialZ}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("search: %s must be a finite number, got %v", f.name, f.v)
		}
	}
	if c.CoverageWeight > 1 {
		return fmt.Errorf("search: CoverageWeight must be in 0..1, got %v", c.CoverageWeight)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"FeedbackDocs", c.FeedbackDocs}, {"RerankDepth", c.RerankDepth}, {"LexicalDepth", c.LexicalDepth}, {"CalibrationSample", c.CalibrationSample}} {
		if f.v < 0 {
			return fmt.Errorf("search: %s must be >= 0, got %d", f.name, f.v)
		}
	}
	return nil
}

// Request is one search.
type Request struct {
	Text string
	// Candidates restricts the search to these ordinals; nil means every live SKU.
	Candidates *roaring64.Bitmap
	// K is how many hits to return at most. Default 50.
	K      int
	Method Method
	// NoExpansion leaves out the semantic-only hits the hybrid adds when fewer than K lexical
	// matches are kept, unless none is kept.
	NoExpansion bool
	// Dense, when set, restricts those semantic-only hits to these ordinals (a subset of
	// Candidates: the SKUs of a scenario's product types, where lexical matches may also come
	// from SKUs of other types holding every query word). Default nil: Candidates.
	Dense *roaring64.Bitmap
}

// Hit is one result.
type Hit struct {
	Ordinal int64
	SKUID   int64
	// Score orders the hits (higher is better); comparable within one result only.
	Score float32
	// Lexical is the lexical evidence, 0..1: (1 - w) * BM25 / best BM25 + w * coverage.
	Lexical float32
	// Coverage is the share of the query's words (by IDF) the product's text holds, 0..1.
	Coverage float32
	// Semantic is the cosine similarity of query and product embeddings (NaN when the product
	// has no vector yet).
	Semantic float32
	// Why says, for people, how the product matched.
	Why string
}

// Result is what a search found.
type Result struct {
	Hits []Hit
	// Confidence in the list as a whole, 0..1: the share of the query's words (weighted by IDF)
	// that the best-matching product holds, 1 when some product holds them all; 0 when no
	// word of the query occurs in the catalogue. Semantic results carry their own: the best
	// hit's similarity in units of the chance threshold, capped at 1.
	Confidence float32
	// Truncated reports that low-confidence hits were cut, so fewer than K came back although
	// more products matched.
	Truncated bool
	// Method is the method that answered.
	Method Method
}

// Searcher answers searches from a lexical index, a dense index and a query embedder.
type Searcher struct {
	lex   *lexical.Index
	dense Dense
	emb   embed.Embedder
	cfg   Config

	calMu     sync.Mutex
	calSample *roaring64.Bitmap
	calSize   int                    // lexical index size when the sample was drawn
	calCache  map[string]calibration // by query text, for the current sample

	queries *embed.QueryMemo                   // query vectors kept across requests (memo.go)
	firsts  *memo.Memo[[2]uint64, firstStages] // the hybrid's stages by query and candidates (stages)
}

// New returns an engine. dense and emb may be nil, leaving only the lexical method (Default
// then answers lexically).
func New(lex *lexical.Index, dense Dense, emb embed.Embedder, cfg Config) (*Searcher, error) {
	if lex == nil {
		return nil, errors.New("search: a lexical index is required")
	}
	if (dense == nil) != (emb == nil) {
		return nil, errors.New("search: the dense index and the embedder come together")
	}
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Searcher{lex: lex, dense: dense, emb: emb, cfg: cfg, firsts: memo.New[[2]uint64, firstStages](firstsKept)}
	if emb != nil {
		e.queries = embed.NewQueryMemo(emb, queryVectorsKept)
	}
	return e, nil
}

// Config returns the engine's configuration, defaults filled in.
func (e *Searcher) Config() Config { return e.cfg }

// Search runs one request.
func (e *Searcher) Search(ctx context.Context, req Request) (Result, error) {
	text := strings.TrimSpace(req.Text)
	if text == "" {
		return Result{}, ErrEmptyQuery
	}
	if req.K <= 0 {
		req.K = 50
	}
	m := req.Method
	if m == "" {
		m = Default
	}
	if e.dense == nil && m != Lexical {
		if m == Semantic {
			return Result{}, errors.New("search: semantic search needs a dense index and an embedder")
		}
		m = Lexical
	}
	switch m {
	case Lexical:
		return e.lexical(ctx, text, req)
	case Semantic:
		return e.semantic(ctx, text, req)
	case Default:
		return e.hybrid(ctx, text, req)
	}
	return Result{}, fmt.Errorf("search: unknown method %q", m)
}

// lexicalEvidence mixes normalised BM25 and coverage.
func (e *Searcher) lexicalEvidence(h lexical.Hit, best float32) float32 {
	w := float32(weight(e.cfg.CoverageWeight))
	return (1-w)*h.Score/best + w*h.Coverage
}

func (e *Searcher) lexical(ctx context.Context, text string, req Request) (Result, error) {
	lr, err := e.lex.Search(ctx, text, req.K, req.Candidates)
	if err != nil {
		return Result{}, err
	}
	res := Result{Method: Lexical, Hits: make([]Hit, 0, len(lr.Hits))}
	for _, h := range lr.Hits {
		res.Confidence = max(res.Confidence, h.Coverage)
		res.Hits = append(res.Hits, Hit{Ordinal: h.Ordinal, SKUID: h.SKUID, Score: h.Score, Coverage: h.Coverage,
			Lexical: e.lexicalEvidence(h, lr.Hits[0].Score), Semantic: float32(math.NaN()),
			Why: whyLexical(lr.Terms, h)})
	}
	return res, nil
}

func (e *Searcher) semantic(ctx context.Context, text string, req Request) (Result, error) {
	q, err := e.embedQuery(ctx, text)
	if err != nil {
		return Result{}, fmt.Errorf("search: embed query: %w", err)
	}
	hits, err := e.dense.Search(ctx, q, req.K, req.Candidates)
	if err != nil {
		return Result{}, fmt.Errorf("search: dense: %w", err)
	}
	cal, err := e.calibrate(ctx, text, q)
	if err != nil {
		return Result{}, err
	}
	res := Result{Method: Semantic, Hits: make([]Hit, 0, len(hits))}
	for _, h := range hits {
		z := cal.z(h.Score)
		res.Hits = append(res.Hits, Hit{Ordinal: h.Ordinal, SKUID: h.SKUID, Score: h.Score, Semantic: h.Score,
			Why: fmt.Sprintf("semantic similarity %.2f (%.1f sd above an ordinary product)", h.Score, z)})
	}
	if len(hits) > 0 {
		res.Confidence = float32(math.Min(1, math.Max(0, cal.z(hits[0].Score)/cal.chance)))
	}
	return res, nil
}

// weight is a configured weight, negative meaning off.
func weight(w float64) float64 { return max(w, 0) }

// whyLexical explains a lexical hit.
func whyLexical(terms []string, h lexical.Hit) string {
	return fmt.Sprintf("BM25 %.2f; matches %.0f%% of the query (%s)", h.Score, 100*h.Coverage, strings.Join(terms, ", "))
}

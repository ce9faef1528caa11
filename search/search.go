package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/embed"
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
	return &Searcher{lex: lex, dense: dense, emb: emb, cfg: cfg}, nil
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

// calibration is a query's similarity to ordinary products: mean and standard deviation over a
// fixed sample of the catalogue, and the z a best match reaches by chance among n products.
type calibration struct {
	mean, sd float64
	chance   float64 // sqrt(2 ln n): the expected maximum z of n standard normal draws
}

func (c calibration) z(cos float32) float64 {
	if c.sd <= 0 {
		return 0
	}
	return (float64(cos) - c.mean) / c.sd
}

// calibrate measures q against the calibration sample, drawn from the lexical index's live
// documents and redrawn when the catalogue has grown or shrunk by more than 10%.
func (e *Searcher) calibrate(ctx context.Context, text string, q []float32) (calibration, error) {
	n := e.lex.Len()
	e.calMu.Lock()
	if e.calSample == nil || math.Abs(float64(n-e.calSize)) > 0.1*float64(max(e.calSize, 1)) {
		e.calSample = e.lex.Sample(e.cfg.CalibrationSample)
		e.calSize = n
		e.calCache = map[string]calibration{}
	}
	sample := e.calSample
	if c, ok := e.calCache[text]; ok {
		e.calMu.Unlock()
		c.chance = math.Sqrt(2 * math.Log(math.Max(float64(n), 2)))
		return c, nil
	}
	e.calMu.Unlock()
	cal, err := e.measureCalibration(ctx, q, n, sample)
	if err == nil {
		e.calMu.Lock()
		if e.calSample == sample {
			if len(e.calCache) >= 4096 {
				clear(e.calCache)
			}
			e.calCache[text] = cal
		}
		e.calMu.Unlock()
	}
	return cal, err
}

func (e *Searcher) measureCalibration(ctx context.Context, q []float32, n int, sample *roaring64.Bitmap) (calibration, error) {
	cal := calibration{chance: math.Sqrt(2 * math.Log(math.Max(float64(n), 2)))}
	hits, err := e.dense.Search(ctx, q, int(sample.GetCardinality()), sample)
	if err != nil {
		return cal, fmt.Errorf("search: calibrate: %w", err)
	}
	if len(hits) < 2 {
		return cal, nil
	}
	var s, ss float64
	for _, h := range hits {
		s += float64(h.Score)
	}
	cal.mean = s / float64(len(hits))
	for _, h := range hits {
		d := float64(h.Score) - cal.mean
		ss += d * d
	}
	cal.sd = math.Sqrt(ss / float64(len(hits)-1))
	return cal, nil
}

// cosines returns the query's similarity to each ordinal (those without a vector are left out).
func (e *Searcher) cosines(ctx context.Context, q []float32, ords []int64) (map[int64]float32, error) {
	out := make(map[int64]float32, len(ords))
	if len(ords) == 0 {
		return out, nil
	}
	bm := roaring64.New()
	for _, o := range ords {
		bm.Add(uint64(o))
	}
	hits, err := e.dense.Search(ctx, q, len(ords), bm)
	if err != nil {
		return nil, fmt.Errorf("search: dense: %w", err)
	}
	for _, h := range hits {
		out[h.Ordinal] = h.Score
	}
	return out, nil
}

type cand struct {
	lex     lexical.Hit
	l       float32 // lexical evidence
	cos     float32 // query similarity (NaN: no vector)
	z       float64
	fb      float32 // similarity to the feedback centroid (NaN: not re-ranked)
	stage1  float32
	score   float32
	onlySem bool
}

// hybrid ranks the lexical matches with embedding evidence in two stages (lexical evidence plus
// the query's similarity; then, for the head, the similarity to the best lexical matches),
// keeps them all when one holds every query word (else those far enough above an ordinary
// product), and adds semantic-only hits when too few remain.
func (e *Searcher) hybrid(ctx context.Context, text string, req Request) (Result, error) {
	res := Result{Method: Default}
	depth := max(e.cfg.LexicalDepth, req.K)
	lr, err := e.lex.Search(ctx, text, depth, req.Candidates)
	if err != nil {
		return res, err
	}
	q, err := e.embedQuery(ctx, text)
	if err != nil {
		return res, fmt.Errorf("search: embed query: %w", err)
	}
	cal, err := e.calibrate(ctx, text, q)
	if err != nil {
		return res, err
	}
	cs, best, err := e.firstStage(ctx, q, lr.Hits, cal)
	if err != nil {
		return res, err
	}
	if err := e.feedbackStage(ctx, cs, lr.Hits); err != nil {
		return res, err
	}
	// Confidence and the cut.
	res.Confidence = best
	complete := best >= completeCoverage
	kept := cs[:0:0]
	for _, c := range cs {
		if !complete && !(c.z >= e.cfg.PartialZ) {
			res.Truncated = true
			continue
		}
		kept = append(kept, c)
	}
	if len(kept) < req.K && !(req.NoExpansion && len(kept) > 0) {
		if kept, err = e.expand(ctx, q, req, cal, kept); err != nil {
			return res, err
		}
	}
	if len(kept) > req.K {
		kept = kept[:req.K]
	}
	res.Hits = hybridHits(kept, lr.Terms)
	return res, nil
}

// firstStage scores every lexical match by lexical evidence plus the query's similarity, best
// first; best is the highest coverage of a match.
func (e *Searcher) firstStage(ctx context.Context, q []float32, hits []lexical.Hit, cal calibration) ([]cand, float32, error) {
	ords := make([]int64, len(hits))
	for i, h := range hits {
		ords[i] = h.Ordinal
	}
	cos, err := e.cosines(ctx, q, ords)
	if err != nil {
		return nil, 0, err
	}
	cs := make([]cand, len(hits))
	best := float32(0)
	for i, h := range hits {
		c := cand{lex: h, l: e.lexicalEvidence(h, hits[0].Score), cos: float32(math.NaN()), fb: float32(math.NaN())}
		neutral := float32(cal.mean) // a product without a vector is neither helped nor hurt
		s, ok := cos[h.Ordinal]
		if ok {
			c.cos, c.z = s, cal.z(s)
		} else {
			s = neutral
		}
		c.stage1 = c.l + float32(weight(e.cfg.QueryWeight))*s
		c.score = c.stage1
		cs[i] = c
		best = max(best, h.Coverage)
	}
	sort.SliceStable(cs, func(a, b int) bool { return cs[a].stage1 > cs[b].stage1 })
	return cs, best, nil
}

// feedbackStage re-ranks the head of cs (RerankDepth) by similarity to the centroid of the best
// lexical matches (pseudo-relevance feedback).
func (e *Searcher) feedbackStage(ctx context.Context, cs []cand, hits []lexical.Hit) error {
	head := min(e.cfg.RerankDepth, len(cs))
	if head <= 1 || weight(e.cfg.FeedbackWeight) <= 0 {
		return nil
	}
	centroid := e.centroid(hits, e.cfg.FeedbackDocs)
	if centroid == nil {
		return nil
	}
	headOrds := make([]int64, head)
	for i := range headOrds {
		headOrds[i] = cs[i].lex.Ordinal
	}
	fb, err := e.cosines(ctx, centroid, headOrds)
	if err != nil {
		return err
	}
	var mean float32
	for _, v := range fb {
		mean += v
	}
	if len(fb) > 0 {
		mean /= float32(len(fb))
	}
	for i := 0; i < head; i++ {
		v, ok := fb[cs[i].lex.Ordinal]
		if ok {
			cs[i].fb = v
		} else {
			v = mean
		}
		cs[i].score = cs[i].stage1 + float32(weight(e.cfg.FeedbackWeight))*v
	}
	sort.SliceStable(cs[:head], func(a, b int) bool { return cs[a].score > cs[b].score })
	return nil
}

// expand is the recall expansion: too few lexical results, so it adds (up to req.K in all) the
// products the embedding alone finds more similar than the best of N ordinary products would be
// by chance.
func (e *Searcher) expand(ctx context.Context, q []float32, req Request, cal calibration, kept []cand) ([]cand, error) {
	within := req.Candidates
	if req.Dense != nil {
		within = req.Dense
	}
	hits, err := e.dense.Search(ctx, q, req.K, within)
	if err != nil {
		return kept, fmt.Errorf("search: dense: %w", err)
	}
	have := make(map[int64]bool, len(kept))
	for _, c := range kept {
		have[c.lex.Ordinal] = true
	}
	for _, h := range hits {
		if len(kept) >= req.K {
			break
		}
		if have[h.Ordinal] {
			continue
		}
		z := cal.z(h.Score)
		if z < cal.chance {
			break // hits come best first
		}
		kept = append(kept, cand{lex: lexical.Hit{Ordinal: h.Ordinal, SKUID: h.SKUID}, cos: h.Score, z: z,
			fb: float32(math.NaN()), onlySem: true})
	}
	return kept, nil
}

// hybridHits turns the kept candidates into hits; semantic-only ones score below the lowest
// lexical one, in their order.
func hybridHits(kept []cand, terms []string) []Hit {
	out := make([]Hit, len(kept))
	floor := float32(0) // the lowest lexical score: semantic-only hits come after
	for _, c := range kept {
		if !c.onlySem {
			floor = min(floor, c.score)
		}
	}
	for i, c := range kept {
		h := Hit{Ordinal: c.lex.Ordinal, SKUID: c.lex.SKUID, Lexical: c.l, Semantic: c.cos, Coverage: c.lex.Coverage}
		if c.onlySem {
			h.Score = floor - 1e-3*float32(i+1) + c.cos*1e-4
			h.Why = fmt.Sprintf("no query word; semantic similarity %.2f (%.1f sd above an ordinary product)", c.cos, c.z)
		} else {
			h.Score = c.score
			h.Why = whyHybrid(terms, c)
		}
		out[i] = h
	}
	return out
}

// weight is a configured weight, negative meaning off.
func weight(w float64) float64 { return max(w, 0) }

// completeCoverage is the coverage of a product holding every query word (up to rounding).
const completeCoverage = 0.999

// centroid is the normalised mean vector of the first n lexical hits that have vectors; nil if
// none has.
func (e *Searcher) centroid(hits []lexical.Hit, n int) []float32 {
	var c []float32
	used := 0
	for _, h := range hits {
		if used == n {
			break
		}
		v, ok := e.dense.Vector(h.Ordinal)
		if !ok {
			continue
		}
		if c == nil {
			c = make([]float32, len(v))
		}
		for i := range v {
			c[i] += v[i]
		}
		used++
	}
	if c == nil {
		return nil
	}
	var nn float64
	for _, x := range c {
		nn += float64(x) * float64(x)
	}
	if nn == 0 {
		return nil
	}
	inv := float32(1 / math.Sqrt(nn))
	for i := range c {
		c[i] *= inv
	}
	return c
}

func whyLexical(terms []string, h lexical.Hit) string {
	return fmt.Sprintf("BM25 %.2f; matches %.0f%% of the query (%s)", h.Score, 100*h.Coverage, strings.Join(terms, ", "))
}

func whyHybrid(terms []string, c cand) string {
	var b strings.Builder
	fmt.Fprintf(&b, "words: %.0f%% of the query (%s), BM25 %.2f", 100*c.lex.Coverage, strings.Join(terms, ", "), c.lex.Score)
	if !math.IsNaN(float64(c.cos)) {
		fmt.Fprintf(&b, "; semantic %.2f (%.1f sd)", c.cos, c.z)
	}
	if !math.IsNaN(float64(c.fb)) {
		fmt.Fprintf(&b, "; like the best matches %.2f", c.fb)
	}
	return b.String()
}

package tagger

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"
	"github.com/tmc/langchaingo/llms"

	"selection/vectorindex"
)

// DiscoverOptions tunes Discover. Zero fields take the defaults stated on each.
type DiscoverOptions struct {
	// Family names the clustering; its tags are "<family>/<name>". Required.
	Family string
	// Clusters is k. Default: sqrt(n/2) for n SKUs with vectors (the usual rule of thumb: ~98
	// for the 19,406 Icecat products), at least 2 and at most 200.
	Clusters int
	// Sample is how many vectors k-means trains on (all SKUs are then assigned to the nearest
	// centroid). Default 5,000: ~50 per centroid at k = 100, enough for stable centroids, and a
	// training pass costs ~1 s in Go on this machine instead of ~4 s for all of Icecat.
	Sample int
	// Iterations of Lloyd's algorithm. Default 20 (assignments settle in ~10-15 on Icecat).
	Iterations int
	// Terms is how many distinctive title terms name a cluster. Default 3.
	Terms int
	// LLM, when set, names each cluster from its terms and sample titles (langchaingo); the
	// TF-IDF name stays the fallback when the model fails or answers nothing usable.
	LLM llms.Model
	// Seed makes the clustering reproducible. Default 1.
	Seed uint64
}

func (o DiscoverOptions) withDefaults(n int) DiscoverOptions {
	if o.Clusters == 0 {
		o.Clusters = int(math.Round(math.Sqrt(float64(n) / 2)))
	}
	o.Clusters = max(2, min(200, o.Clusters))
	if o.Sample == 0 {
		o.Sample = 5000
	}
	if o.Iterations == 0 {
		o.Iterations = 20
	}
	if o.Terms == 0 {
		o.Terms = 3
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Cluster is one discovered cluster before it becomes a tag.
type Cluster struct {
	Centroid []float32
	Members  []int64 // ordinals
	Terms    []string
	Name     string
	NamedBy  string // "tfidf" or "llm"
}

// kmeansRestarts is how many k-means++ seedings bestKMeans tries. One seeding puts two
// centroids in one true cluster now and then (about one run in ten on three well-separated
// synthetic topics, seen as a flaky test); the best of five by within-cluster cost removes that
// at five times the (~1 s on Icecat) clustering cost.
const kmeansRestarts = 5

// bestKMeans runs sphericalKMeans kmeansRestarts times and keeps the centroids with the highest
// total similarity of the vectors to their nearest centroid.
func bestKMeans(vecs [][]float32, k, iters int, rng *rand.Rand) [][]float32 {
	var best [][]float32
	bestScore := math.Inf(-1)
	for r := 0; r < kmeansRestarts; r++ {
		cents := sphericalKMeans(vecs, k, iters, rng)
		var score float64
		for _, v := range vecs {
			if len(cents) > 0 {
				score += kdot(v, cents[knearest(v, cents)])
			}
		}
		if score > bestScore {
			best, bestScore = cents, score
		}
	}
	return best
}

// kdot is the inner product with the vector index's SIMD kernel (AVX-512, AVX2 or portable):
// discovery's products (about 2 x 10^8 of them at 1M SKUs) are too many for the plain loop
// dot, 4-5x slower; the prototype and propagation paths keep dot, whose sums their
// calibrations were measured with.
func kdot(a, b []float32) float64 { return float64(vectorindex.Dot(a, b)) }

// knearest is nearest with kdot.
func knearest(v []float32, cents [][]float32) int {
	_, at := bestBy(v, cents, kdot)
	return at
}

// sphericalKMeans clusters unit vectors by cosine similarity: k-means++ seeding, then Lloyd
// iterations with re-normalised mean centroids. It returns the centroids.
func sphericalKMeans(vecs [][]float32, k, iters int, rng *rand.Rand) [][]float32 {
	n := len(vecs)
	if n == 0 {
		return nil
	}
	k = min(k, n)
	cents := make([][]float32, 0, k)
	cents = append(cents, vecs[rng.IntN(n)])
	// k-means++: next centroid with probability proportional to its distance (1 - cos)^2.
	d := make([]float64, n)
	for i := range d {
		d[i] = math.Inf(1)
	}
	for len(cents) < k {
		last := cents[len(cents)-1]
		var total float64
		for i, v := range vecs {
			dist := 1 - kdot(v, last)
			if dist*dist < d[i] {
				d[i] = dist * dist
			}
			total += d[i]
		}
		r := rng.Float64() * total
		pick := n - 1
		for i := range d {
			r -= d[i]
			if r <= 0 {
				pick = i
				break
			}
		}
		cents = append(cents, vecs[pick])
	}
	dim := len(vecs[0])
	assign := make([]int, n)
	for it := 0; it < iters; it++ {
		changed := 0
		for i, v := range vecs {
			c := knearest(v, cents)
			if c != assign[i] || it == 0 {
				changed++
			}
			assign[i] = c
		}
		sums := make([][]float64, k)
		counts := make([]int, k)
		for i := range sums {
			sums[i] = make([]float64, dim)
		}
		for i, v := range vecs {
			c := assign[i]
			counts[c]++
			for j, x := range v {
				sums[c][j] += float64(x)
			}
		}
		next := make([][]float32, k)
		for c := range next {
			if counts[c] == 0 {
				next[c] = vecs[rng.IntN(n)] // an empty cluster restarts at a random point
				continue
			}
			v := make([]float32, dim)
			for j := range v {
				v[j] = float32(sums[c][j])
			}
			next[c] = normalize(v)
		}
		cents = next
		if changed == 0 && it > 0 {
			break
		}
	}
	return cents
}

// tokens splits a title into lower-case terms of letters (and digits) of length >= 2 that are
// not pure numbers.
func tokens(s string) []string {
	f := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-'
	})
	out := f[:0]
	for _, w := range f {
		w = strings.Trim(w, "-")
		if len(w) < 2 || stopWords[w] {
			continue
		}
		digits := true
		for _, r := range w {
			if !unicode.IsDigit(r) {
				digits = false
				break
			}
		}
		if !digits {
			out = append(out, w)
		}
	}
	return out
}

var stopWords = map[string]bool{"and": true, "the": true, "for": true, "with": true, "of": true,
	"in": true, "to": true, "pc": true, "pcs": true, "cm": true, "mm": true, "gb": true, "black": false}

// distinctiveTerms names each cluster by TF-IDF: a term's share of the cluster's titles that
// contain it, times log(N / titles containing it anywhere). Terms in nearly every title of the
// catalogue score ~0; a model number found in one title scores high idf but a low share.
func distinctiveTerms(titles map[int64]string, clusters [][]int64, nTerms int) [][]string {
	df := map[string]int{}
	docTerms := make(map[int64][]string, len(titles))
	for o, t := range titles {
		seen := map[string]bool{}
		for _, w := range tokens(t) {
			if !seen[w] {
				seen[w] = true
				df[w]++
				docTerms[o] = append(docTerms[o], w)
			}
		}
	}
	n := float64(len(titles))
	out := make([][]string, len(clusters))
	for c, members := range clusters {
		cdf := map[string]int{}
		for _, o := range members {
			for _, w := range docTerms[o] {
				cdf[w]++
			}
		}
		type scored struct {
			w string
			s float64
		}
		var ss []scored
		for w, k := range cdf {
			if k < 2 && len(members) > 2 {
				continue // a term of one title does not describe a cluster
			}
			share := float64(k) / float64(len(members))
			ss = append(ss, scored{w, share * math.Log(n/float64(df[w]))})
		}
		sort.Slice(ss, func(i, j int) bool {
			if ss[i].s != ss[j].s {
				return ss[i].s > ss[j].s
			}
			return ss[i].w < ss[j].w
		})
		for i := 0; i < len(ss) && i < nTerms; i++ {
			out[c] = append(out[c], ss[i].w)
		}
	}
	return out
}

// llmName asks the model for a short name; "" when it gives nothing usable.
func llmName(ctx context.Context, m llms.Model, terms []string, samples []string) string {
	prompt := "You name clusters of products in a marketplace catalogue. Give a short name (1 to 4 words) " +
		"for the products below. Answer with the name only.\nDistinctive terms: " + strings.Join(terms, ", ") +
		"\nExample product titles:\n- " + strings.Join(samples, "\n- ")
	out, err := llms.GenerateFromSinglePrompt(ctx, m, prompt, llms.WithTemperature(0))
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	line = strings.Trim(strings.TrimSpace(line), "\"'.`*")
	line = strings.TrimPrefix(strings.TrimPrefix(line, "Name:"), "name:")
	line = strings.TrimSpace(line)
	if line == "" || len(line) > 60 || strings.ContainsAny(line, "/\\") {
		return ""
	}
	return line
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}

// Discover clusters the embedding space of the live SKUs (spherical k-means), names each
// cluster from its members' most distinctive title terms (or with the LLM), and replaces the
// family's discovered tags with one tag per cluster, its centroid saved in tag_models. New SKUs
// later join the cluster of the nearest centroid as their vectors arrive.
func (t *Tagger) Discover(ctx context.Context, opts DiscoverOptions) ([]TagDef, error) {
	if opts.Family == "" || strings.Contains(opts.Family, "/") {
		return nil, errors.New("discover: the family needs a name without '/'")
	}
	if t.vectors == nil {
		return nil, errors.New("discover: needs the vector index")
	}
	t0 := time.Now()
	clusters, n := t.clusterLive(opts)
	if n < 2 {
		return nil, errors.New("discover: fewer than 2 SKUs have vectors")
	}
	opts = opts.withDefaults(n)
	t1 := time.Now()
	titles, err := t.store.titles(ctx)
	if err != nil {
		return nil, err
	}
	nameClusters(ctx, clusters, titles, opts)
	t2 := time.Now()
	defs, err := t.replaceFamily(ctx, opts.Family, clusters)
	t.cfg.Logger.Info("tagger: discovered", "family", opts.Family, "skus", n, "clusters", len(clusters),
		"cluster_s", t1.Sub(t0).Seconds(), "name_s", t2.Sub(t1).Seconds(), "store_s", time.Since(t2).Seconds())
	return defs, err
}

// clusterLive clusters the live SKUs that have vectors without holding a copy of them all: one
// pass draws the training sample (reservoir sampling, opts.Sample vectors, normalized), k-means
// trains on it, and a second pass assigns every SKU to its nearest centroid, on GOMAXPROCS
// workers over runs of ordinals (the members stay in ordinal order). It returns the clusters and
// how many SKUs had vectors.
func (t *Tagger) clusterLive(opts DiscoverOptions) ([]Cluster, int) {
	live := t.ix.Live().ToArray()
	d := opts.withDefaults(0) // the sample and seed; the clusters follow n
	sample := d.Sample
	rng := rand.New(rand.NewPCG(d.Seed, 0xd15c))
	var train [][]float32
	n := 0
	for _, o := range live {
		v, ok := t.vectors.Vector(int64(o))
		if !ok {
			continue
		}
		n++
		switch {
		case len(train) < sample:
			train = append(train, normalize(v))
		default:
			if j := rng.IntN(n); j < sample {
				train[j] = normalize(v)
			}
		}
	}
	if n < 2 {
		return nil, n
	}
	opts = opts.withDefaults(n)
	return assignClusters(live, t.vectors.Vector, bestKMeans(train, opts.Clusters, opts.Iterations, rng)), n
}

// assignClusters puts each ordinal that has a vector into the cluster of its nearest centroid
// (the vector's length does not change which one), on GOMAXPROCS workers.
func assignClusters(ords []uint64, vector func(int64) ([]float32, bool), cents [][]float32) []Cluster {
	workers := runtime.GOMAXPROCS(0)
	chunk := (len(ords) + workers - 1) / max(workers, 1)
	parts := make([][][]int64, workers) // per worker, per cluster
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := min(w*chunk, len(ords)), min((w+1)*chunk, len(ords))
		parts[w] = make([][]int64, len(cents))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, o := range ords[lo:hi] {
				if v, ok := vector(int64(o)); ok {
					if c := knearest(v, cents); c >= 0 {
						parts[w][c] = append(parts[w][c], int64(o))
					}
				}
			}
		}()
	}
	wg.Wait()
	clusters := make([]Cluster, len(cents))
	for i := range clusters {
		clusters[i].Centroid = cents[i]
		for w := range parts {
			clusters[i].Members = append(clusters[i].Members, parts[w][i]...)
		}
	}
	return clusters
}

// nameClusters gives every cluster its distinctive terms and a unique slug name: from the
// terms, or from the LLM when opts.LLM is set and answers.
func nameClusters(ctx context.Context, clusters []Cluster, titles map[int64]string, opts DiscoverOptions) {
	memberLists := make([][]int64, len(clusters))
	for i := range clusters {
		memberLists[i] = clusters[i].Members
	}
	terms := distinctiveTerms(titles, memberLists, opts.Terms)
	used := map[string]int{}
	for i := range clusters {
		c := &clusters[i]
		c.Terms = terms[i]
		c.Name, c.NamedBy = strings.Join(c.Terms, "-"), "tfidf"
		if opts.LLM != nil && len(c.Members) > 0 {
			var samples []string
			for _, o := range c.Members[:min(8, len(c.Members))] {
				samples = append(samples, titles[o])
			}
			if name := llmName(ctx, opts.LLM, c.Terms, samples); name != "" {
				c.Name, c.NamedBy = name, "llm"
			}
		}
		c.Name = slug(c.Name)
		if c.Name == "" {
			c.Name = fmt.Sprintf("cluster-%d", i)
		}
		used[c.Name]++
		if used[c.Name] > 1 {
			c.Name = fmt.Sprintf("%s-%d", c.Name, used[c.Name])
		}
	}
}

// replaceFamily replaces the family's discovered tags with one tag per cluster, in the store
// and in the index, and saves the index.
func (t *Tagger) replaceFamily(ctx context.Context, family string, clusters []Cluster) ([]TagDef, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// All or nothing, and not while a pool or another tag names one of the family's tags (their
	// names change with each discovery): such a reference would be left dangling.
	defs := make([]TagDef, len(clusters))
	models := make([]Model, len(clusters))
	for i := range clusters {
		c := &clusters[i]
		defs[i] = TagDef{Name: family + "/" + c.Name, Kind: KindDiscovered,
			Description: fmt.Sprintf("cluster %d of %d in %s (%d SKUs at discovery)", i, len(clusters), family, len(c.Members)),
			Definition:  Definition{Family: family, Cluster: i, Terms: c.Terms, NamedBy: c.NamedBy}}
		models[i] = Model{Model: t.embedderName(), Vectors: [][]float32{c.Centroid}}
	}
	old, out, err := t.store.ReplaceFamily(ctx, family, defs, models, t.cfg.Referrers)
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	for _, tg := range old {
		t.ix.DropTag(tg.Name)
		delete(t.models, tg.ID)
	}
	if t.models == nil {
		t.models = map[int64]Model{}
	}
	for i, made := range out {
		t.models[made.ID] = models[i]
		bm := roaring64.New()
		for _, o := range clusters[i].Members {
			bm.Add(uint64(o))
		}
		t.ix.SetTag(made.Info(), bm, nil)
	}
	t.dirty = true
	if _, err := t.saveLocked(ctx, true); err != nil {
		return out, err
	}
	return out, nil
}

// titles reads every live SKU's title by ordinal.
func (s *Store) titles(ctx context.Context) (map[int64]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT ordinal, title FROM skus WHERE live`)
	if err != nil {
		return nil, fmt.Errorf("read titles: %w", err)
	}
	out := map[int64]string{}
	var o int64
	var title string
	_, err = pgx.ForEachRow(rows, []any{&o, &title}, func() error { out[o] = title; return nil })
	if err != nil {
		return nil, fmt.Errorf("read titles: %w", err)
	}
	return out, nil
}

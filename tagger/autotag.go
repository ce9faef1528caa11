package tagger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	pgvector "github.com/pgvector/pgvector-go"

	"selection/filter"
	"selection/internal/pg"
)

func lowerName(s string) string { return strings.ToLower(s) }

// orderRules returns the rule tags so that a tag comes after the rule tags it refers to; tags
// in a reference cycle are left out (Define refuses to create one).
func orderRules(tags []TagDef) []TagDef {
	byName := map[string]*TagDef{}
	for i := range tags {
		if tags[i].Kind == KindRule && tags[i].Definition.Rule != nil {
			byName[lowerName(tags[i].Name)] = &tags[i]
		}
	}
	state := map[string]int{} // 1 visiting, 2 done, 3 cyclic
	var out []TagDef
	var visit func(n string) bool
	visit = func(n string) bool {
		switch state[n] {
		case 1, 3:
			state[n] = 3
			return false
		case 2:
			return true
		}
		state[n] = 1
		ok := true
		for _, dep := range byName[n].Definition.Rule.Tags() {
			if _, isRule := byName[lowerName(dep)]; isRule && !visit(lowerName(dep)) {
				ok = false
			}
		}
		if !ok {
			state[n] = 3
			return false
		}
		state[n] = 2
		out = append(out, *byName[n])
		return true
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		visit(n)
	}
	return out
}

// retagRules re-evaluates every rule tag over the changed ordinals.
func (t *Tagger) retagRules(ctx context.Context, changed *roaring64.Bitmap) error {
	tags, err := t.store.Tags(ctx)
	if err != nil {
		return err
	}
	for _, tg := range orderRules(tags) {
		if !t.ix.HasTag(tg.Name) {
			continue // defined elsewhere and not synced yet: syncTagsLocked evaluates it whole
		}
		match, err := t.ix.EvalWithin(*tg.Definition.Rule, changed)
		if err != nil {
			t.cfg.Logger.Warn("tagger: rule tag does not evaluate", "tag", tg.Name, "err", err)
			continue
		}
		drop := roaring64.AndNot(changed, match)
		if err := t.ix.SetTagBits(tg.Name, match.ToArray(), drop.ToArray(), nil); err != nil {
			return err
		}
	}
	return nil
}

// ---- vectors ----

func (t *Tagger) vecMarkInit(ctx context.Context) error {
	var mark time.Time
	err := t.store.pool.QueryRow(ctx, `SELECT coalesce(max(updated_at), 'epoch'::timestamptz) FROM sku_vectors`).Scan(&mark)
	if err != nil {
		return fmt.Errorf("tagger: vector watermark: %w", err)
	}
	t.vecTail = pg.NewTail(mark, vecOverlap)
	t.publishVecTailLocked()
	return nil
}

// vecOverlap is the furthest a poll of sku_vectors reads behind the newest stamp seen (see
// pg.Tail: normally it reads from the oldest open transaction's start, or the newest stamp).
const vecOverlap = 5 * time.Second

// pollVectorsLocked re-tags the SKUs whose vectors were written since the last poll.
func (t *Tagger) pollVectorsLocked(ctx context.Context) (int, error) {
	if t.vectors == nil || !t.hasVectorTags() {
		return 0, nil
	}
	if t.vecTail == nil {
		t.vecTail = pg.NewTail(time.Time{}, vecOverlap)
	}
	floor, err := t.vecTail.Floor(ctx, t.store.pool)
	if err != nil {
		return 0, fmt.Errorf("tagger: read new vectors: %w", err)
	}
	rows, err := t.store.pool.Query(ctx, `SELECT ordinal, embedding, updated_at FROM sku_vectors
		WHERE updated_at >= $1 ORDER BY updated_at`, t.vecTail.From())
	if err != nil {
		return 0, fmt.Errorf("tagger: read new vectors: %w", err)
	}
	defer rows.Close()
	vecs := map[int64][]float32{}
	var read []pg.Row
	for rows.Next() {
		var o int64
		var v pgvector.Vector
		var at time.Time
		if err := rows.Scan(&o, &v, &at); err != nil {
			return 0, fmt.Errorf("tagger: read new vectors: %w", err)
		}
		if t.vecTail.Seen(o, at) {
			continue // applied by an earlier poll
		}
		read = append(read, pg.Row{Key: o, At: at})
		vecs[o] = v.Slice()
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("tagger: read new vectors: %w", err)
	}
	if len(vecs) > 0 {
		if err := t.retagVectors(ctx, vecs, false); err != nil {
			return len(vecs), err // nothing recorded: the next poll reads these again
		}
	}
	t.vecTail.Done(read, time.Time{}, floor)
	t.publishVecTailLocked()
	return len(vecs), nil
}

func (t *Tagger) hasVectorTags() bool {
	for _, tc := range t.ix.Tags() {
		if Kind(tc.Kind) != KindRule {
			return true
		}
	}
	return false
}

// retagVectorsOf re-tags changed ordinals that have vectors (their content may have moved them
// in or out of a scope).
func (t *Tagger) retagVectorsOf(ctx context.Context, changed *roaring64.Bitmap) error {
	if t.vectors == nil || !t.hasVectorTags() {
		return nil
	}
	vecs := map[int64][]float32{}
	it := changed.Iterator()
	for it.HasNext() {
		o := int64(it.Next())
		if v, ok := t.vectors.Vector(o); ok {
			vecs[o] = v
		}
	}
	if len(vecs) == 0 {
		return nil
	}
	return t.retagVectors(ctx, vecs, false)
}

// retagVectors decides the prototype, propagated and discovered memberships of the given
// ordinals from their vectors.
func (t *Tagger) retagVectors(ctx context.Context, vecs map[int64][]float32, create bool) error {
	// hold says whether to set the tag's bits: a (re)build creates the tag in the index; a
	// poll leaves alone tags the index does not hold yet (defined elsewhere: syncTagsLocked
	// adds them whole, and would take a partly set tag for a complete one).
	hold := func(info filter.TagInfo) (bool, error) {
		if create {
			t.ix.EnsureTag(info)
			return true, nil
		}
		return t.ix.HasTag(info.Name), nil
	}
	// skip decides about a tag whose scope, seeds or reference do not evaluate (they name a
	// tag that is gone): it is logged and the other tags go on, so one broken definition does
	// not stall every vector tag (a poll) or keep the others from being built (a rebuild, which
	// leaves the broken one out of the index).
	skip := func(tg *TagDef, err error) error {
		if !errors.Is(err, filter.ErrUnknownTag) {
			return fmt.Errorf("tag %q: %w", tg.Name, err)
		}
		t.cfg.Logger.Warn("tagger: a vector tag's definition does not evaluate; left as it is", "tag", tg.Name, "err", err)
		return nil
	}
	// held: a poll works only on tags the index holds; a rebuild on every tag.
	held := func(tg *TagDef) bool { return create || t.ix.HasTag(tg.Name) }
	tags, err := t.store.Tags(ctx)
	if err != nil {
		return err
	}
	if len(t.models) == 0 {
		if t.models, err = t.store.Models(ctx); err != nil {
			return err
		}
	}
	live := t.ix.Live()
	ords := make([]int64, 0, len(vecs))
	for o := range vecs {
		if live.Contains(uint64(o)) {
			ords = append(ords, o)
		}
	}
	slices.Sort(ords)
	families := map[string][]TagDef{}
	for i := range tags {
		tg := &tags[i]
		switch tg.Kind {
		case KindPrototype:
			m, ok := t.models[tg.ID]
			if !ok {
				continue
			}
			if !held(tg) {
				continue
			}
			scope, err := t.scope(tg.Definition.Scope)
			if err != nil {
				if err := skip(tg, err); err != nil {
					return err
				}
				continue
			}
			var add, drop []uint64
			for _, o := range ords {
				s, _ := bestSim(vecs[o], m.Vectors)
				if s >= float64(m.Threshold) && (scope == nil || scope.Contains(uint64(o))) {
					add = append(add, uint64(o))
				} else {
					drop = append(drop, uint64(o))
				}
			}
			if _, err := hold(tg.Info()); err != nil {
				return err
			}
			if err := t.ix.SetTagBits(tg.Name, add, drop, nil); err != nil {
				return err
			}
		case KindPropagated:
			if !held(tg) {
				continue
			}
			p, err := t.propagation(ctx, tg)
			if err != nil {
				if err := skip(tg, err); err != nil {
					return err
				}
				continue
			}
			var add, drop []uint64
			var conf []float64
			for _, o := range ords {
				if p.seeds.Contains(uint64(o)) {
					add, conf = append(add, uint64(o)), append(conf, 1)
					continue
				}
				if p.scope != nil && !p.scope.Contains(uint64(o)) {
					drop = append(drop, uint64(o))
					continue
				}
				v, err := p.vote(ctx, t.vectors, o, vecs[o])
				if err != nil {
					return err
				}
				if v.Share >= p.minVote && v.Share > 0 {
					add, conf = append(add, uint64(o)), append(conf, v.Share)
				} else {
					drop = append(drop, uint64(o))
				}
			}
			if _, err := hold(tg.Info()); err != nil {
				return err
			}
			if err := t.ix.SetTagBits(tg.Name, add, drop, conf); err != nil {
				return err
			}
		case KindDiscovered:
			families[tg.Definition.Family] = append(families[tg.Definition.Family], *tg)
		}
	}
	for _, fam := range families {
		var cents [][]float32
		var members []TagDef
		for _, tg := range fam {
			if m, ok := t.models[tg.ID]; ok && len(m.Vectors) == 1 {
				cents = append(cents, m.Vectors[0])
				members = append(members, tg)
			}
		}
		if len(cents) == 0 {
			continue
		}
		adds := make([][]uint64, len(cents))
		drops := make([][]uint64, len(cents))
		for _, o := range ords {
			best := nearest(vecs[o], cents)
			for c := range cents {
				if c == best {
					adds[c] = append(adds[c], uint64(o))
				} else {
					drops[c] = append(drops[c], uint64(o))
				}
			}
		}
		for c, tg := range members {
			if ok, err := hold(tg.Info()); err != nil || !ok {
				if err != nil {
					return err
				}
				continue
			}
			if err := t.ix.SetTagBits(tg.Name, adds[c], drops[c], nil); err != nil {
				return err
			}
		}
	}
	t.dirty = true
	return nil
}

func (t *Tagger) scope(e *filter.Expr) (*roaring64.Bitmap, error) {
	if e == nil {
		return nil, nil
	}
	bm, err := t.ix.Eval(*e)
	if err != nil {
		return nil, fmt.Errorf("scope: %w", err)
	}
	return bm, nil
}

func dot(a, b []float32) float64 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return float64(s)
}

func normalize(v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	if n == 0 {
		return out
	}
	inv := float32(1 / math.Sqrt(n))
	for i, x := range v {
		out[i] = x * inv
	}
	return out
}

// bestSim is the highest cosine similarity of v to the prototypes (all L2-normalised) and
// which prototype it was.
func bestSim(v []float32, protos [][]float32) (float64, int) {
	best, at := math.Inf(-1), -1
	for i, p := range protos {
		if len(p) != len(v) {
			continue
		}
		if s := dot(v, p); s > best {
			best, at = s, i
		}
	}
	return best, at
}

func nearest(v []float32, cents [][]float32) int {
	_, at := bestSim(v, cents)
	return at
}

// ---- prototype calibration ----

// Calibration is how a prototype tag's threshold was chosen, kept in tag_models.calibration.
type Calibration struct {
	Method string `json:"method"`
	// Background: similarity of the prototypes to a random sample of SKUs.
	SampleSize int     `json:"sample_size"`
	Mean       float64 `json:"background_mean"`
	Std        float64 `json:"background_std"`
	Z          float64 `json:"z"`
	ZFloor     float64 `json:"z_floor"`
	// Knee: where the sorted similarities of the closest SKUs bend.
	Considered int     `json:"considered"`
	KneeRank   int     `json:"knee_rank"`
	KneeScore  float64 `json:"knee_score"`
	Threshold  float64 `json:"threshold"`
	Members    int     `json:"members"`
}

// calibrationZ is the background z-score a member must reach: two standard deviations (about
// 2.3% of random SKUs under a normal background). Measured on Icecat: the USE-Lite similarity
// of a description to the products has a mean of 0.27-0.45 and a standard deviation of
// 0.07-0.11, and the products of the described type sit only 2.3-3 standard deviations up
// (Processor, Desktop Board), so a 3-sd floor left those tags empty; the knee of the score
// curve above the floor then decides (see evals/tagging_test.go).
const calibrationZ = 2.0

// calibrationSample is how many random SKUs estimate the background similarity distribution
// (its mean and standard deviation to within ~2-3%).
const calibrationSample = 2000

// calibrate picks the threshold for scores (the best similarity of every candidate SKU to the
// prototypes) given the background sample: the knee of the sorted top scores (the point
// farthest below the chord from the best score to the score at the edge of the considered
// range, Kneedle), but never below the background mean + 2 standard deviations.
func calibrate(scores []float64, background []float64, nLive int) Calibration {
	c := Calibration{Method: "knee+zfloor", Z: calibrationZ, SampleSize: len(background)}
	var sum, sq float64
	for _, s := range background {
		sum += s
	}
	if len(background) > 0 {
		c.Mean = sum / float64(len(background))
		for _, s := range background {
			sq += (s - c.Mean) * (s - c.Mean)
		}
		c.Std = math.Sqrt(sq / float64(max(1, len(background)-1)))
	}
	c.ZFloor = c.Mean + calibrationZ*c.Std
	sorted := slices.Clone(scores)
	slices.SortFunc(sorted, func(a, b float64) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	// Consider the SKUs above the background floor, at most 10% of the catalogue.
	m := 0
	for m < len(sorted) && sorted[m] >= c.ZFloor {
		m++
	}
	if limit := max(10, nLive/10); m > limit {
		m = limit
	}
	c.Considered = m
	c.Threshold = c.ZFloor
	if m >= 3 {
		first, last := sorted[0], sorted[m-1]
		best, at := -1.0, -1
		for i := 0; i < m; i++ {
			// distance below the chord from (0, first) to (m-1, last), in normalised units
			x := float64(i) / float64(m-1)
			chord := first + (last-first)*x
			d := 0.0
			if first > last {
				d = (chord - sorted[i]) / (first - last)
			}
			if d > best {
				best, at = d, i
			}
		}
		if at >= 0 && best > 0 {
			c.KneeRank, c.KneeScore = at, sorted[at]
			if c.KneeScore > c.Threshold {
				c.Threshold = c.KneeScore
			}
		}
	}
	for _, s := range scores {
		if s >= c.Threshold {
			c.Members++
		}
	}
	return c
}

// ---- rebuilding tags ----

// Rebuild recomputes the members of the named tags (all when none are named) from their
// definitions and saves the index. Prototype and discovered tags need vectors (and prototype
// descriptions an embedder); without them those tags keep their saved members.
func (t *Tagger) Rebuild(ctx context.Context, names ...string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rebuildLocked(ctx, names...)
}

func (t *Tagger) rebuildLocked(ctx context.Context, names ...string) error {
	if !t.loaded {
		return errors.New("tagger: not loaded")
	}
	tags, err := t.store.Tags(ctx)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[lowerName(n)] = true
	}
	found := map[string]bool{}
	pick := func(tg *TagDef) bool {
		if len(want) == 0 {
			return true
		}
		found[lowerName(tg.Name)] = true
		return want[lowerName(tg.Name)]
	}
	for _, tg := range orderRules(tags) {
		if !pick(&tg) {
			continue
		}
		bm, err := t.ix.Eval(*tg.Definition.Rule)
		if err != nil {
			return fmt.Errorf("tag %q: %w", tg.Name, err)
		}
		t.ix.SetTag(tg.Info(), bm, nil)
	}
	for i := range tags {
		tg := &tags[i]
		if tg.Kind == KindRule || !pick(tg) {
			continue
		}
		if err := t.rebuildVectorTag(ctx, tg); err != nil {
			return fmt.Errorf("tag %q: %w", tg.Name, err)
		}
	}
	for n := range want {
		if !found[n] {
			return fmt.Errorf("tag %q: %w", n, ErrNotFound)
		}
	}
	t.dirty = true
	_, err = t.saveLocked(ctx, true)
	return err
}

func (t *Tagger) rebuildVectorTag(ctx context.Context, tg *TagDef) error {
	if t.vectors == nil {
		return nil
	}
	switch tg.Kind {
	case KindPrototype:
		members, _, err := t.prototypeMembers(ctx, tg)
		if err != nil {
			return err
		}
		t.ix.SetTag(tg.Info(), members, nil)
	case KindPropagated:
		members, conf, err := t.propagate(ctx, tg)
		if err != nil {
			return err
		}
		t.ix.SetTag(tg.Info(), members, conf)
	case KindDiscovered:
		m, ok := t.models[tg.ID]
		if !ok {
			return nil
		}
		_ = m // members are assigned family-wide by retagVectors
		all := t.vectorOrdinals()
		vecs := map[int64][]float32{}
		it := all.Iterator()
		for it.HasNext() {
			o := int64(it.Next())
			if v, ok := t.vectors.Vector(o); ok {
				vecs[o] = v
			}
		}
		return t.retagVectors(ctx, vecs, true)
	}
	return nil
}

// vectorOrdinals is the live ordinals (whether they have vectors is checked per ordinal).
func (t *Tagger) vectorOrdinals() *roaring64.Bitmap { return t.ix.Live() }

// prototypeVectors embeds the descriptions and takes the examples' vectors.
func (t *Tagger) prototypeVectors(ctx context.Context, d *Definition) ([][]float32, []string, error) {
	var out [][]float32
	var labels []string
	for _, s := range d.Descriptions {
		if t.embedder == nil {
			return nil, nil, errors.New("prototype descriptions need an embedder")
		}
		v, err := t.embedder.EmbedQuery(ctx, s)
		if err != nil {
			return nil, nil, fmt.Errorf("embed %q: %w", s, err)
		}
		out = append(out, normalize(v))
		labels = append(labels, fmt.Sprintf("description %q", s))
	}
	for _, id := range d.Examples {
		o, ok := t.ix.Ordinal(id)
		if !ok {
			return nil, nil, fmt.Errorf("example SKU %d: %w", id, ErrNotFound)
		}
		v, ok := t.vectors.Vector(o)
		if !ok {
			return nil, nil, fmt.Errorf("example SKU %d has no vector yet", id)
		}
		out = append(out, normalize(v))
		labels = append(labels, fmt.Sprintf("example SKU %d", id))
	}
	return out, labels, nil
}

// prototypeMembers calibrates a prototype tag against the catalogue and returns its members.
func (t *Tagger) prototypeMembers(ctx context.Context, tg *TagDef) (*roaring64.Bitmap, Calibration, error) {
	protos, _, err := t.prototypeVectors(ctx, &tg.Definition)
	if err != nil {
		return nil, Calibration{}, err
	}
	live := t.vectorOrdinals()
	scope, err := t.scope(tg.Definition.Scope)
	if err != nil {
		return nil, Calibration{}, err
	}
	// Every SKU's best similarity, and a random background sample.
	ords := live.ToArray()
	scores := make([]float64, 0, len(ords))
	scored := make([]uint64, 0, len(ords))
	for _, o := range ords {
		v, ok := t.vectors.Vector(int64(o))
		if !ok {
			continue
		}
		s, _ := bestSim(v, protos)
		scores = append(scores, s)
		scored = append(scored, o)
	}
	rng := rand.New(rand.NewPCG(uint64(tg.ID), 0x7a66))
	var background []float64
	if len(scores) <= calibrationSample {
		background = scores
	} else {
		for _, i := range rng.Perm(len(scores))[:calibrationSample] {
			background = append(background, scores[i])
		}
	}
	cal := calibrate(scores, background, len(scores))
	members := roaring64.New()
	for i, o := range scored {
		if scores[i] >= cal.Threshold && (scope == nil || scope.Contains(o)) {
			members.Add(o)
		}
	}
	cal.Members = int(members.GetCardinality())
	calJSON, _ := json.Marshal(cal)
	model := Model{TagID: tg.ID, Model: t.embedderName(), Vectors: protos, Threshold: float32(cal.Threshold), Calibration: calJSON}
	if err := t.store.SaveModel(ctx, model); err != nil {
		return nil, cal, err
	}
	if t.models == nil {
		t.models = map[int64]Model{}
	}
	t.models[tg.ID] = model
	return members, cal, nil
}

func (t *Tagger) embedderName() string {
	if t.embedder == nil {
		return ""
	}
	return t.embedder.Name()
}

// ---- propagation ----

type propagation struct {
	seeds, reference, scope *roaring64.Bitmap
	k                       int
	minVote                 float64
	// near is the similarity a neighbour needs to vote: the background mean of random pairs
	// plus calibrationZ standard deviations. A SKU far from every voter (its "nearest"
	// neighbours are no nearer than random ones) then gets no vote, instead of a share decided
	// by a few near-zero similarities.
	near float64
}

// DefaultK is how many neighbours vote in a propagated tag: 10, the usual kNN choice that
// keeps one odd neighbour from deciding while staying local (on the Icecat product types,
// see the eval in evals/tagging_test.go).
const DefaultK = 10

// Vote is the outcome of one SKU's neighbour vote.
type Vote struct {
	Share      float64         // similarity-weighted share of neighbours that carry the tag
	Neighbours []NeighbourVote // the voters, most similar first
}

// NeighbourVote is one voter.
type NeighbourVote struct {
	SKUID      int64   `json:"sku_id,string"`
	Ordinal    int64   `json:"ordinal"`
	Similarity float64 `json:"similarity"`
	Carries    bool    `json:"carries"`
}

func (t *Tagger) propagation(ctx context.Context, tg *TagDef) (*propagation, error) {
	d := &tg.Definition
	p := &propagation{k: d.K, minVote: d.MinVote}
	if p.k == 0 {
		p.k = DefaultK
	}
	if p.minVote == 0 {
		p.minVote = 0.5
	}
	p.seeds = roaring64.New()
	if d.Seeds != nil {
		bm, err := t.ix.Eval(*d.Seeds)
		if err != nil {
			return nil, fmt.Errorf("seeds: %w", err)
		}
		p.seeds = bm
	}
	for _, id := range d.SeedIDs {
		if o, ok := t.ix.Ordinal(id); ok {
			p.seeds.Add(uint64(o))
		}
	}
	p.seeds.And(t.ix.Live())
	var err error
	if d.Reference != nil {
		if p.reference, err = t.ix.Eval(*d.Reference); err != nil {
			return nil, fmt.Errorf("reference: %w", err)
		}
	}
	if p.scope, err = t.scope(d.Scope); err != nil {
		return nil, err
	}
	p.near = t.pairBackground(nil) // the catalogue at large: a reference of a few types is self-similar
	return p, nil
}

// pairBackground estimates the similarity of random pairs of SKUs within set (nil: all live)
// from up to calibrationSample vectors, and returns its mean + calibrationZ standard
// deviations (-Inf when there are too few vectors to say).
func (t *Tagger) pairBackground(set *roaring64.Bitmap) float64 {
	if set == nil {
		set = t.ix.Live()
	}
	n := set.GetCardinality()
	if n < 20 {
		return math.Inf(-1)
	}
	step := max(n/calibrationSample, 1)
	var vecs [][]float32
	var i uint64
	it := set.Iterator()
	for it.HasNext() && len(vecs) < calibrationSample {
		o := it.Next()
		if i%step == 0 {
			if v, ok := t.vectors.Vector(int64(o)); ok {
				vecs = append(vecs, v)
			}
		}
		i++
	}
	if len(vecs) < 20 {
		return math.Inf(-1)
	}
	var sum, sq float64
	m := 0
	half := len(vecs) / 2
	for j := 0; j < half; j++ { // pairs of SKUs far apart in ordinal order: unrelated in general
		s := float64(dot(vecs[j], vecs[j+half]))
		sum += s
		sq += s * s
		m++
	}
	mean := sum / float64(m)
	sd := math.Sqrt(math.Max(sq/float64(m)-mean*mean, 0))
	return mean + calibrationZ*sd
}

// vote runs the k-nearest-neighbour vote for ordinal o with vector v.
func (p *propagation) vote(ctx context.Context, vecs Vectors, o int64, v []float32) (Vote, error) {
	filter := p.reference
	if filter != nil && filter.Contains(uint64(o)) {
		filter = filter.Clone()
		filter.Remove(uint64(o))
	}
	hits, err := vecs.Search(ctx, v, p.k+1, filter)
	if err != nil {
		return Vote{}, err
	}
	var vote Vote
	var total, carried float64
	for _, h := range hits {
		if h.Ordinal == o || len(vote.Neighbours) == p.k {
			continue
		}
		sim := float64(h.Score)
		carries := p.seeds.Contains(uint64(h.Ordinal))
		vote.Neighbours = append(vote.Neighbours, NeighbourVote{SKUID: h.SKUID, Ordinal: h.Ordinal, Similarity: sim, Carries: carries})
		if sim < p.near {
			continue // no nearer than random SKUs: not a neighbour that can vote
		}
		w := math.Max(sim, 0)
		total += w
		if carries {
			carried += w
		}
	}
	if total > 0 {
		vote.Share = carried / total
	}
	return vote, nil
}

// propagate computes a propagated tag's members over its scope: the seeds (confidence 1) and
// every other SKU whose neighbour vote reaches MinVote (confidence = the vote share).
func (t *Tagger) propagate(ctx context.Context, tg *TagDef) (*roaring64.Bitmap, map[uint64]float64, error) {
	p, err := t.propagation(ctx, tg)
	if err != nil {
		return nil, nil, err
	}
	cand := p.scope
	if cand == nil {
		cand = t.ix.Live()
	}
	cand = roaring64.AndNot(cand, p.seeds)
	members := p.seeds.Clone()
	conf := map[uint64]float64{}
	it := cand.Iterator()
	for it.HasNext() {
		o := it.Next()
		v, ok := t.vectors.Vector(int64(o))
		if !ok {
			continue
		}
		vote, err := p.vote(ctx, t.vectors, int64(o), v)
		if err != nil {
			return nil, nil, err
		}
		if vote.Share >= p.minVote && vote.Share > 0 {
			members.Add(o)
			conf[o] = vote.Share
		}
	}
	return members, conf, nil
}

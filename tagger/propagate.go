package tagger

import (
	"cmp"
	"context"
	"fmt"
	"math"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// propagation is what a propagated tag's vote needs: its seeds, the voters (reference), the
// scope, k and the share a SKU needs.
type propagation struct {
	seeds, reference, scope *roaring64.Bitmap
	k                       int
	minVote                 float64
	// near is the similarity a neighbour needs to vote: the background mean of random pairs
	// plus calibrationZ standard deviations. A SKU far from every voter (its "nearest"
	// neighbours are no nearer than random ones) then gets no vote, instead of a share decided
	// by a few near-zero similarities.
	near float64
	// lift is how much more a carrying neighbour's vote weighs than a non-carrying one's
	// (Definition.Balance), and prior the seeds' share of the voters it was computed from.
	lift, prior float64
}

// DefaultBalance is the prior correction of a propagated tag's vote (Definition.Balance):
// 0.2, chosen by cross-validation over the Icecat product types (evals/tagging_test.go). At
// 1% seeds a carrier's vote weighs 2.5 times another's; at 10%, 1.55 times.
const DefaultBalance = 0.2

// DefaultK is how many neighbours vote in a propagated tag: 10, the usual kNN choice that
// keeps one odd neighbour from deciding while staying local (on the Icecat product types,
// see the eval in evals/tagging_test.go).
const DefaultK = 10

// Vote is the outcome of one SKU's neighbour vote.
type Vote struct {
	// Share is the similarity-weighted share of the vote of the neighbours that carry the tag,
	// their votes weighed up by the propagation's lift.
	Share      float64
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
	ref := p.reference
	if ref == nil {
		ref = t.ix.Live()
	}
	p.lift, p.prior = voteLift(d.Balance, ref.AndCardinality(p.seeds), ref.GetCardinality())
	return p, nil
}

// voteLift is the weight of a carrying neighbour's vote against a non-carrying one's at a
// balance (0: DefaultBalance; negative: none) when seeds of the voters carry the tag, and
// the seeds' share of the voters.
func voteLift(balance float64, seeds, voters uint64) (lift, prior float64) {
	b := cmp.Or(balance, DefaultBalance)
	if b <= 0 || seeds == 0 || voters <= seeds {
		return 1, 0
	}
	prior = float64(seeds) / float64(voters)
	return math.Pow((1-prior)/prior, b), prior
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
		if carries {
			w *= p.lift
			carried += w
		}
		total += w
	}
	if total > 0 {
		vote.Share = carried / total
	}
	return vote, nil
}

// bits splits ords into the members of the propagated tag (seeds, and SKUs in scope whose
// neighbours' vote reaches minVote; conf is each added member's vote share) and the rest.
func (p *propagation) bits(ctx context.Context, vecs Vectors, ords []int64, vs map[int64][]float32) (add, drop []uint64, conf []float64, err error) {
	for _, o := range ords {
		if p.seeds.Contains(uint64(o)) {
			add, conf = append(add, uint64(o)), append(conf, 1)
			continue
		}
		if p.scope != nil && !p.scope.Contains(uint64(o)) {
			drop = append(drop, uint64(o))
			continue
		}
		v, err := p.vote(ctx, vecs, o, vs[o])
		if err != nil {
			return nil, nil, nil, err
		}
		if v.Share >= p.minVote && v.Share > 0 {
			add, conf = append(add, uint64(o)), append(conf, v.Share)
		} else {
			drop = append(drop, uint64(o))
		}
	}
	return add, drop, conf, nil
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

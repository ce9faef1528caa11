package tagger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	pgvector "github.com/pgvector/pgvector-go"

	"selection/filter"
	"selection/internal/pg"
)

// vecMarkInit starts the tail of sku_vectors at the newest vector stamped now.
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
// ordinals from their vectors. A (re)build (create) works on every tag and creates it in the
// index; a poll works only on the tags the index holds (one defined elsewhere is added whole by
// syncTagsLocked, which would take a partly set tag for a complete one).
func (t *Tagger) retagVectors(ctx context.Context, vecs map[int64][]float32, create bool) error {
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
		if tg.Kind == KindDiscovered {
			families[tg.Definition.Family] = append(families[tg.Definition.Family], *tg)
			continue
		}
		if !create && !t.ix.HasTag(tg.Name) {
			continue
		}
		var err error
		switch tg.Kind {
		case KindPrototype:
			err = t.retagPrototype(tg, ords, vecs, create)
		case KindPropagated:
			err = t.retagPropagated(ctx, tg, ords, vecs, create)
		}
		if err != nil {
			return err
		}
	}
	for _, fam := range families {
		if err := t.retagFamily(fam, ords, vecs, create); err != nil {
			return err
		}
	}
	t.dirty = true
	return nil
}

// hold says whether to set a tag's bits: a (re)build (create) creates the tag in the index; a
// poll leaves alone tags the index does not hold yet.
func (t *Tagger) hold(info filter.TagInfo, create bool) bool {
	if create {
		t.ix.EnsureTag(info)
		return true
	}
	return t.ix.HasTag(info.Name)
}

// skipBroken decides about a tag whose scope, seeds or reference do not evaluate (they name a
// tag that is gone): it is logged and the other tags go on, so one broken definition does not
// stall every vector tag (a poll) or keep the others from being built (a rebuild, which leaves
// the broken one out of the index). Any other error is returned.
func (t *Tagger) skipBroken(tg *TagDef, err error) error {
	if !errors.Is(err, filter.ErrUnknownTag) {
		return fmt.Errorf("tag %q: %w", tg.Name, err)
	}
	t.cfg.Logger.Warn("tagger: a vector tag's definition does not evaluate; left as it is", "tag", tg.Name, "err", err)
	return nil
}

// retagPrototype sets a prototype tag's bits of ords (a tag without a model is left alone).
func (t *Tagger) retagPrototype(tg *TagDef, ords []int64, vecs map[int64][]float32, create bool) error {
	m, ok := t.models[tg.ID]
	if !ok {
		return nil
	}
	scope, err := t.scope(tg.Definition.Scope)
	if err != nil {
		return t.skipBroken(tg, err)
	}
	add, drop := prototypeBits(m, scope, ords, vecs, t.ix.TypeOf)
	t.hold(tg.Info(), create)
	return t.ix.SetTagBits(tg.Name, add, drop, nil)
}

// retagPropagated sets a propagated tag's bits of ords by its neighbours' vote.
func (t *Tagger) retagPropagated(ctx context.Context, tg *TagDef, ords []int64, vecs map[int64][]float32, create bool) error {
	p, err := t.propagation(ctx, tg)
	if err != nil {
		return t.skipBroken(tg, err)
	}
	add, drop, conf, err := p.bits(ctx, t.vectors, ords, vecs)
	if err != nil {
		return err
	}
	t.hold(tg.Info(), create)
	return t.ix.SetTagBits(tg.Name, add, drop, conf)
}

// retagFamily assigns each of ords to the nearest cluster of a discovered family (the tags
// with a one-vector model).
func (t *Tagger) retagFamily(fam []TagDef, ords []int64, vecs map[int64][]float32, create bool) error {
	var cents [][]float32
	var members []TagDef
	for _, tg := range fam {
		if m, ok := t.models[tg.ID]; ok && len(m.Vectors) == 1 {
			cents = append(cents, m.Vectors[0])
			members = append(members, tg)
		}
	}
	if len(cents) == 0 {
		return nil
	}
	adds, drops := clusterBits(cents, ords, vecs)
	for c, tg := range members {
		if !t.hold(tg.Info(), create) {
			continue
		}
		if err := t.ix.SetTagBits(tg.Name, adds[c], drops[c], nil); err != nil {
			return err
		}
	}
	return nil
}

// scope evaluates a tag's scope (nil when it has none: every SKU may be a member).
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

// prototypeBits splits ords into the members of a prototype tag (a prototype's rule admits
// them, by their vector and product type, and they are in scope; nil: no scope) and the rest.
func prototypeBits(m Model, scope *roaring64.Bitmap, ords []int64, vecs map[int64][]float32, typeOf func(int64) string) (add, drop []uint64) {
	rules := m.rules()
	for _, o := range ords {
		if at, _ := protoMatch(vecs[o], typeOf(o), m.Vectors, rules); at >= 0 && (scope == nil || scope.Contains(uint64(o))) {
			add = append(add, uint64(o))
		} else {
			drop = append(drop, uint64(o))
		}
	}
	return add, drop
}

// clusterBits gives, per centroid, the ordinals nearest to it (adds[c]) and the others (drops[c]).
func clusterBits(cents [][]float32, ords []int64, vecs map[int64][]float32) (adds, drops [][]uint64) {
	adds = make([][]uint64, len(cents))
	drops = make([][]uint64, len(cents))
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
	return adds, drops
}

package tagger

import (
	"context"
	"errors"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

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
		bm, err := t.evalRule(ctx, &tg, nil)
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

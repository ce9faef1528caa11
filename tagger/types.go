package tagger

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"selection/prodtype"
)

// Product types: the index's product_type field holds each SKU's type as the catalogue teaches
// it (package prodtype), not the feed's raw value. The model is learned from every SKU's title
// at load; a SKU whose text names no type takes the type whose centroid (the mean of its
// members' vectors) is nearest to its own vector, when that is clearly nearer than the next.

// types is the store's product-type state: the learned model and the types the neighbours
// gave SKUs whose text names none (by ordinal), so that a re-read row keeps them.
type types struct {
	mu        sync.RWMutex
	model     *prodtype.Model
	neighbour map[int64]prodtype.Assignment
	pending   map[int64]bool // live ordinals with no type yet, waiting for a vector
}

// typesSQL reads what learning needs; the colour attribute holds property words.
const typesSQL = `SELECT title, brand, product_type, coalesce(attributes->>'attr_t_product_colour', ''), price
	FROM skus WHERE live`

// LearnTypes learns the product-type model from the live catalogue.
func (s *Store) LearnTypes(ctx context.Context) (*prodtype.Model, error) {
	rows, err := s.pool.Query(ctx, typesSQL)
	if err != nil {
		return nil, fmt.Errorf("learn product types: %w", err)
	}
	var docs []prodtype.Doc
	for rows.Next() {
		var d prodtype.Doc
		if err := rows.Scan(&d.Title, &d.Brand, &d.Feed, &d.Colour, &d.Price); err != nil {
			rows.Close()
			return nil, fmt.Errorf("learn product types: %w", err)
		}
		docs = append(docs, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("learn product types: %w", err)
	}
	m := prodtype.Learn(docs, prodtype.Config{})
	s.types.mu.Lock()
	s.types.model = m
	s.types.mu.Unlock()
	return m, nil
}

// TypeModel is the learned model (nil before LearnTypes).
func (s *Store) TypeModel() *prodtype.Model {
	s.types.mu.RLock()
	defer s.types.mu.RUnlock()
	return s.types.model
}

// classify sets a scanned row's product type from its text (or the neighbours' earlier
// answer) and notes live rows that have none.
func (s *Store) classify(r *Row, title, colour string, price int64) {
	s.types.mu.RLock()
	m := s.types.model
	s.types.mu.RUnlock()
	if m == nil || m.Len() == 0 {
		return // nothing learned (an empty catalogue): the feed's value stands
	}
	a := m.Classify(prodtype.Doc{Title: title, Brand: r.Cat[catBrand], Feed: r.Cat[catProductType], Colour: colour, Price: price})
	if a.Type != "" {
		r.Cat[catProductType] = a.Type
		return
	}
	s.types.mu.Lock()
	defer s.types.mu.Unlock()
	if nb, ok := s.types.neighbour[r.Ordinal]; ok {
		r.Cat[catProductType] = nb.Type
		return
	}
	r.Cat[catProductType] = ""
	if r.Live {
		if s.types.pending == nil {
			s.types.pending = map[int64]bool{}
		}
		s.types.pending[r.Ordinal] = true
	}
}

// ExplainType says why a SKU has its type.
func (s *Store) ExplainType(ctx context.Context, id int64) (prodtype.Assignment, error) {
	var title, brand, feed, colour string
	var price, ord int64
	err := s.pool.QueryRow(ctx, `SELECT ordinal, title, brand, product_type,
		coalesce(attributes->>'attr_t_product_colour', ''), price FROM skus WHERE id = $1`, id).
		Scan(&ord, &title, &brand, &feed, &colour, &price)
	if err == pgx.ErrNoRows {
		return prodtype.Assignment{}, fmt.Errorf("sku %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return prodtype.Assignment{}, fmt.Errorf("explain type: %w", err)
	}
	m := s.TypeModel()
	if m == nil {
		return prodtype.Assignment{}, fmt.Errorf("explain type: no model learned yet")
	}
	a := m.Classify(prodtype.Doc{Title: title, Brand: brand, Feed: feed, Colour: colour, Price: price})
	if a.Type == "" {
		s.types.mu.RLock()
		nb, ok := s.types.neighbour[ord]
		s.types.mu.RUnlock()
		if ok {
			a = nb
		} else {
			a.Why = "neither its title nor the feed names a known type, and its vector has no clearly nearest type"
		}
	}
	return a, nil
}

// Neighbour typing: a SKU without a type from its text takes the type whose centroid is
// nearest its vector when the cosine beats the runner-up's by NeighbourMargin and reaches
// NeighbourMin.
const (
	NeighbourMargin = 0.02
	NeighbourMin    = 0.5
)

// centroidTTL is how long the type centroids are reused before they are computed again (they
// move slowly: a few new SKUs barely shift a mean of hundreds).
const centroidTTL = 10 * time.Minute

// centroids computes each type's normalised mean vector over its text-typed live members.
func (t *Tagger) centroids() (names []string, cents [][]float32) {
	if t.vectors == nil {
		return nil, nil
	}
	vals, err := t.ix.Values("product_type")
	if err != nil {
		return nil, nil
	}
	t.store.types.mu.RLock()
	nb := t.store.types.neighbour
	t.store.types.mu.RUnlock()
	for _, vc := range vals {
		if vc.Value == "" {
			continue
		}
		bm, err := t.ix.Eval(Attr("product_type", vc.Value))
		if err != nil {
			continue
		}
		var c []float32
		n := 0
		it := bm.Iterator()
		for it.HasNext() && n < 2000 {
			o := int64(it.Next())
			if _, fromNb := nb[o]; fromNb {
				continue
			}
			v, ok := t.vectors.Vector(o)
			if !ok {
				continue
			}
			if c == nil {
				c = make([]float32, len(v))
			}
			for i := range v {
				c[i] += v[i]
			}
			n++
		}
		if n < 2 {
			continue
		}
		c = normalize(c)
		names = append(names, vc.Value)
		cents = append(cents, c)
	}
	return names, cents
}

// fillTypesLocked types the pending SKUs that now have vectors, by the nearest centroid.
func (t *Tagger) fillTypesLocked(ctx context.Context) (int, error) {
	t.store.types.mu.Lock()
	pending := t.store.types.pending
	t.store.types.pending = nil
	t.store.types.mu.Unlock()
	if len(pending) == 0 || t.vectors == nil {
		return 0, nil
	}
	if len(t.cents) == 0 || time.Since(t.centsAt) > centroidTTL {
		t.centNames, t.cents = t.centroids()
		t.centsAt = time.Now()
	}
	names, cents := t.centNames, t.cents
	var rows []Row
	var wait []int64
	filled := map[int64]prodtype.Assignment{}
	for o := range pending {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		v, ok := t.vectors.Vector(o)
		if !ok {
			wait = append(wait, o)
			continue
		}
		best, second, bi := float32(-2), float32(-2), -1
		for i, c := range cents {
			var d float32
			for k := range c {
				d += c[k] * v[k]
			}
			if d > best {
				best, second, bi = d, best, i
			} else if d > second {
				second = d
			}
		}
		if bi < 0 || best < NeighbourMin || best-second < NeighbourMargin {
			continue // stays untyped: no clear answer
		}
		r, ok := t.ix.Row(o)
		if !ok || !r.Live || r.Cat[catProductType] != "" {
			continue
		}
		r.Cat[catProductType] = names[bi]
		rows = append(rows, r)
		filled[o] = prodtype.Assignment{Type: names[bi], Source: prodtype.SourceNeighbour,
			Why: fmt.Sprintf("its text names no type; its vector is nearest the centroid of %q (cosine %.2f, next %.2f)", names[bi], best, second)}
	}
	t.store.types.mu.Lock()
	if t.store.types.neighbour == nil {
		t.store.types.neighbour = map[int64]prodtype.Assignment{}
	}
	for o, a := range filled {
		t.store.types.neighbour[o] = a
	}
	if len(wait) > 0 {
		if t.store.types.pending == nil {
			t.store.types.pending = map[int64]bool{}
		}
		for _, o := range wait {
			t.store.types.pending[o] = true
		}
	}
	t.store.types.mu.Unlock()
	if len(rows) > 0 {
		t.ix.Upsert(rows)
		t.dirty = true
	}
	return len(rows), nil
}

// TypeOf returns a SKU's product type ("" when it has none or is not live).
func (ix *Index) TypeOf(ordinal int64) string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	c := ix.cats[catProductType]
	if ordinal < 0 || ordinal >= int64(len(c.codes)) {
		return ""
	}
	return c.values[c.codes[ordinal]]
}

// TypeOf returns a SKU's product type ("" when it has none).
func (t *Tagger) TypeOf(ordinal int64) string { return t.ix.TypeOf(ordinal) }

// TypeModel is the learned product-type model (nil before the first load).
func (t *Tagger) TypeModel() *prodtype.Model { return t.store.TypeModel() }

// TypeCentroids returns each type's centroid (the normalised mean of its members' vectors),
// computed when missing or older than centroidTTL; none without vectors.
func (t *Tagger) TypeCentroids() ([]string, [][]float32) {
	if p := t.pubCents.Load(); p != nil && time.Since(p.at) < centroidTTL {
		return p.names, p.cents
	}
	if t.vectors == nil || t.store.TypeModel() == nil {
		return nil, nil
	}
	names, cents := t.centroids()
	t.pubCents.Store(&centroidSet{names: names, cents: cents, at: time.Now()})
	return names, cents
}

type centroidSet struct {
	names []string
	cents [][]float32
	at    time.Time
}

// ExplainType says why a SKU has its product type.
func (t *Tagger) ExplainType(ctx context.Context, id int64) (prodtype.Assignment, error) {
	return t.store.ExplainType(ctx, id)
}

package tagger

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"

	"selection/filter"
	"selection/prodtype"
	"selection/vectorindex"
)

// Product types: the index's product_type field holds each SKU's type as the catalogue teaches
// it (package prodtype), not the feed's raw value. The model is learned from every SKU's title
// at load; a SKU whose text names no type takes the type whose centroid (the mean of its
// members' vectors) is nearest to its own vector, when that is clearly nearer than the next.

// types is the store's product-type state: the model (stored in type_models, modelID) and
// the types the neighbours gave SKUs whose text names none (sku_types, read up to voteSeq), by
// ordinal, so that a re-read row keeps them.
type types struct {
	mu        sync.RWMutex
	model     *prodtype.Model
	modelID   int64
	learnedOn int64 // the live SKUs the model was learned on
	neighbour map[int64]typeVote
	voteSeq   int64
	pending   *roaring64.Bitmap // live ordinals with no type (or a weak one) yet, to be voted on
	weak      map[string]bool
	// kinds are the types a pending untyped SKU's title names by their head word only
	// (prodtype.Assignment.Kinds), by ordinal: the vote chooses among them.
	kinds map[int64][]string
}

// typesSQL reads what learning needs; the colour attribute holds property words, the
// device-type attribute a type where the title names none.
const typesSQL = `SELECT title, brand, product_type, coalesce(attributes->>'attr_t_product_colour', ''),
	coalesce(attributes->>'attr_t_device_type', ''), price FROM skus WHERE live`

// TypeModel is the learned model (nil before LoadTypes).
func (s *Store) TypeModel() *prodtype.Model {
	s.types.mu.RLock()
	defer s.types.mu.RUnlock()
	return s.types.model
}

// classify sets a scanned row's product type from its text (or the neighbours' earlier
// answer) and notes live rows that have none.
func (s *Store) classify(r *filter.Row, title, colour, device string, price int64) {
	s.types.mu.RLock()
	m := s.types.model
	s.types.mu.RUnlock()
	if m == nil || m.Len() == 0 {
		return // nothing learned (an empty catalogue): the feed's value stands
	}
	a := m.Classify(prodtype.Doc{Title: title, Brand: r.Cat[filter.CatBrand], Feed: r.Cat[filter.CatProductType], Colour: colour, Device: device, Price: price})
	r.Cat[filter.CatProductType] = a.Type
	s.types.mu.Lock()
	defer s.types.mu.Unlock()
	delete(s.types.kinds, r.Ordinal) // kept only while it waits for a vote, below
	if nb, ok := s.types.neighbour[r.Ordinal]; ok && nb.was == a.Type {
		// The vote stands while the text says what it said then, whatever this replica
		// thinks of weak types now: every replica applies it alike.
		r.Cat[filter.CatProductType] = nb.Type
		return
	}
	if a.Type != "" && !s.types.weak[a.Type] {
		return
	}
	if r.Live {
		if s.types.pending == nil {
			s.types.pending = roaring64.New()
		}
		s.types.pending.Add(uint64(r.Ordinal))
		if len(a.Kinds) > 0 {
			if s.types.kinds == nil {
				s.types.kinds = map[int64][]string{}
			}
			s.types.kinds[r.Ordinal] = a.Kinds
		}
	}
}

// ExplainType says why a SKU has its type.
func (s *Store) ExplainType(ctx context.Context, id int64) (prodtype.Assignment, error) {
	var title, brand, feed, colour, device string
	var price, ord int64
	err := s.pool.QueryRow(ctx, `SELECT ordinal, title, brand, product_type,
		coalesce(attributes->>'attr_t_product_colour', ''), coalesce(attributes->>'attr_t_device_type', ''), price
		FROM skus WHERE id = $1`, id).
		Scan(&ord, &title, &brand, &feed, &colour, &device, &price)
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
	a := m.Classify(prodtype.Doc{Title: title, Brand: brand, Feed: feed, Colour: colour, Device: device, Price: price})
	s.types.mu.RLock()
	nb, ok := s.types.neighbour[ord]
	s.types.mu.RUnlock()
	switch {
	case ok && nb.was == a.Type:
		a = nb.Assignment
	case a.Type == "":
		a.Why = "neither its title nor the feed names a known type, and its vector has no clearly nearest type"
	}
	return a, nil
}

// Neighbour typing. A SKU whose text names no type, or only a weak one, takes the type its
// nearest typed neighbours vote for: the NeighbourK most similar SKUs of strong types, each
// voting with its similarity; the winner needs NeighbourShare of the votes. A type is weak when
// its members lie far apart in embedding space: its coherence (the mean cosine of its members
// to its centroid) is more than two median absolute deviations below the median type's. On
// Icecat that marks "pack", "mount", "stand", "unit" and "series": words that a few titles carry
// where others name the category, not categories. A SKU whose title names kinds by their head
// word only (prodtype.Assignment.Kinds: "... Rackmount Switch") takes the kind whose centre is
// nearest its vector instead: the text says what it is, the vector which of those. A poll
// votes on at most NeighbourBatch SKUs
// (one search each: about 1 ms over 19,406 vectors, a few ms over 1M), so the tagger's lock is
// never held long; a load votes for up to LoadVoteBudget before it returns and leaves the rest
// to the polls.
const (
	NeighbourK     = 10
	NeighbourShare = 0.5
	NeighbourBatch = 256
	LoadVoteBudget = 30 * time.Second
)

// centroidTTL is how long the type centroids are reused before they are computed again (they
// move slowly: a few new SKUs barely shift a mean of hundreds).
const centroidTTL = 10 * time.Minute

// centroidSample bounds the members that make a type's centroid and coherence.
const centroidSample = 2000

// centroids computes each type's normalised mean vector over its text-typed live members, and
// the set of weak types.
func (t *Tagger) centroids() (names []string, cents [][]float32, weak map[string]bool) {
	if t.vectors == nil {
		return nil, nil, nil
	}
	vals, err := t.ix.Values("product_type")
	if err != nil {
		return nil, nil, nil
	}
	t.store.types.mu.RLock()
	nb := t.store.types.neighbour
	t.store.types.mu.RUnlock()
	var cohs []float64
	for _, vc := range vals {
		if vc.Value == "" {
			continue
		}
		bm, err := t.ix.Eval(filter.Attr("product_type", vc.Value))
		if err != nil {
			continue
		}
		var c []float32
		var vecs [][]float32
		it := bm.Iterator()
		for it.HasNext() && len(vecs) < centroidSample {
			o := int64(it.Next())
			if _, fromNb := nb[o]; fromNb {
				continue
			}
			v, ok := t.vectors.Vector(o)
			if !ok {
				continue
			}
			c = vectorindex.Add(c, v)
			vecs = append(vecs, v)
		}
		if len(vecs) < 2 {
			continue
		}
		c = normalize(c)
		var coh float64
		for _, v := range vecs {
			coh += dot(c, v)
		}
		names = append(names, vc.Value)
		cents = append(cents, c)
		cohs = append(cohs, coh/float64(len(vecs)))
	}
	weak = map[string]bool{}
	if len(cohs) >= 5 {
		med := median(cohs)
		dev := make([]float64, len(cohs))
		for i, c := range cohs {
			dev[i] = math.Abs(c - med)
		}
		bar := med - 2*median(dev)
		for i, c := range cohs {
			if c < bar {
				weak[names[i]] = true
			}
		}
	}
	return names, cents, weak
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// refreshCentroidsLocked recomputes the centroids and weak types when missing or stale; a
// newly weak type's members are put up for a vote.
func (t *Tagger) refreshCentroidsLocked() {
	if p := t.pubCents.Load(); p != nil && len(p.cents) > 0 && time.Since(p.at) <= centroidTTL {
		return
	}
	names, cents, weak := t.centroids()
	t.pubCents.Store(&centroidSet{names: names, cents: cents, at: time.Now()})
	t.store.types.mu.Lock()
	old := t.store.types.weak
	t.store.types.weak = weak
	t.store.types.mu.Unlock()
	for name := range weak {
		if old[name] {
			continue
		}
		bm, err := t.ix.Eval(filter.Attr("product_type", name))
		if err != nil {
			continue
		}
		t.requeue(bm)
	}
}

// fillAllTypesLocked votes on pending SKUs batch after batch until none is left that can be
// typed now, or the budget is spent.
func (t *Tagger) fillAllTypesLocked(ctx context.Context, budget time.Duration) (int, error) {
	start, total := time.Now(), 0
	for time.Since(start) < budget {
		n, voted, err := t.voteTypesLocked(ctx, time.Time{})
		total += n
		if err != nil || voted == 0 {
			return total, err // done, or what is left waits for vectors
		}
	}
	return total, nil
}

// fillTypesLocked types pending SKUs that have vectors by their neighbours' vote, at most
// NeighbourBatch of them and for at most the poll's vote budget (Config.PollVoteBudget).
func (t *Tagger) fillTypesLocked(ctx context.Context) (int, error) {
	var until time.Time
	if t.cfg.PollVoteBudget > 0 {
		until = time.Now().Add(t.cfg.PollVoteBudget)
	}
	n, _, err := t.voteTypesLocked(ctx, until)
	return n, err
}

// voteTypesLocked is fillTypesLocked, also reporting how many SKUs it voted on; it stops
// voting at until (zero: no limit), after at least one vote.
func (t *Tagger) voteTypesLocked(ctx context.Context, until time.Time) (typed, voted int, err error) {
	if t.vectors == nil {
		return 0, 0, nil
	}
	t.refreshCentroidsLocked() // every replica: the intents read them
	if !t.leader() {
		return 0, 0, nil // a replica that does not lead applies the leader's votes instead
	}
	cs := t.pubCents.Load()
	t.store.types.mu.Lock()
	pending := t.store.types.pending
	t.store.types.pending = nil
	weak := t.store.types.weak
	t.store.types.mu.Unlock()
	if pending == nil || pending.IsEmpty() {
		return 0, 0, nil
	}
	voters, err := t.voters(ctx, cs.names, weak)
	if err != nil || voters == nil {
		t.requeue(pending)
		return 0, 0, err
	}
	centOf := make(map[string][]float32, len(cs.names))
	for i, n := range cs.names {
		centOf[n] = cs.cents[i]
	}
	t.store.types.mu.RLock()
	nb := t.store.types.neighbour
	t.store.types.mu.RUnlock()
	filled := map[int64]typeVote{}
	done := 0
	// In ordinal order (the bitmap's): SKUs typed by one batch vote in the next, so the order
	// must not be a map's (the pools came out different from run to run). What is not voted on
	// stays in pending, which goes back whole: a backlog costs a poll its batch, not its size.
	settled := roaring64.New()
	it := pending.Iterator()
	for it.HasNext() {
		if done >= NeighbourBatch || (done > 0 && !until.IsZero() && time.Now().After(until)) {
			break
		}
		if err := ctx.Err(); err != nil {
			pending.AndNot(settled)
			t.requeue(pending)
			return 0, done, err
		}
		o := int64(it.Next())
		v, ok := t.vectors.Vector(o)
		if !ok {
			continue // its vector has not arrived yet: it stays pending
		}
		settled.Add(uint64(o))
		r, ok := t.ix.Row(o)
		if !ok || !r.Live {
			continue
		}
		done++
		t.store.types.mu.RLock()
		kinds := t.store.types.kinds[o]
		t.store.types.mu.RUnlock()
		a, err := t.vote(ctx, o, v, r.Cat[filter.CatProductType], kinds, voters, centOf, weak)
		if err != nil {
			pending.AndNot(settled)
			t.requeue(pending)
			return 0, done, err
		}
		if a.Type != "" {
			// What its text says: the type it has unless that is an earlier vote's.
			was := r.Cat[filter.CatProductType]
			if prev, ok := nb[o]; ok && prev.Type == was {
				was = prev.was
			}
			filled[o] = typeVote{Assignment: a, was: was}
		}
	}
	pending.AndNot(settled)
	t.requeue(pending)
	if err := t.keepVotesLocked(ctx, filled); err != nil {
		t.requeue(settled) // voted again at the next poll
		return 0, done, err
	}
	return len(filled), done, nil
}

// voters are the live SKUs of strong types (a spread sample of VoteSample of them); nil when no
// type is strong.
func (t *Tagger) voters(ctx context.Context, names []string, weak map[string]bool) (*roaring64.Bitmap, error) {
	var strong []string
	for _, n := range names {
		if !weak[n] {
			strong = append(strong, n)
		}
	}
	if len(strong) == 0 {
		return nil, nil
	}
	bm, err := t.ix.EvalContext(ctx, filter.Attr("product_type", strong...))
	if err != nil {
		return nil, err
	}
	return spreadSample(bm, t.cfg.VoteSample), nil
}

// vote returns the type SKU o (vector v, type was) takes from its NeighbourK nearest voters,
// each voting with its similarity; none (an empty Type) when no type has NeighbourShare of the
// votes, the vote is its own type, or it lies nearer its own (weak) type's centre. A SKU whose
// title names kinds by their head word only ("... Rackmount Switch") takes the one of them
// whose centre is nearest its vector.
func (t *Tagger) vote(ctx context.Context, o int64, v []float32, was string, kinds []string, voters *roaring64.Bitmap, centOf map[string][]float32, weak map[string]bool) (prodtype.Assignment, error) {
	if was == "" && len(kinds) > 0 {
		best, bc := "", -2.0
		for _, k := range kinds {
			if c := centOf[k]; c != nil && !weak[k] {
				if d := dot(v, c); d > bc {
					best, bc = k, d
				}
			}
		}
		if ty, ok := t.store.TypeModel().Type(best); ok {
			return prodtype.Assignment{Type: best, Source: prodtype.SourceNeighbour,
				Why: fmt.Sprintf("its title names a kind of %q by its last word only; of the %d types named so, its vector is nearest %q's centre (cosine %.2f)",
					ty.Head, len(kinds), best, bc)}, nil
		}
	}
	hits, err := t.vectors.Search(ctx, v, NeighbourK+1, voters)
	if err != nil {
		return prodtype.Assignment{}, fmt.Errorf("tagger: type neighbours: %w", err)
	}
	votes := map[string]float64{}
	var total float64
	n := 0
	for _, h := range hits {
		if h.Ordinal == o || n == NeighbourK {
			continue
		}
		n++
		w := math.Max(float64(h.Score), 0)
		votes[t.ix.TypeOf(h.Ordinal)] += w
		total += w
	}
	best, bw := "", 0.0
	for ty, w := range votes {
		if w > bw || (w == bw && ty < best) {
			best, bw = ty, w
		}
	}
	if best == "" || total == 0 || bw < NeighbourShare*total || best == was {
		return prodtype.Assignment{}, nil // no clear answer: it keeps what its text says (a weak type, or none)
	}
	if was != "" && centOf[was] != nil && centOf[best] != nil && dot(v, centOf[best]) <= dot(v, centOf[was]) {
		return prodtype.Assignment{}, nil // it lies nearer its own (weak) type's centre than the neighbours' choice
	}
	why := fmt.Sprintf("its text names no type; %.0f%% of the votes of its %d nearest typed neighbours are for %q", 100*bw/total, n, best)
	if was != "" {
		why = fmt.Sprintf("its title names %q, a type whose members lie far apart; %.0f%% of the votes of its %d nearest neighbours are for %q", was, 100*bw/total, n, best)
	}
	return prodtype.Assignment{Type: best, Source: prodtype.SourceNeighbour, Why: why}, nil
}

// keepVotesLocked stores the votes under the current model and applies them (as every other
// replica does: followVotesLocked).
func (t *Tagger) keepVotesLocked(ctx context.Context, votes map[int64]typeVote) error {
	t.store.types.mu.RLock()
	id := t.store.types.modelID
	t.store.types.mu.RUnlock()
	if err := t.store.writeVotes(ctx, id, votes); err != nil {
		return fmt.Errorf("tagger: %w", err)
	}
	_, err := t.followVotesLocked(ctx)
	return err
}

// spreadSample returns bm when it holds at most n SKUs (or n < 0), else n of them spread
// evenly over its ordinals (every k-th), the same for the same bitmap.
func spreadSample(bm *roaring64.Bitmap, n int) *roaring64.Bitmap {
	card := bm.GetCardinality()
	if n < 0 || card <= uint64(n) {
		return bm
	}
	out := roaring64.New()
	step := float64(card) / float64(n)
	next, i := 0.0, 0
	it := bm.Iterator()
	buf := make([]uint64, 0, n)
	for it.HasNext() {
		o := it.Next()
		if float64(i) >= next {
			buf = append(buf, o)
			next += step
		}
		i++
	}
	out.AddMany(buf)
	return out
}

// requeue puts ordinals back among the pending ones.
func (t *Tagger) requeue(os *roaring64.Bitmap) {
	if os == nil || os.IsEmpty() {
		return
	}
	t.store.types.mu.Lock()
	defer t.store.types.mu.Unlock()
	if t.store.types.pending == nil {
		t.store.types.pending = os
		return
	}
	t.store.types.pending.Or(os)
}

// TypeOf returns a SKU's product type ("" when it has none).
func (t *Tagger) TypeOf(ordinal int64) string { return t.ix.TypeOf(ordinal) }

// TypeModel is the learned product-type model (nil before the first load).
func (t *Tagger) TypeModel() *prodtype.Model { return t.store.TypeModel() }

// TypeCentroids returns each type's centroid (the normalised mean of its members' vectors), as
// the polls keep them (computed again when older than centroidTTL); none without vectors.
func (t *Tagger) TypeCentroids() ([]string, [][]float32) {
	if p := t.pubCents.Load(); p != nil {
		return p.names, p.cents
	}
	if t.vectors == nil || t.store.TypeModel() == nil {
		return nil, nil
	}
	// Not computed yet (a load computes them when it has vectors): compute without keeping
	// them, so the load's computation, which also finds the weak types, is not skipped.
	names, cents, _ := t.centroids()
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

// WeakTypes lists the types whose members lie too far apart to trust the name alone (their
// SKUs take their neighbours' type when the vote is clear), sorted.
func (t *Tagger) WeakTypes() []string {
	t.store.types.mu.RLock()
	defer t.store.types.mu.RUnlock()
	out := make([]string, 0, len(t.store.types.weak))
	for n := range t.store.types.weak {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TypeSize is how many live SKUs have the type.
func (t *Tagger) TypeSize(name string) int {
	n, err := t.ix.Count(filter.Attr("product_type", name))
	if err != nil {
		return 0
	}
	return int(n)
}

// TypeMembers returns the ordinals of the live SKUs that have the type.
func (t *Tagger) TypeMembers(name string) *roaring64.Bitmap {
	bm, err := t.ix.Eval(filter.Attr("product_type", name))
	if err != nil {
		return roaring64.New()
	}
	return bm
}

// TypeOfSKU is the product type of the SKU with that id ("" when it has none or is unknown).
func (t *Tagger) TypeOfSKU(id int64) string {
	o, ok := t.ix.Ordinal(id)
	if !ok {
		return ""
	}
	return t.ix.TypeOf(o)
}

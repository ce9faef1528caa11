package filter

import (
	"sort"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// evalMemo keeps the answers of whole-catalogue evaluations (Eval, EvalContext) by expression,
// each at the index version it was read at, and brings one up to date by evaluating the
// expression again over the ordinals written since (touched) only: an expression's answer for
// one SKU depends on that SKU's row and tags alone. Pools and requests share few filters (6,000
// pools made from a few dozen briefs hold about 130), and a write touches few SKUs, so at a
// million SKUs most evaluations cost a patch of a few thousand ordinals and a copy.
//
// Writes that may change any SKU's answer (SetTag, DropTag, Replace, a snapshot's load) move
// the floor: answers read before it are evaluated afresh.
type evalMemo struct {
	mu      sync.Mutex
	entries map[string]*evalEntry
	clock   uint64
}

type evalEntry struct {
	bm      *roaring64.Bitmap // the answer at version; never changed once kept
	version uint64
	used    uint64
}

// evalKept bounds the kept answers (a bitmap each: up to 128 KB at a million SKUs).
const evalKept = 256

// touchLog is the ordinals the index's writes touched, by version, since floor: an answer read
// at a version below floor cannot be brought up to date from it. Callers hold the index's
// lock (write to change it, read to read it).
type touchLog struct {
	vers  []uint64 // the version of the write that touched ords[i]; ascending
	ords  []uint64
	floor uint64
	// trimAt is the length at which addLocked next drops what no kept answer needs (need).
	trimAt int
}

// touchedTrimFrom is the least length at which the log looks for what it can drop.
const touchedTrimFrom = 4096

// touchedKept bounds the log; past it the older half goes (and the floor moves up to it).
const touchedKept = 1 << 20

// touchedAtMost is the share of the live SKUs (1/touchedAtMost) above which an answer is
// evaluated afresh rather than patched.
const touchedAtMost = 8

// addLocked records that the write of version touched ords.
func (l *touchLog) addLocked(version uint64, ords ...uint64) {
	for _, o := range ords {
		l.vers = append(l.vers, version)
		l.ords = append(l.ords, o)
	}
	if len(l.ords) > touchedKept {
		l.dropThrough(l.vers[len(l.ords)/2-1])
	}
}

// trimTouchedLocked drops the touched ordinals no kept answer needs, once the log has doubled
// since it last looked: the writes up to the oldest answer kept, and the answers (with their
// writes) that more writes followed than half the live SKUs (more than an eighth of them
// touched is evaluated afresh: touchedAtMost; the log counts a SKU written twice twice). The
// log then holds about the writes since the answers in use, not touchedKept's worth, and the
// memo drops answers nobody can bring up to date. Callers hold the index's write lock.
func (ix *Index) trimTouchedLocked() {
	l := &ix.touched
	if len(l.ords) < max(l.trimAt, touchedTrimFrom) {
		return
	}
	stale := l.floor // answers below it cannot be patched
	if keep := max(touchedTrimFrom, int(ix.live.GetCardinality()/2)); len(l.vers) > keep {
		stale = max(stale, l.vers[len(l.vers)-keep-1]+1)
	}
	v, ok := ix.memo.dropBelow(stale)
	if !ok {
		v = ix.version
	}
	l.dropThrough(v)
	l.trimAt = 2 * len(l.ords)
}

// dropThrough drops the writes of versions up to v: answers read at v or later are patched
// from the rest.
func (l *touchLog) dropThrough(v uint64) {
	if v < l.floor {
		return
	}
	cut := sort.Search(len(l.vers), func(i int) bool { return l.vers[i] > v })
	if cut == 0 {
		return
	}
	l.floor = v
	l.vers = append([]uint64(nil), l.vers[cut:]...)
	l.ords = append([]uint64(nil), l.ords[cut:]...)
}

// resetLocked marks that the write of version may have changed anything.
func (l *touchLog) resetLocked(version uint64) {
	l.vers, l.ords, l.floor = nil, nil, version
}

// since returns the ordinals touched by writes after version v, or false when the log does not
// reach back to v.
func (l *touchLog) since(v uint64) (*roaring64.Bitmap, bool) {
	if v < l.floor {
		return nil, false
	}
	i := sort.Search(len(l.vers), func(i int) bool { return l.vers[i] > v })
	out := roaring64.New()
	out.AddMany(l.ords[i:])
	return out, true
}

// memoEval is e's whole-catalogue answer (a bitmap of the caller's own) from the memo, brought
// up to date, or evaluated afresh and kept. The caller holds the read lock; ev is its
// evaluation.
func (ix *Index) memoEval(ev *evaluator, e *Expr) (*roaring64.Bitmap, error) {
	key := e.String()
	m := &ix.memo
	m.mu.Lock()
	ent := m.entries[key]
	m.mu.Unlock()
	var bm *roaring64.Bitmap
	switch {
	case ent != nil && ent.version == ix.version:
		bm = ent.bm
	case ent != nil:
		if touched, ok := ix.touched.since(ent.version); ok && touched.GetCardinality() <= ix.live.GetCardinality()/touchedAtMost {
			s, err := ev.eval(e, touched)
			if err != nil {
				return nil, err
			}
			bm = ent.bm.Clone()
			bm.AndNot(touched)
			bm.Or(ev.materialize(s, touched))
		}
	}
	if bm == nil {
		s, err := ev.eval(e, nil)
		if err != nil {
			return nil, err
		}
		bm = ev.materialize(s, nil)
	}
	if ent == nil || ent.bm != bm {
		m.put(key, &evalEntry{bm: bm, version: ix.version})
		return bm.Clone(), nil
	}
	m.mu.Lock()
	m.clock++
	ent.used = m.clock
	m.mu.Unlock()
	return bm.Clone(), nil
}

// dropBelow forgets the answers read before version floor and returns the least version of
// those kept (ok false: none).
func (m *evalMemo) dropBelow(floor uint64) (v uint64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, e := range m.entries {
		switch {
		case e.version < floor:
			delete(m.entries, k)
		case !ok || e.version < v:
			v, ok = e.version, true
		}
	}
	return v, ok
}

// put keeps ent for key, in place of an older answer; when full, the least recently used goes.
func (m *evalMemo) put(key string, ent *evalEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = map[string]*evalEntry{}
	}
	if old := m.entries[key]; old != nil && old.version > ent.version {
		return // a reader at a later version kept its answer meanwhile
	}
	if _, ok := m.entries[key]; !ok && len(m.entries) >= evalKept {
		oldKey, oldUsed := "", uint64(0)
		for k, e := range m.entries {
			if oldKey == "" || e.used < oldUsed {
				oldKey, oldUsed = k, e.used
			}
		}
		delete(m.entries, oldKey)
	}
	m.clock++
	ent.used = m.clock
	m.entries[key] = ent
}

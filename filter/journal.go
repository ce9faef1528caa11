package filter

import (
	"math/rand/v2"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// The journal keeps, for a while, the rows Upsert replaced, so that a reader can tell what an
// ordinal held in every state since an earlier write: the pool refresher asks whether a SKU
// whose only changes were to fields a pool's filter reads (a price, a stock level) passed that
// filter all along, in which case it could already have entered the pool and its change
// brings nothing new. Each Upsert is one generation; a reader names the generation it knew
// (the tagger maps its event snapshots to them).

// journalMaxBatch is the largest Upsert the journal records row by row; a larger one (a bulk
// reload) only marks the journal incomplete before it, so it costs nothing per row.
const journalMaxBatch = 50_000

// Generation names a state of an index: the number of writes (Upsert calls) it had taken, in
// an epoch that is new for every index and every Replace (random, so no two indexes, in this
// process or another, share one), so that a generation of contents since replaced is not
// mistaken for a current one.
type Generation struct {
	Epoch, N uint64
}

type journalEntry struct {
	gen uint64
	at  time.Time
	row Row // what the ordinal held before generation gen's write (Live false: nothing)
}

type journal struct {
	keep  time.Duration // 0: off
	epoch uint64
	gen   uint64 // writes so far in the epoch
	floor uint64 // StatesSince(g) is complete for g >= floor
	need  uint64 // no reader asks StatesSince(g) for a g below it (ReleaseJournal)
	// entries[start:] are kept; the dead prefix is dropped once it is longer than the rest,
	// so trimming costs O(1) per entry over time.
	entries []journalEntry
	start   int
	base    uint64             // the number of entries[0] among every entry ever kept
	byOrd   map[int64][]uint64 // an ordinal's kept entries' numbers, oldest first
	now     func() time.Time
}

// forget drops every entry and starts a new epoch (callers hold mu).
func (j *journal) forget() {
	j.base += uint64(len(j.entries))
	j.entries, j.start, j.byOrd = nil, 0, nil
	j.epoch, j.gen, j.floor, j.need = rand.Uint64(), 0, 0, 0
}

// KeepJournal makes Upsert keep the rows it replaces for keep (0 turns the journal off and
// drops it). States before the call are not known.
func (ix *Index) KeepJournal(keep time.Duration) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.j.keep = max(keep, 0)
	ix.j.forget()
	if ix.j.now == nil {
		ix.j.now = time.Now
	}
}

// Generation is the state of the index now: the writes it has taken in its epoch.
func (ix *Index) Generation() Generation {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return Generation{ix.j.epoch, ix.j.gen}
}

// journalLocked records, before rows are written, what their ordinals hold (callers hold mu).
func (ix *Index) journalLocked(rows []Row) {
	ix.j.gen++
	if ix.j.keep <= 0 {
		ix.j.floor = ix.j.gen
		return
	}
	now := ix.j.now()
	if len(rows) > journalMaxBatch {
		gen := ix.j.gen
		ix.j.forget()
		ix.j.gen, ix.j.floor = gen, gen // the same epoch: only the states before are unknown
		return
	}
	if ix.j.byOrd == nil {
		ix.j.byOrd = map[int64][]uint64{}
	}
	for i := range rows {
		o := rows[i].Ordinal
		old, ok := ix.rowLocked(o)
		if !ok {
			old = Row{Ordinal: o}
		}
		ix.j.byOrd[o] = append(ix.j.byOrd[o], ix.j.base+uint64(len(ix.j.entries)))
		ix.j.entries = append(ix.j.entries, journalEntry{gen: ix.j.gen, at: now, row: old})
	}
	ix.j.trim(now)
}

// trim forgets the generations older than keep and those no reader needs (ReleaseJournal): a
// generation's entries share their time and number, so they go together, and the states
// since them are no longer known (callers hold mu).
func (j *journal) trim(now time.Time) {
	es := j.entries
	for j.start < len(es) && (now.Sub(es[j.start].at) > j.keep || es[j.start].gen <= j.need) {
		e := &es[j.start]
		j.floor = max(j.floor, e.gen)
		o := e.row.Ordinal
		if rest := j.byOrd[o][1:]; len(rest) > 0 { // e is its ordinal's oldest
			j.byOrd[o] = rest
		} else {
			delete(j.byOrd, o)
		}
		j.start++
	}
	if j.start > len(es)-j.start {
		j.base += uint64(j.start)
		j.entries = append([]journalEntry(nil), es[j.start:]...)
		j.start = 0
	}
}

// ReleaseJournal tells the journal that no reader will ask for the states since a generation
// before g (of the index's current epoch; another epoch's is ignored): the rows written
// before g's next write are forgotten now rather than when keep runs out, so the journal holds
// what its readers still need (the pool refresher's versions all stand at or after g) and not
// keep's worth of writes.
func (ix *Index) ReleaseJournal(g Generation) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.j.keep <= 0 || g.Epoch != ix.j.epoch || g.N <= ix.j.need {
		return
	}
	ix.j.need = min(g.N, ix.j.gen)
	ix.j.trim(ix.j.now())
}

// StatesSince returns, for each ordinal of set, every row the index held for it from
// generation g on: the rows later writes replaced, oldest first, then the current one (Live
// false where it held nothing). ok is false when the journal does not reach back to g (it is
// off, g is of another epoch or older than the journal's keep, or a bulk write came after g).
func (ix *Index) StatesSince(g Generation, set *roaring64.Bitmap) (states map[int64][]Row, ok bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.j.keep <= 0 || g.Epoch != ix.j.epoch || g.N < ix.j.floor || g.N > ix.j.gen {
		return nil, false
	}
	states = make(map[int64][]Row, set.GetCardinality())
	it := set.Iterator()
	for it.HasNext() {
		o := int64(it.Next())
		for _, n := range ix.j.byOrd[o] {
			if e := &ix.j.entries[n-ix.j.base]; e.gen > g.N {
				states[o] = append(states[o], e.row)
			}
		}
		cur, held := ix.rowLocked(o)
		if !held {
			cur = Row{Ordinal: o}
		}
		states[o] = append(states[o], cur)
	}
	return states, true
}

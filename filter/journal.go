package filter

import (
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

type journalEntry struct {
	gen uint64
	at  time.Time
	row Row // what the ordinal held before generation gen's write (Live false: nothing)
}

type journal struct {
	keep    time.Duration // 0: off
	gen     uint64        // writes so far
	floor   uint64        // StatesSince(g) is complete for g >= floor
	entries []journalEntry
	base    uint64             // the number of entries[0] among every entry ever kept
	byOrd   map[int64][]uint64 // an ordinal's entries' numbers, oldest first
	now     func() time.Time
}

// forget drops every entry (callers hold mu).
func (j *journal) forget() {
	j.base += uint64(len(j.entries))
	j.entries, j.byOrd = nil, nil
}

// KeepJournal makes Upsert keep the rows it replaces for keep (0 turns the journal off and
// drops it). States before the call are not known.
func (ix *Index) KeepJournal(keep time.Duration) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.j.keep = max(keep, 0)
	ix.j.forget()
	ix.j.floor = ix.j.gen
	if ix.j.now == nil {
		ix.j.now = time.Now
	}
}

// Generation is the number of writes (Upsert calls) the index has taken: the state after the
// latest one.
func (ix *Index) Generation() uint64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.j.gen
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
		ix.j.forget()
		ix.j.floor = ix.j.gen
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
	// Forget whole generations older than keep: the states since them are no longer known.
	cut := 0
	for cut < len(ix.j.entries) && now.Sub(ix.j.entries[cut].at) > ix.j.keep {
		cut++
	}
	for cut > 0 && cut < len(ix.j.entries) && ix.j.entries[cut].gen == ix.j.entries[cut-1].gen {
		cut++
	}
	if cut > 0 {
		ix.j.floor = max(ix.j.floor, ix.j.entries[cut-1].gen)
		for _, e := range ix.j.entries[:cut] { // each is its ordinal's oldest
			o := e.row.Ordinal
			if rest := ix.j.byOrd[o][1:]; len(rest) > 0 {
				ix.j.byOrd[o] = rest
			} else {
				delete(ix.j.byOrd, o)
			}
		}
		ix.j.base += uint64(cut)
		ix.j.entries = append([]journalEntry(nil), ix.j.entries[cut:]...)
	}
}

// StatesSince returns, for each ordinal of set, every row the index held for it from
// generation gen on: the rows later writes replaced, oldest first, then the current one (Live
// false where it held nothing). ok is false when the journal does not reach back to gen (it is
// off, gen is older than its keep, or a bulk write or Replace came after gen).
func (ix *Index) StatesSince(gen uint64, set *roaring64.Bitmap) (states map[int64][]Row, ok bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.j.keep <= 0 || gen < ix.j.floor || gen > ix.j.gen {
		return nil, false
	}
	states = make(map[int64][]Row, set.GetCardinality())
	it := set.Iterator()
	for it.HasNext() {
		o := int64(it.Next())
		for _, n := range ix.j.byOrd[o] {
			if e := &ix.j.entries[n-ix.j.base]; e.gen > gen {
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

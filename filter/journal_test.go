package filter

import (
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"
)

func priced(o int64, price int64, live bool) Row {
	r := Row{Ordinal: o, ID: 100 + o, Live: live}
	r.Cat[CatMarket] = "SG"
	r.Num[NumPrice] = price
	return r
}

func prices(rows []Row) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.Num[NumPrice]
		if !r.Live {
			out[i] = -1
		}
	}
	return out
}

// journalConsistent checks that byOrd numbers every entry once, under its ordinal, in order.
func journalConsistent(t *testing.T, ix *Index) {
	t.Helper()
	seen := 0
	for o, ns := range ix.j.byOrd {
		for i, n := range ns {
			require.GreaterOrEqual(t, n, ix.j.base+uint64(ix.j.start))
			require.Equal(t, o, ix.j.entries[n-ix.j.base].row.Ordinal)
			if i > 0 {
				require.Greater(t, n, ns[i-1])
			}
			seen++
		}
	}
	require.Equal(t, len(ix.j.entries)-ix.j.start, seen)
}

// StatesSince gives every row an ordinal held from a generation on, oldest first, and says
// when the journal cannot: before it was kept, beyond its keep, across a bulk write or Replace.
func TestJournalStatesSince(t *testing.T) {
	ix := NewIndex()
	ix.Upsert([]Row{priced(1, 10, true), priced(2, 20, true)})
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	ix.KeepJournal(time.Minute)
	ix.j.now = func() time.Time { return now }
	g0 := ix.Generation()
	_, ok := ix.StatesSince(Generation{g0.Epoch + 1, g0.N}, roaring64.BitmapOf(1))
	require.False(t, ok, "another epoch")

	ix.Upsert([]Row{priced(1, 11, true)})
	g1 := ix.Generation()
	ix.Upsert([]Row{priced(1, 12, true), priced(3, 30, true)})
	ix.Upsert([]Row{priced(2, 20, false)}) // deleted
	st, ok := ix.StatesSince(g0, roaring64.BitmapOf(1, 2, 3, 4))
	require.True(t, ok)
	require.Equal(t, []int64{10, 11, 12}, prices(st[1]))
	require.Equal(t, []int64{20, -1}, prices(st[2]))
	require.Equal(t, []int64{-1, 30}, prices(st[3]), "3 held nothing before")
	require.Equal(t, []int64{-1}, prices(st[4]), "never held")
	st, ok = ix.StatesSince(g1, roaring64.BitmapOf(1))
	require.True(t, ok)
	require.Equal(t, []int64{11, 12}, prices(st[1]))
	st, ok = ix.StatesSince(ix.Generation(), roaring64.BitmapOf(1))
	require.True(t, ok)
	require.Equal(t, []int64{12}, prices(st[1]), "now: the current row only")
	journalConsistent(t, ix)
	next := ix.Generation()
	next.N++
	_, ok = ix.StatesSince(next, roaring64.BitmapOf(1))
	require.False(t, ok, "a generation not reached yet")

	// Older than keep: those generations are forgotten, later ones stay.
	now = now.Add(2 * time.Minute)
	ix.Upsert([]Row{priced(1, 13, true)})
	_, ok = ix.StatesSince(g1, roaring64.BitmapOf(1))
	require.False(t, ok)
	g4 := ix.Generation()
	g4.N--
	st, ok = ix.StatesSince(g4, roaring64.BitmapOf(1))
	require.True(t, ok)
	require.Equal(t, []int64{12, 13}, prices(st[1]))
	journalConsistent(t, ix)

	// A bulk write is not journaled row by row: the states before it are unknown.
	bulk := make([]Row, journalMaxBatch+1)
	for i := range bulk {
		bulk[i] = priced(int64(10+i), 5, true)
	}
	ix.Upsert(bulk)
	_, ok = ix.StatesSince(g4, roaring64.BitmapOf(1))
	require.False(t, ok)
	g5 := ix.Generation()
	ix.Upsert([]Row{priced(1, 14, true)})
	st, ok = ix.StatesSince(g5, roaring64.BitmapOf(1))
	require.True(t, ok)
	require.Equal(t, []int64{13, 14}, prices(st[1]))
	journalConsistent(t, ix)

	// Replace: nothing before it is known, even at a generation number the new epoch reaches.
	other := NewIndex()
	other.Upsert([]Row{priced(1, 15, true)})
	ix.Replace(other)
	_, ok = ix.StatesSince(g5, roaring64.BitmapOf(1))
	require.False(t, ok)
	for range g5.N + 1 {
		ix.Upsert([]Row{priced(1, 15, true)})
	}
	_, ok = ix.StatesSince(g5, roaring64.BitmapOf(1))
	require.False(t, ok, "the old epoch's generation")
	st, ok = ix.StatesSince(ix.Generation(), roaring64.BitmapOf(1))
	require.True(t, ok)
	require.Equal(t, []int64{15}, prices(st[1]))
	journalConsistent(t, ix)

	// Many writes past keep: the journal keeps only the last keep's entries, compacted.
	for i := range 1000 {
		now = now.Add(time.Second)
		ix.Upsert([]Row{priced(int64(i%7), int64(i), true)})
	}
	require.LessOrEqual(t, len(ix.j.entries)-ix.j.start, 61)
	require.LessOrEqual(t, ix.j.start, len(ix.j.entries)-ix.j.start)
	journalConsistent(t, ix)
	g := ix.Generation()
	g.N -= 30
	st, ok = ix.StatesSince(g, roaring64.BitmapOf(3))
	require.True(t, ok)
	require.Equal(t, []int64{969, 976, 983, 990, 997}, prices(st[3]), "the writes to 3 of the last 30 (973, 980, 987, 994) replaced 969 ... 990; 997 is current")

	// Off: nothing is known.
	ix.KeepJournal(0)
	ix.Upsert([]Row{priced(1, 16, true)})
	_, ok = ix.StatesSince(ix.Generation(), roaring64.BitmapOf(1))
	require.False(t, ok)
}

// ReleaseJournal forgets at once what no reader needs: the states since the released
// generation (and later) stay readable, earlier ones are gone, and the journal then holds the
// writes since it, not keep's worth.
func TestReleaseJournal(t *testing.T) {
	ix := NewIndex()
	ix.Upsert([]Row{priced(1, 10, true), priced(2, 20, true)})
	ix.KeepJournal(time.Hour)
	g0 := ix.Generation()
	var gens []Generation
	for i := range 100 {
		ix.Upsert([]Row{priced(1, int64(11+i), true), priced(2, int64(21+i), true)})
		gens = append(gens, ix.Generation())
	}
	require.Len(t, ix.j.entries[ix.j.start:], 200)

	ix.ReleaseJournal(Generation{g0.Epoch + 1, gens[90].N}) // another epoch: nothing
	require.Len(t, ix.j.entries[ix.j.start:], 200)

	ix.ReleaseJournal(gens[89])
	require.Len(t, ix.j.entries[ix.j.start:], 20, "the ten writes after the released generation")
	journalConsistent(t, ix)
	_, ok := ix.StatesSince(g0, roaring64.BitmapOf(1))
	require.False(t, ok, "released")
	_, ok = ix.StatesSince(gens[88], roaring64.BitmapOf(1))
	require.False(t, ok, "released")
	st, ok := ix.StatesSince(gens[89], roaring64.BitmapOf(1, 2))
	require.True(t, ok)
	require.Equal(t, []int64{100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110}, prices(st[1]))
	require.Equal(t, []int64{110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120}, prices(st[2]))

	ix.ReleaseJournal(gens[50]) // an older release changes nothing
	require.Len(t, ix.j.entries[ix.j.start:], 20)
	ix.ReleaseJournal(Generation{gens[99].Epoch, gens[99].N + 5}) // beyond the index: up to now
	require.Empty(t, ix.j.entries[ix.j.start:])
	st, ok = ix.StatesSince(gens[99], roaring64.BitmapOf(1))
	require.True(t, ok)
	require.Equal(t, []int64{110}, prices(st[1]))
	ix.Upsert([]Row{priced(1, 7, true)})
	st, ok = ix.StatesSince(gens[99], roaring64.BitmapOf(1))
	require.True(t, ok, "writes after the release are journaled")
	require.Equal(t, []int64{110, 7}, prices(st[1]))
	journalConsistent(t, ix)
}

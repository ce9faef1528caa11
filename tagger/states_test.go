package tagger

import (
	"context"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/filter"
	"selection/internal/testdb"
)

// StatesSince names, for a position the tagger took, every row the index held for a SKU since
// then (the journal's generation at that position); a position it did not take, or one older
// than its journal, is unknown.
func TestStatesSincePosition(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	applyWithEvent(t, db, []catalog.Patch{skuPatch(11, "Logitech", 1000, t0), skuPatch(12, "Razer", 2000, t0)})
	tg, err := New(db.Pool, nil, nil, Config{PollInterval: 50 * time.Millisecond, SaveInterval: -1, JournalFor: 5 * time.Minute})
	require.NoError(t, err)
	_, err = tg.Load(ctx)
	require.NoError(t, err)
	at, ok := tg.GenerationAt(tg.Position().Snapshot)
	require.True(t, ok)
	o11, ok := tg.Index().Ordinal(11)
	require.True(t, ok)
	o12, _ := tg.Index().Ordinal(12)
	set := roaring64.BitmapOf(uint64(o11), uint64(o12))
	price := func(rows []filter.Row) []int64 {
		var out []int64
		for _, r := range rows {
			out = append(out, r.Num[filter.NumPrice])
		}
		return out
	}

	st, ok := tg.StatesSince(at, set)
	require.True(t, ok)
	require.Equal(t, []int64{1000}, price(st[o11]), "nothing changed since")

	for i, p := range []int64{1500, 900} {
		applyWithEvent(t, db, []catalog.Patch{skuPatch(11, "Logitech", p, t0.Add(time.Duration(i+1)*time.Minute))})
		_, err = tg.Poll(ctx)
		require.NoError(t, err)
	}
	mid, ok := tg.GenerationAt(tg.Position().Snapshot)
	require.True(t, ok)
	applyWithEvent(t, db, []catalog.Patch{skuPatch(12, "Razer", 2500, t0.Add(time.Hour))})
	_, err = tg.Poll(ctx)
	require.NoError(t, err)

	st, ok = tg.StatesSince(at, set)
	require.True(t, ok)
	require.Equal(t, []int64{1000, 1500, 900}, price(st[o11]))
	require.Equal(t, []int64{2000, 2500}, price(st[o12]))
	st, ok = tg.StatesSince(mid, set)
	require.True(t, ok)
	require.Equal(t, []int64{900}, price(st[o11]))
	require.Equal(t, []int64{2000, 2500}, price(st[o12]))

	_, ok = tg.GenerationAt("1:1:")
	require.False(t, ok, "a snapshot the tagger never took")

	// A reload replaces the index's contents: the generations before it are of another epoch.
	_, err = tg.Load(ctx)
	require.NoError(t, err)
	_, ok = tg.StatesSince(at, set)
	require.False(t, ok, "a generation from before the reload")
	now, ok := tg.GenerationAt(tg.Position().Snapshot)
	require.True(t, ok)
	require.NotEqual(t, at.Epoch, now.Epoch)
	st, ok = tg.StatesSince(now, set)
	require.True(t, ok)
	require.Equal(t, []int64{900}, price(st[o11]))

	off, err := New(db.Pool, nil, nil, Config{SaveInterval: -1}) // the default: no journal
	require.NoError(t, err)
	_, err = off.Load(ctx)
	require.NoError(t, err)
	g, ok := off.GenerationAt(off.Position().Snapshot)
	require.True(t, ok)
	_, ok = off.StatesSince(g, set)
	require.False(t, ok, "no journal")
}

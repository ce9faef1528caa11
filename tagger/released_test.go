package tagger

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/filter"
	"selection/internal/testdb"
)

// The released column holds whole days since 1970 (0 when unknown) the same way from a catalogue
// SKU (RowFromSKU, the streaming path) and from skus rows (BuildFromSKUs, the SQL path); TopK
// orders by it; and a snapshot saved without it is not trusted (Load builds from skus).
// (Also: categorical values come back from a snapshot as written.)
func TestReleasedColumn(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	day := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return &v
	}
	dates := map[int64]*time.Time{
		1: day("2021-06-30T23:59:59Z"), 2: day("2019-01-01T00:00:00Z"), 3: nil,
		4: day("2024-02-29T12:00:00+08:00"), 5: day("1965-05-05T00:00:00Z"), 6: day("2021-07-01T00:00:00Z"),
	}
	want := map[int64]int64{1: 18808, 2: 17897, 3: 0, 4: 19782, 5: 0, 6: 18809}
	var patches []catalog.Patch
	for id, d := range dates {
		p := skuPatch(id, "Acme", 100*id, t0)
		p.Fields |= catalog.FieldReleasedAt
		p.ReleasedAt = d
		patches = append(patches, p)
	}
	applyWithEvent(t, db, patches)

	built, _, err := NewStore(db.Pool).BuildFromSKUs(ctx)
	require.NoError(t, err)
	list, err := catalog.NewStore(db.Pool).List(ctx, catalog.ListOptions{First: true, Limit: 100})
	require.NoError(t, err)
	streamed := filter.NewIndex()
	for i := range list {
		streamed.Upsert([]filter.Row{filter.RowFromSKU(&list[i])})
	}
	for _, ix := range []*filter.Index{built, streamed} {
		for id, w := range want {
			o, ok := ix.Ordinal(id)
			require.True(t, ok)
			got, err := ix.NumericValues("released", []int64{o})
			require.NoError(t, err)
			require.Equal(t, w, got[0], "SKU %d released %v", id, dates[id])
		}
		ords, vals, err := ix.TopK("released", 3, nil, true)
		require.NoError(t, err)
		require.Equal(t, []int64{19782, 18809, 18808}, vals)
		var gotIDs []int64
		for _, o := range ords {
			id, _ := ix.SKUID(o)
			gotIDs = append(gotIDs, id)
		}
		require.Equal(t, []int64{4, 6, 1}, gotIDs)
	}

	tg, err := New(db.Pool, nil, nil, Config{SaveInterval: -1})
	require.NoError(t, err)
	_, err = tg.Load(ctx)
	require.NoError(t, err)
	_, err = tg.Save(ctx)
	require.NoError(t, err)
	_, _, err = filter.NewStore(db.Pool).LoadSnapshot(ctx)
	require.NoError(t, err)
	tg2, err := New(db.Pool, nil, nil, Config{SaveInterval: -1})
	require.NoError(t, err)
	how, err := tg2.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, "snapshot", how)
	vals, err := tg2.Index().Values("brand")
	require.NoError(t, err)
	require.Equal(t, "Acme", vals[0].Value, "categorical values keep their case through a snapshot")
	// An older layout (no format mark) is not trusted either.
	_, err = db.Pool.Exec(ctx, `UPDATE tag_bitmaps SET key = 'format:1' WHERE key = 'format:3'`)
	require.NoError(t, err)
	_, _, err = filter.NewStore(db.Pool).LoadSnapshot(ctx)
	require.ErrorIs(t, err, filter.ErrOutdated)
	require.ErrorContains(t, err, "not in format format:3")
	_, err = db.Pool.Exec(ctx, `UPDATE tag_bitmaps SET key = 'format:3' WHERE key = 'format:1'`)
	require.NoError(t, err)
	// An older version's snapshot had no released column.
	_, err = db.Pool.Exec(ctx, `DELETE FROM tag_bitmaps WHERE key = 'bsi:released'`)
	require.NoError(t, err)
	_, _, err = filter.NewStore(db.Pool).LoadSnapshot(ctx)
	require.ErrorIs(t, err, filter.ErrOutdated)
	require.ErrorContains(t, err, "no released column")
	tg3, err := New(db.Pool, nil, nil, Config{SaveInterval: -1})
	require.NoError(t, err)
	how, err = tg3.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, "skus", how)
	o, _ := tg3.Index().Ordinal(4)
	got, err := tg3.Index().NumericValues("released", []int64{o})
	require.NoError(t, err)
	require.Equal(t, int64(19782), got[0])
}

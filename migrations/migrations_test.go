package migrations_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/internal/testdb"
	"selection/migrations"
)

func TestUpDownUp(t *testing.T) {
	ctx := context.Background()
	db := testdb.NewEmpty(t)
	m, err := migrations.New(db.Pool)
	require.NoError(t, err)
	defer m.Close()

	tables := func() []string {
		rows, err := db.Pool.Query(ctx, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = $1 AND table_name <> 'goose_db_version' ORDER BY 1`, db.Schema)
		require.NoError(t, err)
		var out []string
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			out = append(out, s)
		}
		require.NoError(t, rows.Err())
		return out
	}
	// The core tables (later migrations may add more).
	core := []string{"api_keys", "dead_letters", "embed_queue", "embedding_cache", "pool_versions", "pools",
		"sku_events", "sku_vectors", "skus", "tag_bitmaps", "tags"}

	res, err := m.Up(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, res)
	want := tables()
	require.Subset(t, want, core)
	pending, err := m.HasPending(ctx)
	require.NoError(t, err)
	require.False(t, pending)

	_, err = m.DownTo(ctx, 0)
	require.NoError(t, err)
	require.Empty(t, tables())
	v, err := m.Version(ctx)
	require.NoError(t, err)
	require.Zero(t, v)

	_, err = m.Up(ctx)
	require.NoError(t, err)
	require.Equal(t, want, tables())
	st, err := m.Status(ctx)
	require.NoError(t, err)
	for _, s := range st {
		require.Equal(t, "applied", string(s.State), "migration %d", s.Source.Version)
	}
}

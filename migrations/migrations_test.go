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

// Migration 00008 rebuilds the HNSW index with ef_construction 128: in a transaction on a small
// table, and concurrently under a new name then swapped in on a large one (forced here); down
// restores 64. The index stays valid and named sku_vectors_hnsw either way.
func TestHNSWRebuild(t *testing.T) {
	ctx := context.Background()
	db := testdb.NewEmpty(t)
	m, err := migrations.New(db.Pool)
	require.NoError(t, err)
	defer m.Close()
	def := func() string {
		var d string
		var valid bool
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i
			WHERE i.indexrelid = to_regclass('sku_vectors_hnsw')`).Scan(&d, &valid))
		require.True(t, valid)
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema()
			AND tablename = 'sku_vectors' AND indexname LIKE 'sku_vectors_hnsw%'`).Scan(&n))
		require.Equal(t, 1, n, "no index left behind")
		return d
	}
	_, err = m.Up(ctx)
	require.NoError(t, err)
	require.Contains(t, def(), "ef_construction='128'")

	saved := *migrations.ConcurrentFrom
	*migrations.ConcurrentFrom = 0
	defer func() { *migrations.ConcurrentFrom = saved }()
	_, err = m.DownTo(ctx, 7)
	require.NoError(t, err)
	require.Contains(t, def(), "ef_construction='64'")
	_, err = m.Up(ctx)
	require.NoError(t, err)
	require.Contains(t, def(), "ef_construction='128'")

	// A concurrent run interrupted after the new index was built but before the swap (here:
	// the swap undone by hand, the old index gone) is finished by the next run.
	_, err = m.DownTo(ctx, 7)
	require.NoError(t, err)
	for _, q := range []string{
		`CREATE INDEX sku_vectors_hnsw_next ON sku_vectors USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 128)`,
		`DROP INDEX sku_vectors_hnsw`,
	} {
		_, err = db.Pool.Exec(ctx, q)
		require.NoError(t, err)
	}
	_, err = m.Up(ctx)
	require.NoError(t, err)
	require.Contains(t, def(), "ef_construction='128'")
	require.Contains(t, def(), "INDEX sku_vectors_hnsw ON")
}

// Migration 00009 refuses, naming them, tags whose names differ only in case.
func TestTagNamesUniqueWithoutCase(t *testing.T) {
	ctx := context.Background()
	db := testdb.NewEmpty(t)
	m, err := migrations.New(db.Pool)
	require.NoError(t, err)
	defer m.Close()
	_, err = m.UpTo(ctx, 8)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `INSERT INTO tags (name, kind, definition) VALUES ('Gaming', 'rule', '{}'), ('gaming', 'rule', '{}'), ('audio', 'rule', '{}')`)
	require.NoError(t, err)
	_, err = m.Up(ctx)
	require.ErrorContains(t, err, "differ only in case: 'Gaming', 'gaming'")
	_, err = db.Pool.Exec(ctx, `DELETE FROM tags WHERE name = 'gaming'`)
	require.NoError(t, err)
	_, err = m.Up(ctx)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `INSERT INTO tags (name, kind, definition) VALUES ('AUDIO', 'rule', '{}')`)
	require.ErrorContains(t, err, "tags_name_lower")
}

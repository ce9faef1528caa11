package cli_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/internal/testdb"
)

// `selection embed` drains the queue once and reports what it did (plain lines: the output is
// not a terminal); a second run finds the queue empty.
func TestEmbedCommand(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err := catalog.NewStore(db.Pool).Upsert(ctx, []catalog.Patch{
		{ID: 1, Fields: catalog.FieldTitle, Title: "Mechanical keyboard", ContentAt: at},
		{ID: 2, Fields: catalog.FieldTitle, Title: "Noise cancelling headphones", ContentAt: at},
	})
	require.NoError(t, err)
	env := map[string]string{"DATABASE_URL": db.URL()}
	code, out, stderr := run(t, env, "embed", "--batch", "1")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "embedding 2 SKUs with use-lite-0.2.0")
	require.Contains(t, out, "embedded 2 SKUs, removed 0")
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM sku_vectors`).Scan(&n))
	require.Equal(t, 2, n)
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM embedding_cache`).Scan(&n))
	require.Equal(t, 2, n, "SELECTION_EMBED_CACHE=on stores the embeddings")

	code, out, stderr = run(t, env, "embed")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "embedding queue is empty")

	code, _, stderr = run(t, env, "embed", "extra")
	require.Equal(t, 2, code, stderr)
}

func TestVectorsStatus(t *testing.T) {
	db := testdb.New(t)
	env := map[string]string{"DATABASE_URL": db.URL()}
	code, out, stderr := run(t, env, "vectors", "status")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "sku_vectors: 0 rows")
	require.Contains(t, out, "in-memory index: 0 vectors")
	env["SELECTION_VECTOR_MEMORY"] = "0"
	code, out, stderr = run(t, env, "vectors", "status")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "not loaded")
}

package cli

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/internal/testdb"
)

// Finding 8: a malformed SELECTION_API_KEYS names the bad entry by position, name and role,
// and shows none of the keys (before, the error quoted the whole setting).
func TestFinding8ConfigErrorHidesKeys(t *testing.T) {
	for _, v := range []string{
		"alice:planner:sk_secret_one,bob:admin:sk_secret_two",
		"alice:planner:sk_secret_one,sk_secret_two",
		"alice:planner:sk_secret_one,bob:reader:",
		"alice:planner:sk_secret_one,carol:owner:sk:secret:two",
	} {
		vars := map[string]string{"SELECTION_API_KEYS": v}
		var out, errb bytes.Buffer
		code := Main(context.Background(), []string{"config"}, &out, &errb, func(k string) string { return vars[k] })
		require.Equal(t, 2, code, v)
		require.Contains(t, errb.String(), "SELECTION_API_KEYS", v)
		require.Contains(t, errb.String(), "static API key 2 of 2", v)
		require.NotContains(t, errb.String(), "secret", v)
	}
	// Valid keys load (and are hidden from `selection config`, which prints defaults only).
	_, err := LoadConfig(func(k string) string {
		return map[string]string{"SELECTION_API_KEYS": "alice:planner:sk_secret:with:colons"}[k]
	})
	require.NoError(t, err)
}

// Finding 4: ingest's connections are a pool of their own: with every connection of the
// API's pool taken, ingest's pool still answers, and it reaches the same schema.
func TestFinding4IngestPoolIsSeparate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := testdb.New(t)
	ingestDB, err := siblingPool(ctx, db.Pool, 3)
	require.NoError(t, err)
	defer ingestDB.Close()
	require.EqualValues(t, 3, ingestDB.Config().MaxConns)
	var held []interface{ Release() }
	for range db.Pool.Config().MaxConns {
		c, err := db.Pool.Acquire(ctx)
		require.NoError(t, err)
		held = append(held, c)
	}
	qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
	defer qcancel()
	var n int
	require.NoError(t, ingestDB.QueryRow(qctx, `SELECT count(*) FROM skus`).Scan(&n), "ingest does not wait for the API's connections")
	for _, c := range held {
		c.Release()
	}
}

package pg_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"selection/internal/pg"
	"selection/internal/testdb"
)

// hold calls Hold and fails the test on an error.
func hold(t *testing.T, l *pg.Lease) (held, changed bool) {
	t.Helper()
	held, changed, err := l.Hold(context.Background())
	require.NoError(t, err)
	return held, changed
}

// Two replicas' leases on one schema: one holds, the other does not until the holder releases
// or its session dies (the server ends its backend, as when its process is killed); a lease of
// the same name in another schema of the database is another lock.
func TestLeaseOneHolderAndTakeover(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	a, b := pg.NewLease(db.Pool, "refresh"), pg.NewLease(db.Pool, "refresh")
	defer a.Release(ctx) //nolint:errcheck
	defer b.Release(ctx) //nolint:errcheck

	free, err := pg.LeaseHeld(ctx, db.Pool, "refresh")
	require.NoError(t, err)
	require.False(t, free, "nobody holds it yet")
	held, changed := hold(t, a)
	require.True(t, held)
	require.True(t, changed)
	seen, err := pg.LeaseHeld(ctx, db.Pool, "refresh")
	require.NoError(t, err)
	require.True(t, seen, "held by another session, seen without taking it")
	held, changed = hold(t, b)
	require.False(t, held)
	require.False(t, changed)
	held, changed = hold(t, a) // still held: no change
	require.True(t, held)
	require.False(t, changed)
	require.True(t, a.Held())
	require.False(t, b.Held())

	// Another schema, same name: its own lock.
	other := testdb.New(t)
	c := pg.NewLease(other.Pool, "refresh")
	defer c.Release(ctx) //nolint:errcheck
	held, _ = hold(t, c)
	require.True(t, held)

	// The holder releases: the other takes it at its next Hold.
	require.NoError(t, a.Release(ctx))
	require.False(t, a.Held())
	held, changed = hold(t, b)
	require.True(t, held)
	require.True(t, changed)
	held, _ = hold(t, a)
	require.False(t, held)

	// The holder's session dies: its next Hold says it lost the lock, and the other takes it.
	terminate(t, db.Pool, b)
	held, changed, err = b.Hold(ctx)
	require.Error(t, err)
	require.False(t, held)
	require.True(t, changed)
	require.False(t, b.Held())
	held, changed = hold(t, a)
	require.True(t, held)
	require.True(t, changed)
	// The one that lost reconnects and waits its turn.
	held, _ = hold(t, b)
	require.False(t, held)
}

// terminate ends the backend that holds l's advisory lock.
func terminate(t *testing.T, pool *pgxpool.Pool, l *pg.Lease) {
	t.Helper()
	require.True(t, l.Held())
	ctx := context.Background()
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = $1::int4::oid AND objid = hashtext($2::text || current_schema())::oid
		AND objsubid = 2 AND granted`, pg.LeaseClass, l.Name()).Scan(&n))
	require.Equal(t, 1, n)
	// pg_terminate_backend signals; the backend is gone a moment later.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
			AND classid = $1::int4::oid AND objid = hashtext($2::text || current_schema())::oid AND objsubid = 2`,
			pg.LeaseClass, l.Name()).Scan(&left))
		if left == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "the terminated backend still holds the lock")
		time.Sleep(20 * time.Millisecond)
	}
}

package pg_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"selection/internal/pg"
	"selection/internal/testdb"
)

// A transaction that stamps its rows first and commits last is not missed, although rows stamped
// after its own were read before it committed; once nothing is open, the next read starts at
// the newest stamp instead of a window behind it.
func TestTailSeesLateCommits(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE tailed (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now())`)
	require.NoError(t, err)
	tail := pg.NewTail(time.Time{}, time.Hour)
	seen := map[int]bool{}
	poll := func() (read int) {
		floor, err := tail.Floor(ctx, db.Pool)
		require.NoError(t, err)
		rows, err := db.Pool.Query(ctx, `SELECT id, updated_at FROM tailed WHERE updated_at >= $1`, tail.From())
		require.NoError(t, err)
		var id int
		var at time.Time
		_, err = pgx.ForEachRow(rows, []any{&id, &at}, func() error {
			read++
			seen[id] = true
			tail.Saw(at)
			return nil
		})
		require.NoError(t, err)
		tail.Advance(floor)
		return read
	}

	late, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer late.Rollback(ctx)                                      //nolint:errcheck
	_, err = late.Exec(ctx, `INSERT INTO tailed (id) VALUES (1)`) // stamped now, committed last
	require.NoError(t, err)
	time.Sleep(20 * time.Millisecond)
	_, err = db.Pool.Exec(ctx, `INSERT INTO tailed (id) VALUES (2)`)
	require.NoError(t, err)
	poll()
	require.Equal(t, map[int]bool{2: true}, seen)
	require.False(t, tail.From().After(tail.Newest().Add(-20*time.Millisecond)),
		"the open transaction holds the next read back to its start")

	require.NoError(t, late.Commit(ctx))
	poll()
	require.Equal(t, map[int]bool{1: true, 2: true}, seen, "the late commit was read")
	poll()
	// Nothing of ours is open now (other tests' sessions may be: From is then held back to
	// their start, which is still no later than just after the newest stamp).
	require.False(t, tail.From().After(tail.Newest().Add(time.Microsecond)))
	require.True(t, tail.From().After(tail.Newest().Add(-time.Hour)), "not the whole Overlap window")
	if tail.From().After(tail.Newest()) {
		require.Zero(t, poll(), "a quiet table: nothing is read again")
	}
}

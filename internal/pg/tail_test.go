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
	// poll reads from the tail, applies (records) what it has not seen, and returns how many
	// rows the query returned.
	poll := func() (read int) {
		floor, err := tail.Floor(ctx, db.Pool)
		require.NoError(t, err)
		rows, err := db.Pool.Query(ctx, `SELECT id, updated_at FROM tailed WHERE updated_at >= $1`, tail.From())
		require.NoError(t, err)
		var id int
		var at time.Time
		var got []pg.Row
		_, err = pgx.ForEachRow(rows, []any{&id, &at}, func() error {
			read++
			if !tail.Seen(int64(id), at) {
				seen[id] = true
				got = append(got, pg.Row{Key: int64(id), At: at})
			}
			return nil
		})
		require.NoError(t, err)
		tail.Done(got, time.Time{}, floor)
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
	// Nothing of ours is open now (other tests' sessions may be, holding From back to their
	// start); once the last write is older than pg.Margin, a poll reads no row.
	require.False(t, tail.From().After(tail.Newest().Add(time.Microsecond)))
	require.True(t, tail.From().After(tail.Newest().Add(-time.Hour)), "not the whole Overlap window")
	require.Eventually(t, func() bool { return poll() == 0 }, 90*time.Second, 100*time.Millisecond,
		"a quiet table: nothing is read again")
}

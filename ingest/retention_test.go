package ingest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/internal/testdb"
)

// Retention deletes the events and dead letters older than their horizons, a batch at a time,
// oldest first, and nothing younger.
func TestPruneEvents(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	for i := range 25 {
		age := "1 hour"
		if i < 17 {
			age = "40 days"
		}
		_, err := db.Pool.Exec(ctx, `INSERT INTO sku_events (event_id, kind, sku_id, payload, source, tier, event_time, applied_at)
			VALUES ($1, 'sku.upsert', $2, '{}', 'test', 'realtime', now(), now() - $3::interval)`, fmt.Sprintf("e%d", i), i, age)
		require.NoError(t, err)
		_, err = db.Pool.Exec(ctx, `INSERT INTO dead_letters (source, reason, created_at) VALUES ($1, 'bad', now() - $2::interval)`, fmt.Sprintf("test:%d", i), age)
		require.NoError(t, err)
	}
	_, err := db.Pool.Exec(ctx, `UPDATE dead_letters SET created_at = now() - interval '5 days' WHERE id = (SELECT min(id) FROM dead_letters)`)
	require.NoError(t, err)

	vacuums := func() (n int64) {
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT sum(vacuum_count) FROM pg_stat_user_tables
			WHERE relname IN ('sku_events', 'dead_letters') AND schemaname = current_schema()`).Scan(&n))
		return n
	}
	before := vacuums()
	ev, dl, err := PruneEvents(ctx, db.Pool, EventRetention{EventsFor: 30 * 24 * time.Hour, DeadLettersFor: 3 * 24 * time.Hour, Batch: 4})
	require.NoError(t, err)
	require.EqualValues(t, 17, ev)
	require.EqualValues(t, 17, dl, "the first dead letter is 5 days old, older than 3 days too")
	require.EqualValues(t, before+2, vacuums(), "both tables vacuumed after their rows went, so new rows reuse the space")
	var left, oldest int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*), min(sku_id) FROM sku_events`).Scan(&left, &oldest))
	require.EqualValues(t, 8, left)
	require.EqualValues(t, 17, oldest)
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&left))
	require.EqualValues(t, 8, left)

	ev, dl, err = PruneEvents(ctx, db.Pool, EventRetention{})
	require.NoError(t, err)
	require.Zero(t, ev+dl, "nothing left is 30 days old")

	// A replay that would need the pruned events refuses; one after them runs.
	var through int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT pruned_through FROM event_retention`).Scan(&through))
	require.EqualValues(t, 17, through)
	_, err = Replay(ctx, db.Pool, ReplayConfig{})
	require.ErrorIs(t, err, ErrPruned)
	_, err = Replay(ctx, db.Pool, ReplayConfig{From: 17})
	require.ErrorIs(t, err, ErrPruned)
	_, err = Replay(ctx, db.Pool, ReplayConfig{From: 18})
	require.NotErrorIs(t, err, ErrPruned)
}

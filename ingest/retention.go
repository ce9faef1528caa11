package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// EventRetention says how long accepted events (sku_events) and dead letters are kept. Zero
// fields take the defaults.
//
// sku_events is the replay log and what the followers read changes from; skus is the state of
// record. An event older than EventsFor has long been applied to skus and read by every
// follower that runs; the ones that do not run that long (a tag snapshot saved before it, a pool
// version checked before it) rebuild from skus instead of reading changes (tagger.Config.
// SnapshotMaxAge, selection.Service.EventsKeptFor). Replay then rebuilds skus from the events
// kept: every SKU whose events are all older keeps its row as it is.
type EventRetention struct {
	// EventsFor is how long an accepted event is kept (by applied_at). Default 30 days.
	EventsFor time.Duration
	// DeadLettersFor is how long a dead letter is kept (by created_at). Default 30 days.
	DeadLettersFor time.Duration
	// Batch is how many rows one delete takes, so that pruning a long backlog holds no lock
	// for long. Default 10,000.
	Batch int
}

// WithDefaults fills zero fields.
func (r EventRetention) WithDefaults() EventRetention {
	if r.EventsFor <= 0 {
		r.EventsFor = 30 * 24 * time.Hour
	}
	if r.DeadLettersFor <= 0 {
		r.DeadLettersFor = 30 * 24 * time.Hour
	}
	if r.Batch <= 0 {
		r.Batch = 10_000
	}
	return r
}

// PruneEvents deletes the accepted events and dead letters retention lets go, oldest first,
// a batch at a time (each in its own transaction), vacuums the tables it deleted from, and
// returns how many of each it deleted.
func PruneEvents(ctx context.Context, pool *pgxpool.Pool, r EventRetention) (events, deadLetters int64, err error) {
	r = r.WithDefaults()
	// The oldest rows by key, while they are old enough: applied_at follows seq closely (both
	// are taken as the event is written), and the key needs no index of its own.
	// Each batch records the newest seq it deleted in the same statement (Replay reads it).
	events, err = pruneOldest(ctx, pool, `WITH gone AS (
			DELETE FROM sku_events WHERE seq IN (SELECT seq FROM sku_events ORDER BY seq LIMIT $1)
			AND applied_at < now() - $2::interval RETURNING seq),
		mark AS (INSERT INTO event_retention (pruned_through) SELECT max(seq) FROM gone HAVING count(*) > 0
			ON CONFLICT (one) DO UPDATE SET pruned_through = greatest(event_retention.pruned_through, excluded.pruned_through), pruned_at = now())
		SELECT count(*) FROM gone`, r.Batch, r.EventsFor)
	if err != nil {
		return events, 0, fmt.Errorf("prune sku_events: %w", err)
	}
	deadLetters, err = pruneOldest(ctx, pool, `WITH gone AS (DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters ORDER BY id LIMIT $1)
		AND created_at < now() - $2::interval RETURNING id) SELECT count(*) FROM gone`, r.Batch, r.DeadLettersFor)
	if err != nil {
		return events, deadLetters, fmt.Errorf("prune dead_letters: %w", err)
	}
	// Vacuumed now, so that new rows reuse the space: autovacuum waits until a fifth of the
	// rows are dead, and a pruned log that keeps growing is not flat.
	for _, v := range []struct {
		n     int64
		table string
	}{{events, "sku_events"}, {deadLetters, "dead_letters"}} {
		if v.n > 0 {
			if _, err := pool.Exec(ctx, "VACUUM "+v.table); err != nil {
				return events, deadLetters, fmt.Errorf("prune %s: vacuum: %w", v.table, err)
			}
		}
	}
	return events, deadLetters, nil
}

// pruneOldest runs a batch delete (its query returns the count deleted) until a batch deletes
// fewer than batch rows.
func pruneOldest(ctx context.Context, pool *pgxpool.Pool, sql string, batch int, keep time.Duration) (int64, error) {
	var total int64
	for {
		var n int64
		if err := pool.QueryRow(ctx, sql, batch, keep.String()).Scan(&n); err != nil {
			return total, err
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}

package pg

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tail is where a poller that follows a table by a server-clock stamp (updated_at set by now()
// or clock_timestamp()) reads from next. A transaction's rows become visible when it commits,
// which can be after rows stamped later by other transactions, so reading only past the newest
// stamp seen would miss them. Instead of re-reading a fixed window behind the newest stamp on
// every poll (which, after a bulk load and no newer writes, re-reads the same rows forever),
// Tail asks Postgres which transactions are still open before each read: rows not yet visible
// belong to one of them (stamped no earlier than its start) or to a transaction that starts
// later (stamped after the question). So the next read starts at the oldest of those starts,
// or just after the newest stamp seen when no writer is open; never further back than Overlap behind
// the newest stamp (a transaction open longer than that is treated as the fixed window always
// did). When other roles' sessions are hidden from this one (no pg_read_all_stats), the fixed
// window is used.
//
// Use: from := t.From(); floor, err := t.Floor(ctx, q) (before the read); read rows stamped at
// or after from, calling t.Saw for each stamp (and t.Fresh to skip rows an earlier read
// already returned); then t.Advance(floor). A Tail is not safe for concurrent use.
type Tail struct {
	// Overlap is the most a read reaches behind the newest stamp seen.
	Overlap time.Duration

	newest time.Time
	from   time.Time
	seen   map[int64]time.Time // rows read that are stamped at or after from
}

// NewTail starts a tail after newest (the newest stamp already applied, for example by a full
// load): the first read starts Overlap before it.
func NewTail(newest time.Time, overlap time.Duration) *Tail {
	return &Tail{Overlap: overlap, newest: newest, from: newest.Add(-overlap)}
}

// From is where the next read starts (inclusive).
func (t *Tail) From() time.Time { return t.from }

// Newest is the newest stamp seen.
func (t *Tail) Newest() time.Time { return t.newest }

// Fresh reports whether the row key stamped at has not been returned by an earlier read of
// this tail (reads overlap), and records it. It also records the stamp as Saw does.
func (t *Tail) Fresh(key int64, at time.Time) bool {
	t.Saw(at)
	if prev, ok := t.seen[key]; ok && prev.Equal(at) {
		return false
	}
	if t.seen == nil {
		t.seen = map[int64]time.Time{}
	}
	t.seen[key] = at
	return true
}

// Saw records a stamp read.
func (t *Tail) Saw(at time.Time) {
	if at.After(t.newest) {
		t.newest = at
	}
}

// Floor is what Advance needs, asked before the read: a time no later than the stamp of any row
// a transaction still uncommitted (or not yet started) may write, or the zero time when it
// cannot be known.
type Floor struct {
	at    time.Time
	known bool
}

// floorSQL: the start of the oldest open transaction of another client session of this
// database, or the server's clock; and whether every such session is visible to this role.
const floorSQL = `SELECT least(min(xact_start), clock_timestamp()), count(*) FILTER (WHERE state IS NULL) = 0
	FROM pg_stat_activity
	WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`

// Querier is a pool, a connection or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Floor asks Postgres for the open transactions; call it before the read it guards.
func (t *Tail) Floor(ctx context.Context, q Querier) (Floor, error) {
	var f Floor
	if err := q.QueryRow(ctx, floorSQL).Scan(&f.at, &f.known); err != nil {
		return Floor{}, fmt.Errorf("open transactions: %w", err)
	}
	return f, nil
}

// Advance moves From after a read guarded by f.
func (t *Tail) Advance(f Floor) {
	from := t.newest.Add(-t.Overlap)
	if f.known {
		// Every row the read did not see is stamped at or after f.at. When that is past the
		// newest stamp, no unseen row shares the newest stamp either, so the next read starts
		// just after it (Postgres stamps have microsecond resolution): a quiet table costs
		// nothing to poll.
		open := f.at
		if t.newest.Before(f.at) {
			open = t.newest.Add(time.Microsecond)
		}
		if open.After(from) {
			from = open
		}
	}
	if from.After(t.from) {
		t.from = from
		for k, at := range t.seen {
			if at.Before(from) {
				delete(t.seen, k) // no read returns it again
			}
		}
	}
}

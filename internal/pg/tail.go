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
// Tail asks Postgres which transactions are open before each read: rows not yet visible belong
// to one of them (stamped no earlier than its start) or to a transaction that starts later
// (stamped after the question). So the next read starts at the oldest of those starts, or just
// after the newest stamp seen when that is older; in both cases no later than Margin before
// the question, because a session publishes its transaction's start a moment after taking the
// timestamp its rows carry; and never further back than Overlap behind the newest stamp (a
// transaction open longer than that is treated as the fixed window always did).
//
// The fixed window is used instead when the open transactions cannot all be seen: another
// role's session in this database (its details are hidden without pg_read_all_stats), a
// session with track_activities off, or a prepared transaction.
//
// Use: from := t.From(); floor, err := t.Floor(ctx, q) (before the read); read the rows stamped
// at or after from, skipping those t.Seen reports; apply them; and only when all of that
// succeeded, t.Done(rows, newest, floor). A failed poll changes nothing, so the next one reads
// the same rows again. A Tail is not safe for concurrent use.
type Tail struct {
	// Overlap is the most a read reaches behind the newest stamp seen.
	Overlap time.Duration

	newest time.Time
	from   time.Time
	seen   map[int64]time.Time // rows read that are stamped at or after from
}

// Margin is how far before the moment Floor asks a read always starts: the time between a
// session taking its transaction's timestamp and publishing it in pg_stat_activity (normally
// microseconds; a second covers a session descheduled in between on a busy machine).
const Margin = time.Second

// NewTail starts a tail after newest (the newest stamp already applied, for example by a full
// load): the first read starts Overlap before it, but never before the Unix epoch (no row is
// stamped earlier; a tail of an empty table, newest zero, starts there), so From is always a
// real stamp.
func NewTail(newest time.Time, overlap time.Duration) *Tail {
	from := newest.Add(-overlap)
	if epoch := time.Unix(0, 0); from.Before(epoch) {
		from = epoch
	}
	return &Tail{Overlap: overlap, newest: newest, from: from}
}

// From is where the next read starts (inclusive).
func (t *Tail) From() time.Time { return t.from }

// Newest is the newest stamp seen.
func (t *Tail) Newest() time.Time { return t.newest }

// Seen reports whether a completed read already returned the row key stamped at (reads
// overlap, so a row can come back).
func (t *Tail) Seen(key int64, at time.Time) bool {
	prev, ok := t.seen[key]
	return ok && prev.Equal(at)
}

// Row is one row a read returned: its key and stamp.
type Row struct {
	Key int64
	At  time.Time
}

// Floor is what Done needs, asked before the read: a time no later than the stamp of any row a
// transaction still uncommitted (or not yet started) may write, or unknown.
type Floor struct {
	at    time.Time
	known bool
}

// floorSQL: the start of the oldest open transaction of another session of this database (but
// autovacuum's, which writes no rows), or the time of the question; and whether every such
// session is visible to this role (another role's session is hidden: NULL backend_type) and
// tracked (a session may turn track_activities off for itself: state 'disabled'; this one's
// setting is checked too), and no prepared transaction waits in this database. An autovacuum
// worker is hidden too (it runs as no role; without pg_read_all_stats even its backend_type is
// NULL), but it has no usesysid, which every session of a role has: hidden sessions without
// one are autovacuum's and do not count (they came every minute, autovacuum_naptime, and made
// every poll in that second read the whole Overlap window).
const floorSQL = `SELECT least(min(a.xact_start), statement_timestamp()),
	count(*) FILTER (WHERE (a.backend_type IS NULL AND a.usesysid IS NOT NULL) OR a.state = 'disabled') = 0
		AND current_setting('track_activities')::bool
		AND NOT EXISTS (SELECT 1 FROM pg_prepared_xacts p WHERE p.database = current_database())
	FROM pg_stat_activity a
	WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
		AND a.backend_type IS DISTINCT FROM 'autovacuum worker'`

// Querier is a pool, a connection or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// At is the floor's time (Margin taken off) and whether it is known: every row stamped before
// it was committed (or rolled back) before the read the floor guards began.
func (f Floor) At() (time.Time, bool) { return f.at, f.known }

// Floor asks Postgres for the open transactions; call it before the read it guards.
func (t *Tail) Floor(ctx context.Context, q Querier) (Floor, error) {
	var f Floor
	if err := q.QueryRow(ctx, floorSQL).Scan(&f.at, &f.known); err != nil {
		return Floor{}, fmt.Errorf("open transactions: %w", err)
	}
	f.at = f.at.Add(-Margin)
	return f, nil
}

// Done records a read guarded by f that was applied in full: rows (so later reads can skip
// them with Seen), newest (the newest stamp it returned; zero for none) and where the next read
// starts.
func (t *Tail) Done(rows []Row, newest time.Time, f Floor) {
	if newest.After(t.newest) {
		t.newest = newest
	}
	if len(rows) > 0 && t.seen == nil {
		t.seen = map[int64]time.Time{}
	}
	for _, r := range rows {
		if r.At.After(t.newest) {
			t.newest = r.At
		}
		t.seen[r.Key] = r.At
	}
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
	}
	for k, at := range t.seen {
		if at.Before(t.from) {
			delete(t.seen, k) // no read returns it again
		}
	}
}

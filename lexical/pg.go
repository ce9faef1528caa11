package lexical

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/internal/pg"
	"selection/internal/poll"
)

// Store reads the catalogue's text from the skus table.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store over pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// row is one SKU as the index needs it.
type row struct {
	doc  Document
	hash []byte
	live bool
	at   time.Time
}

const textCols = `id, ordinal, title, brand, product_type, category, description, content_hash, live, updated_at`

func scanRows(rows pgx.Rows) ([]row, error) {
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		f := &r.doc.Fields
		if err := rows.Scan(&r.doc.SKUID, &r.doc.Ordinal, &f[FieldTitle], &f[FieldBrand], &f[FieldProductType],
			&f[FieldCategory], &f[FieldDescription], &r.hash, &r.live, &r.at); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Load indexes every live SKU into ix and returns the newest updated_at it saw (the point a
// Follower continues from). It reads in pages of 10,000 by id, so memory stays bounded.
func (s *Store) Load(ctx context.Context, ix *Index) (time.Time, error) {
	_, at, err := s.load(ctx, ix)
	return at, err
}

func (s *Store) load(ctx context.Context, ix *Index) (map[int64]textHash, time.Time, error) {
	hashes := map[int64]textHash{}
	var newest time.Time
	after := int64(-1 << 63)
	first := true
	const page = 10000
	for {
		rows, err := s.pool.Query(ctx, `SELECT `+textCols+` FROM skus
			WHERE live AND ($1 OR ordinal > $2) ORDER BY ordinal LIMIT $3`, first, after, page)
		if err != nil {
			return nil, newest, fmt.Errorf("lexical: load: %w", err)
		}
		rs, err := scanRows(rows)
		if err != nil {
			return nil, newest, fmt.Errorf("lexical: load: %w", err)
		}
		docs := make([]Document, len(rs))
		for i, r := range rs {
			docs[i] = r.doc
			hashes[r.doc.SKUID] = hashOf(r.hash)
			if r.at.After(newest) {
				newest = r.at
			}
		}
		if err := ix.Upsert(docs...); err != nil {
			return nil, newest, fmt.Errorf("lexical: load: %w", err)
		}
		if len(rs) < page {
			return hashes, newest, nil
		}
		first = false
		after = rs[len(rs)-1].doc.Ordinal
	}
}

// FollowerConfig tunes a Follower.
type FollowerConfig struct {
	// Interval between polls. Default 500ms: a text change is searchable within about a second.
	Interval time.Duration
	// Overlap is the furthest a poll reads behind the newest updated_at seen. A poll starts at
	// the start of the oldest transaction still open (updated_at is a transaction's start, and
	// it may commit after newer stamps were read; see pg.Tail), or at the newest stamp when none
	// is; a transaction open longer than Overlap is read only this far back. Re-read rows are
	// skipped by content hash. Default 5s (ingest transactions last well under a second).
	Overlap time.Duration
	// Logger receives poll errors. Default slog.Default().
	Logger *slog.Logger
}

// WithDefaults fills zero fields with their defaults.
func (c FollowerConfig) WithDefaults() FollowerConfig {
	if c.Interval == 0 {
		c.Interval = 500 * time.Millisecond
	}
	if c.Overlap == 0 {
		c.Overlap = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c FollowerConfig) validate() error {
	if c.Interval < 0 || c.Overlap < 0 {
		return errors.New("lexical: follower interval and overlap must be >= 0")
	}
	return nil
}

// Follower keeps an Index in step with the skus table: Start loads every live SKU, then polls
// for rows updated since (price and stock updates touch updated_at too, so it compares content
// hashes and re-indexes only changed text); deleted SKUs leave the index.
type Follower struct {
	store *Store
	ix    *Index
	cfg   FollowerConfig

	loop poll.Loop

	mu      sync.Mutex
	hashes  map[int64]textHash
	tail    *pg.Tail
	polls   int64
	changed int64
	scanned int64
}

// FollowerStats counts a follower's work.
type FollowerStats struct {
	Polls   int64 // polls done
	Changed int64 // SKUs re-indexed or removed
	Scanned int64 // skus rows the polls read (changed or not)
}

// Stats returns the counts so far.
func (f *Follower) Stats() FollowerStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return FollowerStats{Polls: f.polls, Changed: f.changed, Scanned: f.scanned}
}

// From is where the next poll reads from: every skus row stamped before it is reflected in the
// index. Zero before the first load or poll.
func (f *Follower) From() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tail == nil {
		return time.Time{}
	}
	return f.tail.From()
}

// NewFollower returns a follower that keeps ix fresh from store.
func NewFollower(store *Store, ix *Index, cfg FollowerConfig) (*Follower, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Follower{store: store, ix: ix, cfg: cfg,
		loop: poll.Loop{Name: "lexical: poll", Every: cfg.Interval, Retry: cfg.Interval, MaxRetry: poll.TailRetryMax, Logger: cfg.Logger}}, nil
}

// Start loads the index and starts polling. It returns once the initial load is done; calling
// it again while running does nothing.
func (f *Follower) Start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loop.Running() {
		return nil
	}
	hashes, at, err := f.store.load(ctx, f.ix)
	if err != nil {
		return err
	}
	f.hashes, f.tail = hashes, pg.NewTail(at, f.cfg.Overlap)
	f.loop.Start(context.WithoutCancel(ctx), func(ctx context.Context) error {
		_, err := f.Poll(ctx)
		return err
	})
	return nil
}

// Stop ends polling and waits for the poll in flight (or until ctx ends). Stopping a stopped
// follower does nothing.
func (f *Follower) Stop(ctx context.Context) error {
	return f.loop.Stop(ctx) // not under f.mu: the poll in flight takes it
}

// Poll applies the changes since the last poll (Start calls it periodically; tests call it
// directly) and returns how many SKUs were re-indexed or removed.
func (f *Follower) Poll(ctx context.Context) (int, error) {
	tail, since := f.pollTail()
	floor, err := tail.Floor(ctx, f.store.pool)
	if err != nil {
		return 0, fmt.Errorf("lexical: poll: %w", err)
	}
	scan, err := f.scanChanges(ctx, since)
	if err != nil {
		return 0, fmt.Errorf("lexical: poll: %w", err)
	}
	var upIDs, delIDs []int64
	for _, c := range scan.changes {
		if c.live {
			upIDs = append(upIDs, c.id)
		} else {
			delIDs = append(delIDs, c.id)
		}
	}
	ups, err := f.store.liveRows(ctx, upIDs)
	if err != nil {
		return 0, fmt.Errorf("lexical: poll: %w", err)
	}
	docs := make([]Document, len(ups))
	for i, r := range ups {
		docs[i] = r.doc
	}
	upErr := f.ix.Upsert(docs...)
	f.ix.Delete(delIDs...)
	f.record(tail, floor, scan, ups, delIDs)
	if upErr != nil {
		return len(ups) + len(delIDs), fmt.Errorf("lexical: poll: %w", upErr)
	}
	return len(ups) + len(delIDs), nil
}

// pollTail returns the tail a poll reads through and where it reads from, making the
// follower's state on first use (a follower polled without Start).
func (f *Follower) pollTail() (*pg.Tail, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hashes == nil {
		f.hashes = map[int64]textHash{}
	}
	if f.tail == nil {
		f.tail = pg.NewTail(time.Time{}, f.cfg.Overlap)
	}
	return f.tail, f.tail.From()
}

// textHash is a SKU's content hash (skus.content_hash, an md5) as a map holds it: a value
// without pointers, so that a million of them are one allocation the collector does not scan,
// not a million slices it marks in every cycle.
type textHash [md5.Size]byte

// hashOf is a content hash as a textHash: itself when it is an md5's size (as the column is
// generated), else its md5.
func hashOf(b []byte) textHash {
	if len(b) == md5.Size {
		return textHash(b)
	}
	return md5.Sum(b)
}

// skuChange is a skus row whose indexed state (live, content hash) differs from the index's.
type skuChange struct {
	id   int64
	hash []byte
	live bool
}

// pollScan is what one poll read of the skus rows stamped since its start.
type pollScan struct {
	changes []skuChange
	scanned int64     // rows read, changed or not
	newest  time.Time // the newest stamp read (zero: none)
}

// scanChanges reads the skus rows stamped at or after since and keeps those whose liveness or
// content hash differs from what the index holds.
func (f *Follower) scanChanges(ctx context.Context, since time.Time) (pollScan, error) {
	var scan pollScan
	rows, err := f.store.pool.Query(ctx, `SELECT id, content_hash, live, updated_at FROM skus
		WHERE updated_at >= $1 ORDER BY updated_at`, since)
	if err != nil {
		return scan, err
	}
	defer rows.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for rows.Next() {
		var c skuChange
		var at time.Time
		if err := rows.Scan(&c.id, &c.hash, &c.live, &at); err != nil {
			return scan, err
		}
		scan.scanned++
		if at.After(scan.newest) {
			scan.newest = at
		}
		old, known := f.hashes[c.id]
		if c.live == known && (!c.live || old == hashOf(c.hash)) {
			continue // nothing the index sees changed
		}
		scan.changes = append(scan.changes, c)
	}
	return scan, rows.Err()
}

// liveRows reads the text of the live SKUs among ids (none when ids is empty).
func (s *Store) liveRows(ctx context.Context, ids []int64) ([]row, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	r, err := s.pool.Query(ctx, `SELECT `+textCols+` FROM skus WHERE id = ANY($1) AND live`, ids)
	if err != nil {
		return nil, err
	}
	return scanRows(r)
}

// record notes what a poll applied: the hashes now indexed, the tail moved past what was read
// (unless a Start replaced the tail meanwhile) and the counts.
func (f *Follower) record(tail *pg.Tail, floor pg.Floor, scan pollScan, ups []row, delIDs []int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range ups {
		f.hashes[r.doc.SKUID] = hashOf(r.hash)
	}
	for _, id := range delIDs {
		delete(f.hashes, id)
	}
	if f.tail == tail {
		tail.Done(nil, scan.newest, floor)
	}
	f.polls++
	f.changed += int64(len(ups) + len(delIDs))
	f.scanned += scan.scanned
}

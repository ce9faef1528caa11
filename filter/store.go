package filter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned (wrapped) by LoadSnapshot when no snapshot was saved.
var ErrNotFound = errors.New("not found")

// ErrOutdated is returned by LoadSnapshot for a snapshot an older version saved (another layout,
// or without a column that exists now); Tagger.Load then builds from skus and saves anew.
var ErrOutdated = errors.New("saved by an older version")

// Store reads and writes the saved index: tag_bitmaps (one row per bitmap or BSI column) and
// tag_index_state (the position the saved index reflects).
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store over pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Position is where the index stands in sku_events: every event of a transaction visible in
// Snapshot (a pg_snapshot, "xmin:xmax:xip,...") is reflected; Seq is the highest seq seen.
type Position struct {
	Snapshot string
	Seq      int64
	// Saved is when a loaded snapshot was saved (zero for a position not read from one).
	Saved time.Time
}

// SaveSnapshot replaces the persisted index with s, unless a snapshot of a later position is
// already there (several replicas may save). It reports whether it wrote.
func (s *Store) SaveSnapshot(ctx context.Context, snap *Snapshot) (bool, error) {
	wrote := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE tag_index_state IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		var newer bool
		err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(event_snapshot) > pg_snapshot_xmin($1::pg_snapshot)
			FROM tag_index_state`, snap.Pos.Snapshot).Scan(&newer)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if newer {
			return nil
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE tag_bitmaps_stage (key text, tag_id bigint, bitmap bytea,
			cardinality bigint) ON COMMIT DROP`); err != nil {
			return err
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"tag_bitmaps_stage"}, []string{"key", "tag_id", "bitmap", "cardinality"},
			pgx.CopyFromSlice(len(snap.Entries), func(i int) ([]any, error) {
				e := &snap.Entries[i]
				var tagID any
				if e.TagID != 0 {
					tagID = e.TagID
				}
				return []any{e.Key, tagID, e.Bytes, int64(e.Cardinality)}, nil
			}))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tag_bitmaps`); err != nil {
			return err
		}
		// Tags deleted since the snapshot was taken are left out.
		if _, err := tx.Exec(ctx, `INSERT INTO tag_bitmaps (key, tag_id, bitmap, cardinality, version, event_seq)
			SELECT st.key, st.tag_id, st.bitmap, st.cardinality, 1, $1 FROM tag_bitmaps_stage st
			WHERE st.tag_id IS NULL OR EXISTS (SELECT 1 FROM tags WHERE tags.id = st.tag_id)`, snap.Pos.Seq); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tag_index_state (id, event_snapshot, event_seq, skus, bytes, saved_at)
			VALUES (true, $1::pg_snapshot, $2, (SELECT coalesce(max(ordinal) + 1, 0) FROM skus), $3, now())
			ON CONFLICT (id) DO UPDATE SET event_snapshot = excluded.event_snapshot, event_seq = excluded.event_seq,
				skus = excluded.skus, bytes = excluded.bytes, saved_at = now()`,
			snap.Pos.Snapshot, snap.Pos.Seq, snap.Size()); err != nil {
			return err
		}
		wrote = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("save index snapshot: %w", err)
	}
	return wrote, nil
}

// LoadSnapshot rebuilds an index from tag_bitmaps plus the ordinal -> id map from skus, in one
// repeatable-read snapshot. It returns ErrNotFound when nothing was saved.
func (s *Store) LoadSnapshot(ctx context.Context) (*Index, Position, error) {
	var ix *Index
	var pos Position
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT event_snapshot::text, event_seq, saved_at FROM tag_index_state`).Scan(&pos.Snapshot, &pos.Seq, &pos.Saved)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("index snapshot: %w", ErrNotFound)
		}
		if err != nil {
			return err
		}
		tags, err := tagInfos(ctx, tx)
		if err != nil {
			return err
		}
		if ix, err = indexOfSKUs(ctx, tx); err != nil {
			return err
		}
		brows, err := tx.Query(ctx, `SELECT key, bitmap FROM tag_bitmaps`)
		if err != nil {
			return err
		}
		var key string
		var raw []byte
		columns := map[string]bool{}
		format := false
		_, err = pgx.ForEachRow(brows, []any{&key, &raw}, func() error {
			if name, ok := strings.CutPrefix(key, "bsi:"); ok {
				columns[name] = true
			}
			if key == formatKey {
				format = true
				return nil
			}
			return ix.loadEntry(key, raw, tags)
		})
		if err != nil {
			return err
		}
		// A snapshot an older version saved (another layout, or without a numeric column
		// that exists now) cannot be trusted: build from skus instead (Tagger.Load does).
		for _, name := range numNames {
			if !columns[name] {
				return fmt.Errorf("the snapshot has no %s column: %w", name, ErrOutdated)
			}
		}
		if !format {
			return fmt.Errorf("the snapshot is not in format %s: %w", formatKey, ErrOutdated)
		}
		return nil
	})
	if err != nil {
		return nil, pos, fmt.Errorf("load index snapshot: %w", err)
	}
	return ix, pos, nil
}

// tagInfos reads every tag's identity by id.
func tagInfos(ctx context.Context, tx pgx.Tx) (map[int64]TagInfo, error) {
	tags := map[int64]TagInfo{}
	trows, err := tx.Query(ctx, `SELECT id, name, kind FROM tags`)
	if err != nil {
		return nil, err
	}
	for trows.Next() {
		var t TagInfo
		if err := trows.Scan(&t.ID, &t.Name, &t.Kind); err != nil {
			trows.Close()
			return nil, err
		}
		tags[t.ID] = t
	}
	if err := trows.Err(); err != nil {
		return nil, err
	}
	return tags, nil
}

// indexOfSKUs returns an empty index sized for skus' ordinals, with their ordinal <-> id maps.
func indexOfSKUs(ctx context.Context, tx pgx.Tx) (*Index, error) {
	var n int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(ordinal) + 1, 0) FROM skus`).Scan(&n); err != nil {
		return nil, err
	}
	ix := NewIndex()
	ix.ids = make([]int64, n)
	ix.ords = make(map[int64]int64, n)
	for _, c := range ix.cats {
		c.codes = make([]uint32, n)
	}
	rows, err := tx.Query(ctx, `SELECT ordinal, id FROM skus`)
	if err != nil {
		return nil, err
	}
	var o, id int64
	_, err = pgx.ForEachRow(rows, []any{&o, &id}, func() error {
		if o >= 0 && o < n {
			ix.ids[o] = id
			ix.ords[id] = o
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ix, nil
}

// LoadTagMembers installs in ix the saved members (tag:<id>, tagconf:<id>) of the given tags,
// less the SKUs deleted since the save. The rows are read before the index is locked, so
// searches do not wait for Postgres.
func (s *Store) LoadTagMembers(ctx context.Context, ix *Index, ids []int64) error {
	type saved struct {
		key  string
		raw  []byte
		info TagInfo
	}
	rows, err := s.pool.Query(ctx, `SELECT b.key, b.bitmap, t.id, t.name, t.kind
		FROM tag_bitmaps b JOIN tags t ON t.id = b.tag_id WHERE b.tag_id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("saved tag members: %w", err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (saved, error) {
		var s saved
		err := r.Scan(&s.key, &s.raw, &s.info.ID, &s.info.Name, &s.info.Kind)
		return s, err
	})
	if err != nil {
		return fmt.Errorf("saved tag members: %w", err)
	}
	if len(got) == 0 {
		return nil
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	defer func() { // whatever it loaded, even in part: no answer read before stands
		ix.version++
		ix.touched.resetLocked(ix.version)
	}()
	for _, s := range got {
		if err := ix.loadEntry(s.key, s.raw, map[int64]TagInfo{s.info.ID: s.info}); err != nil {
			return fmt.Errorf("saved tag members: %w", err)
		}
	}
	for _, s := range got {
		if st := ix.tags[strings.ToLower(s.info.Name)]; st != nil {
			st.members.And(ix.live) // SKUs deleted since the save
		}
	}
	return nil
}

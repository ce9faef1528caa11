package vectorindex

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"selection/internal/pg"
)

// Keeping the index in step with sku_vectors: the full Load, the incremental Refresh and the
// poll loop that Start runs.

// decodeVector reads a pgvector value in the binary (uint16 dim, uint16 unused, dim x float32
// big-endian) or text ("[1,2,3]") format into dst, which must have the right length.
func decodeVector(dst []float32, raw []byte, binaryFormat bool) error {
	if binaryFormat {
		if len(raw) < 4 {
			return errors.New("short vector value")
		}
		dim := int(binary.BigEndian.Uint16(raw))
		if dim != len(dst) || len(raw) != 4+4*dim {
			return fmt.Errorf("vector of %d dimensions, want %d", dim, len(dst))
		}
		for i := range dst {
			dst[i] = math.Float32frombits(binary.BigEndian.Uint32(raw[4+4*i:]))
		}
		return nil
	}
	s := strings.TrimSpace(string(raw))
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return errors.New("vector text is not [..]")
	}
	parts := strings.Split(s[1:len(s)-1], ",")
	if len(parts) != len(dst) {
		return fmt.Errorf("vector of %d dimensions, want %d", len(parts), len(dst))
	}
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return fmt.Errorf("vector element %d: %w", i, err)
		}
		dst[i] = float32(f)
	}
	return nil
}

// scanVectors runs query (columns ordinal, sku_id, embedding, updated_at, live) and calls fn
// with each row's vector decoded into a reused buffer.
func (ix *Index) scanVectors(ctx context.Context, query string, args []any,
	fn func(o, id int64, v []float32, at time.Time, live bool) error) error {
	rows, err := ix.pool.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	buf := make([]float32, ix.cfg.Dim)
	binFmt, first := false, true
	for rows.Next() {
		if first {
			// Only now: a query that fails (a cancelled poll, a dropped table) has no field
			// descriptions, and its error comes from rows.Err below.
			fds := rows.FieldDescriptions()
			if len(fds) < 5 {
				return fmt.Errorf("vectorindex: query returned %d columns, want 5", len(fds))
			}
			binFmt, first = fds[2].Format == pgx.BinaryFormatCode, false
		}
		var o, id int64
		var at time.Time
		var live bool
		raw := rows.RawValues()
		if err := rows.Scan(&o, &id, nil, &at, &live); err != nil {
			return err
		}
		if err := decodeVector(buf, raw[2], binFmt); err != nil {
			return fmt.Errorf("sku %d: %w", id, err)
		}
		if err := fn(o, id, buf, at, live); err != nil {
			return err
		}
	}
	return rows.Err()
}

const loadSQL = `SELECT v.ordinal, v.sku_id, v.embedding, v.updated_at, s.live
	FROM sku_vectors v JOIN skus s ON s.id = v.sku_id WHERE s.live`

// Load reads every live SKU's vector from sku_vectors into a fresh set of chunks, computes the
// centring mean and the binary codes, and swaps it in (searches keep running on the old set
// meanwhile). It refuses, wrapping ErrTooLarge, when the vectors would exceed MaxBytes.
func (ix *Index) Load(ctx context.Context) error {
	if ix.pool == nil {
		return errors.New("vectorindex: Load needs a database pool")
	}
	start := time.Now()
	var est int64
	if err := ix.pool.QueryRow(ctx, `SELECT count(*) FROM sku_vectors`).Scan(&est); err != nil {
		return fmt.Errorf("vectorindex: count vectors: %w", err)
	}
	if need := est * ix.bytesPerVector(); need > ix.cfg.MaxBytes {
		return fmt.Errorf("vectorindex: %w: %d vectors need %d MiB, MaxBytes is %d MiB", ErrTooLarge, est, need>>20, ix.cfg.MaxBytes>>20)
	}
	if err := CheckDimension(ctx, ix.pool, ix.cfg.Dim); err != nil {
		return err
	}
	var chunks []*chunk
	var n int
	maxOrd := int64(-1)
	var wm time.Time
	vn := make([]float32, ix.cfg.Dim)
	err := ix.scanVectors(ctx, loadSQL, nil, func(o, id int64, v []float32, at time.Time, _ bool) error {
		if at.After(wm) {
			wm = at
		}
		if o < 0 || o > MaxOrdinal || !normalize(vn, v) {
			ix.cfg.Logger.Warn("vectorindex: skipping unusable vector", "sku", id, "ordinal", o)
			return nil
		}
		if ix.putEncode(&chunks, o, id, vn, nil, false) {
			n++
		}
		maxOrd = max(maxOrd, o)
		return nil
	})
	if err != nil {
		return fmt.Errorf("vectorindex: load vectors: %w", err)
	}
	mean := ix.computeMean(chunks)
	ix.encodeAll(chunks, mean)
	var l *lists
	if ix.cfg.ListsFrom > 0 && n >= ix.cfg.ListsFrom {
		if l, err = ix.buildLists(ctx, chunks, maxOrd, mean); err != nil {
			return err
		}
	}

	ix.mu.Lock()
	ix.gen.Add(1)
	ix.chunks, ix.n, ix.maxOrd, ix.mean, ix.lists, ix.loaded = chunks, n, maxOrd, mean, l, true
	if wm.After(ix.wm) {
		ix.wm = wm
	}
	ix.loadTime = time.Since(start)
	ix.mu.Unlock()
	return nil
}

const pollSQL = `SELECT v.ordinal, v.sku_id, v.embedding, v.updated_at, s.live
	FROM sku_vectors v JOIN skus s ON s.id = v.sku_id WHERE v.updated_at >= $1`

const pollDeletedSQL = `SELECT ordinal FROM skus WHERE updated_at >= $1 AND NOT live`

// Refresh applies what changed since the last load or refresh: vectors written (stamped after
// the newest stamp seen, minus PollOverlap) are added or replaced, SKUs that stopped being live
// are removed. It returns how many vectors were applied and removed. The poll loop started by
// Start calls it every PollInterval.
func (ix *Index) Refresh(ctx context.Context) (applied, removed int, err error) {
	if ix.pool == nil {
		return 0, 0, errors.New("vectorindex: Refresh needs a database pool")
	}
	ix.pollMu.Lock()
	defer ix.pollMu.Unlock()
	if ix.tail == nil {
		ix.mu.RLock()
		ix.tail = pg.NewTail(ix.wm, ix.cfg.PollOverlap)
		ix.mu.RUnlock()
	}
	tail := ix.tail
	since := tail.From()
	floor, err := tail.Floor(ctx, ix.pool)
	if err != nil {
		return 0, 0, fmt.Errorf("vectorindex: poll: %w", err)
	}
	type upd struct {
		o, id int64
		v     []float32
	}
	var ups []upd
	var gone []int64
	var read []pg.Row
	var wm time.Time // newest stamp this poll read (zero: none)
	err = ix.scanVectors(ctx, pollSQL, []any{since}, func(o, id int64, v []float32, at time.Time, live bool) error {
		if at.After(wm) {
			wm = at
		}
		if tail.Seen(o, at) {
			return nil // applied by an earlier poll
		}
		read = append(read, pg.Row{Key: o, At: at})
		if !live {
			gone = append(gone, o)
			return nil
		}
		vn := make([]float32, len(v))
		if o < 0 || o > MaxOrdinal || !normalize(vn, v) {
			return nil
		}
		ups = append(ups, upd{o, id, vn})
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("vectorindex: poll vectors: %w", err)
	}
	// Deletions are read from skus, which a catalogue's events stamp all day: from the tail's
	// From, which stays at the newest vector's stamp while no vector changes, a poll read every
	// SKU stamped since (under a stream of 1,000 events/s, a parallel scan of most of skus
	// every poll). Every SKU stamped before the previous poll's floor was visible to that
	// poll's read, so this one starts there.
	delSince := since
	if ix.delFrom.After(delSince) {
		delSince = ix.delFrom
	}
	rows, err := ix.pool.Query(ctx, pollDeletedSQL, delSince)
	if err != nil {
		return 0, 0, fmt.Errorf("vectorindex: poll deletions: %w", err)
	}
	deleted, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, 0, fmt.Errorf("vectorindex: poll deletions: %w", err)
	}
	gone = append(gone, deleted...)

	ix.mu.Lock()
	defer ix.mu.Unlock()
	if len(ups) > 0 {
		ix.gen.Add(1) // a removal moves it in remove
	}
	for _, u := range ups {
		if ix.put(&ix.chunks, u.o, u.id, u.v, ix.mean) {
			ix.n++
		}
		ix.maxOrd = max(ix.maxOrd, u.o)
	}
	for _, o := range gone {
		if ix.remove(o) {
			removed++
		}
	}
	if wm.After(ix.wm) {
		ix.wm = wm
	}
	tail.Done(read, wm, floor) // only now: a poll that failed above is read again in full
	if at, known := floor.At(); known {
		ix.delFrom = at
	}
	ix.from.Store(tail.From().UnixNano())
	ix.applied.Add(int64(len(ups)))
	ix.removed.Add(int64(removed))
	return len(ups), removed, nil
}

// From is where the next poll reads from: every sku_vectors row stamped before it is reflected
// in the index. Zero for an index that does not follow the database.
func (ix *Index) From() time.Time {
	if ix.pool == nil {
		return time.Time{}
	}
	if nanos := ix.from.Load(); nanos != 0 {
		return time.Unix(0, nanos)
	}
	ix.mu.RLock()
	wm := ix.wm
	ix.mu.RUnlock()
	return pg.NewTail(wm, ix.cfg.PollOverlap).From() // loaded, not yet polled
}

// Start loads the index if it is not loaded and starts the poll loop, which runs until Stop or
// until ctx ends. It is idempotent. A load refused for size (ErrTooLarge) is returned; the
// caller may keep going without the index (the planner uses pgvector).
func (ix *Index) Start(ctx context.Context) error {
	ix.runMu.Lock()
	defer ix.runMu.Unlock()
	if ix.loop.Running() {
		return nil
	}
	if !ix.Loaded() {
		if err := ix.Load(ctx); err != nil {
			return err
		}
	}
	ix.loop.Start(ctx, func(ctx context.Context) error {
		ix.polls.Add(1)
		if _, _, err := ix.Refresh(ctx); err != nil {
			if ctx.Err() == nil {
				ix.pollErrors.Add(1)
			}
			return err
		}
		ix.lastPoll.Store(time.Now().UnixNano())
		return nil
	})
	return nil
}

// Stop ends the poll loop and waits for it (or for ctx). It is idempotent.
func (ix *Index) Stop(ctx context.Context) error {
	ix.runMu.Lock()
	defer ix.runMu.Unlock()
	return ix.loop.Stop(ctx)
}

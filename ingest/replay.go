package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/catalog"
)

// ReplayConfig configures Replay.
type ReplayConfig struct {
	// From is the first sku_events seq to re-apply. 0 rebuilds: every SKU that has events is
	// reset to its empty state (keeping its row, id and ordinal) and all events are re-applied in
	// seq order. A positive From re-applies the events from that seq over the current state (for
	// a skus table restored from a backup taken at From-1): the event-time guards make events
	// the state already reflects no-ops. Default: 0.
	From int64
	// BatchSize is the events per catalog.Apply call. Default: 5,000.
	BatchSize int
	// Progress, when set, is called after each batch.
	Progress func(ReplayProgress)
}

// ReplayProgress is where a replay stands.
type ReplayProgress struct {
	FromSeq, ToSeq int64 // the seq range being replayed
	Seq            int64 // the last seq re-applied
	Events         int64
	Batches        int
	Reset          int64 // SKUs reset before a rebuild (From == 0)
	Recreated      int   // SKUs that had events but no row, created again (new ordinals)
	Stale          int   // events older than the state they met: no-ops
	QueuedEmbeds   int64 // SKUs left in embed_queue whose vector is not current
	Elapsed        time.Duration
}

// ErrPruned: a full replay cannot run, since retention pruned the oldest events.
var ErrPruned = errors.New("events pruned")

// ReplayResult is what a replay did.
type ReplayResult = ReplayProgress

// Replay rebuilds skus from sku_events in one transaction: readers see the old state until it
// commits, ingest writers wait for it (the skus table is locked against writes), and a failure
// changes nothing. Events are decoded and applied with the same code as live ingest, in seq
// order, so a rebuild gives the table live ingest gave, ordinals included (rows are reset, never
// dropped). Re-applying text re-queues embeddings; afterwards the queue keeps only the SKUs whose
// stored vector does not match their text (or that were deleted and still have a vector).
func Replay(ctx context.Context, pool *pgxpool.Pool, cfg ReplayConfig) (ReplayResult, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	var res ReplayResult
	if cfg.From < 0 {
		return res, fmt.Errorf("replay: negative seq %d", cfg.From)
	}
	start := time.Now()
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		// Lock before the snapshot: writers wait, so no event commits behind the replay's back.
		if _, err := tx.Exec(ctx, `LOCK TABLE skus IN EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("replay: lock skus: %w", err)
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM sku_events WHERE seq >= $1`,
			cfg.From).Scan(&res.FromSeq, &res.ToSeq); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		var through int64
		var at time.Time
		err := tx.QueryRow(ctx, `SELECT pruned_through, pruned_at FROM event_retention`).Scan(&through, &at)
		switch {
		case err == nil && cfg.From <= through:
			return fmt.Errorf("replay: %w: events through seq %d were pruned (retention, %s), so a replay from %d would lose what they set: replay --from a later seq over skus restored from a backup taken just before it",
				ErrPruned, through, at.Format(time.RFC3339), cfg.From)
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("replay: %w", err)
		}
		if cfg.From == 0 {
			tag, err := tx.Exec(ctx, resetSQL)
			if err != nil {
				return fmt.Errorf("replay: reset skus: %w", err)
			}
			res.Reset = tag.RowsAffected()
		}
		var before int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM skus`).Scan(&before); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		last := cfg.From - 1
		for {
			batch, err := readEvents(ctx, tx, last, cfg.BatchSize)
			if err != nil {
				return err
			}
			if len(batch) == 0 {
				break
			}
			patches := make([]catalog.Patch, len(batch))
			for i := range batch {
				patches[i] = batch[i].Patch
			}
			cres, err := catalog.Apply(ctx, tx, patches)
			if err != nil {
				return fmt.Errorf("replay: apply events %d..%d: %w", batch[0].seq, batch[len(batch)-1].seq, err)
			}
			last = batch[len(batch)-1].seq
			res.Seq, res.Events, res.Batches = last, res.Events+int64(len(batch)), res.Batches+1
			res.Stale += cres.Stale
			res.Elapsed = time.Since(start)
			if cfg.Progress != nil {
				cfg.Progress(res)
			}
		}
		var after int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM skus`).Scan(&after); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		res.Recreated = int(after - before)
		// Text that came back unchanged needs no new embedding, and a deleted SKU without a
		// vector has none to remove.
		if _, err := tx.Exec(ctx, `DELETE FROM embed_queue q USING skus s
			WHERE q.sku_id = s.id AND CASE WHEN s.live
				THEN EXISTS (SELECT 1 FROM sku_vectors v WHERE v.sku_id = s.id AND v.content_hash = s.content_hash)
				ELSE NOT EXISTS (SELECT 1 FROM sku_vectors v WHERE v.sku_id = s.id) END`); err != nil {
			return fmt.Errorf("replay: trim embed_queue: %w", err)
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM embed_queue`).Scan(&res.QueuedEmbeds)
	})
	res.Elapsed = time.Since(start)
	return res, err
}

// resetSQL empties every SKU that has events: the state a row has before its first event (as
// catalog.Apply inserts it), keeping id, ordinal and created_at.
const resetSQL = `UPDATE skus SET market = 'ALL', title = '', description = '', brand = '', category = '',
	product_type = '', attributes = '{}', released_at = NULL, content_at = '-infinity',
	currency = '', price = 0, list_price = 0, price_at = '-infinity', stock = 0, stock_at = '-infinity',
	sales_1h = 0, sales_24h = 0, sales_7d = 0, gmv_1h = 0, gmv_24h = 0, gmv_7d = 0,
	views_1h = 0, views_24h = 0, views_7d = 0, rating = 0, rating_count = 0, metrics_at = '-infinity',
	deleted_at = NULL, updated_at = now()
WHERE id IN (SELECT DISTINCT sku_id FROM sku_events)`

type storedEvent struct {
	Decoded
	seq int64
}

func readEvents(ctx context.Context, tx pgx.Tx, after int64, limit int) ([]storedEvent, error) {
	rows, err := tx.Query(ctx, `SELECT seq, event_id, kind, sku_id, market, payload, event_time
		FROM sku_events WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("replay: read events: %w", err)
	}
	defer rows.Close()
	var out []storedEvent
	for rows.Next() {
		var s storedEvent
		var kind string
		var payload []byte
		if err := rows.Scan(&s.seq, &s.EventID, &kind, &s.SKUID, &s.Market, &payload, &s.EventTime); err != nil {
			return nil, fmt.Errorf("replay: read events: %w", err)
		}
		s.V, s.Kind = SchemaVersion, Kind(kind)
		if len(payload) > 0 && string(payload) != "{}" || s.Kind != KindDelete {
			s.Data = json.RawMessage(payload)
		}
		s.EventTime = s.EventTime.UTC()
		if err := s.Decoded.buildPatch(); err != nil {
			return nil, fmt.Errorf("replay: event %d (%s) no longer decodes: %w", s.seq, s.EventID, err)
		}
		if err := s.Patch.Validate(); err != nil {
			return nil, fmt.Errorf("replay: event %d (%s): %w", s.seq, s.EventID, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replay: read events: %w", err)
	}
	return out, nil
}

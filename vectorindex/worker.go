package vectorindex

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/catalog"
	"selection/embed"
	"selection/internal/poll"
)

// WorkerConfig tunes a Worker. Zero fields take the defaults stated on each.
type WorkerConfig struct {
	// BatchSize is how many queued SKUs one transaction takes. Default: 128 (about 0.3-1 s of
	// USE-Lite work on two cores: short enough to hold row locks, long enough that the model
	// runs full batches of 32 on every core).
	BatchSize int
	// Idle is how long the loop started by Start waits when the queue is empty. Default: 1s.
	Idle time.Duration
	// RetryBackoff is the wait after a failed batch (doubling up to 30 s). Default: 1s.
	RetryBackoff time.Duration
	// Logger receives batch failures. Default: slog.Default().
	Logger *slog.Logger
}

// WithDefaults fills zero fields with their defaults.
func (c WorkerConfig) WithDefaults() WorkerConfig {
	if c.BatchSize == 0 {
		c.BatchSize = 128
	}
	if c.Idle == 0 {
		c.Idle = time.Second
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c WorkerConfig) validate() error {
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		return fmt.Errorf("vectorindex: BatchSize %d outside 1..10000", c.BatchSize)
	}
	if c.Idle < 0 || c.RetryBackoff < 0 {
		return errors.New("vectorindex: negative Idle or RetryBackoff")
	}
	return nil
}

// Metrics are the embedding worker's counters, for /metrics (all monotonic except LastBatch).
type Metrics struct {
	Batches  atomic.Int64 // committed batches
	Embedded atomic.Int64 // vectors written
	Removed  atomic.Int64 // vectors removed because their SKU is deleted or gone
	Rejected atomic.Int64 // embeddings the store refused (wrong dimension, NaN, zero); dequeued
	Failures atomic.Int64 // batches rolled back (embedder or database error)
	// LastBatch is the unix-nano time of the last committed batch.
	LastBatch atomic.Int64
}

// BatchResult says what one batch did.
type BatchResult struct {
	Taken    int // queue rows locked
	Embedded int
	Removed  int
	Rejected []Rejected
	Dequeued int // queue rows deleted (a row re-queued with new text meanwhile stays)
}

// Worker drains embed_queue: it embeds the current text of queued SKUs and writes sku_vectors,
// or removes the vector of a SKU that is no longer live. Several workers (replicas) can share
// the queue. See doc.go for the transaction.
type Worker struct {
	pool    *pgxpool.Pool
	emb     embed.Embedder
	cfg     WorkerConfig
	metrics *Metrics

	loop poll.Loop
}

// NewWorker returns a worker that embeds with e (wrap it with embed.NewCached to use the
// embedding cache) and counts into m (nil: a Metrics of its own).
func NewWorker(pool *pgxpool.Pool, e embed.Embedder, m *Metrics, cfg WorkerConfig) (*Worker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if pool == nil || e == nil {
		return nil, errors.New("vectorindex: a worker needs a pool and an embedder")
	}
	if m == nil {
		m = &Metrics{}
	}
	return &Worker{pool: pool, emb: e, cfg: cfg, metrics: m, loop: poll.Loop{
		Name: "vectorindex: embedding batch", Every: cfg.Idle, Retry: cfg.RetryBackoff, MaxRetry: 30 * time.Second,
		Immediate: true, Graceful: true, Logger: cfg.Logger}}, nil
}

// Metrics returns the worker's counters.
func (w *Worker) Metrics() *Metrics { return w.metrics }

type queued struct {
	id   int64
	hash []byte
}

// RunBatch processes up to BatchSize queued SKUs in one transaction:
//
//  1. lock the oldest queue rows (FOR UPDATE SKIP LOCKED: other workers take others) together
//     with their SKU rows (FOR KEY SHARE SKIP LOCKED) and read the SKUs' current text and
//     content hash (a row updated meanwhile is re-read at its newest version);
//  2. embed the live ones' catalog.EmbedText and upsert their vectors with that hash; remove
//     the vectors of SKUs that are not live;
//  3. delete the queue rows whose hash is still the one locked. A catalogue change to one of
//     these SKUs waits for this transaction (our lock on its SKU row) and then re-queues it
//     with the new hash, so a newer text is never lost.
//
// A failure rolls everything back; the rows stay queued.
func (w *Worker) RunBatch(ctx context.Context) (BatchResult, error) {
	var res BatchResult
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		res = BatchResult{}
		q, skus, err := w.lockBatch(ctx, tx)
		if err != nil {
			return err
		}
		res.Taken = len(q)
		if len(q) == 0 {
			res.Dequeued, err = dropOrphans(ctx, tx)
			return err
		}
		var gone []int64
		if res.Embedded, res.Rejected, gone, err = w.embedLive(ctx, tx, q, skus); err != nil {
			return err
		}
		if res.Removed, err = DeleteTx(ctx, tx, gone); err != nil {
			return err
		}
		res.Dequeued, err = dequeue(ctx, tx, q)
		return err
	})
	if err != nil {
		w.metrics.Failures.Add(1)
		return res, fmt.Errorf("vectorindex: embedding batch: %w", err)
	}
	w.count(res)
	return res, nil
}

// lockedSKU is a queued SKU's row as the batch locked it.
type lockedSKU struct {
	live bool
	hash []byte
	text string
}

// lockBatch locks up to BatchSize queue rows, oldest first, with their SKU rows, and reads the
// SKUs' liveness, content hash and embedding text.
func (w *Worker) lockBatch(ctx context.Context, tx pgx.Tx) ([]queued, map[int64]lockedSKU, error) {
	// One statement locks the queue rows and their SKU rows, skipping any another
	// transaction holds: a catalogue update holds its SKU row (FOR UPDATE) before it
	// re-queues, so waiting here could deadlock with it; holding the SKU row (KEY SHARE,
	// which the sku_vectors foreign key needs anyway) makes such an update wait for us.
	rows, err := tx.Query(ctx, `SELECT q.sku_id, q.content_hash, s.live, s.content_hash,
			s.title, s.brand, s.product_type, s.description
		FROM embed_queue q JOIN skus s ON s.id = q.sku_id
		ORDER BY q.enqueued_at, q.sku_id LIMIT $1
		FOR UPDATE OF q SKIP LOCKED FOR KEY SHARE OF s SKIP LOCKED`, w.cfg.BatchSize)
	if err != nil {
		return nil, nil, fmt.Errorf("lock queue rows: %w", err)
	}
	var q []queued
	skus := map[int64]lockedSKU{}
	for rows.Next() {
		var e queued
		var s lockedSKU
		var title, brand, ptype, desc string
		if err := rows.Scan(&e.id, &e.hash, &s.live, &s.hash, &title, &brand, &ptype, &desc); err != nil {
			rows.Close()
			return nil, nil, err
		}
		s.text = catalog.EmbedText(title, brand, ptype, desc)
		q = append(q, e)
		skus[e.id] = s
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("lock queue rows: %w", err)
	}
	return q, skus, nil
}

// dropOrphans deletes, when the queue looks idle, the entries whose SKU row is gone (they
// cannot join in lockBatch) and returns how many.
func dropOrphans(ctx context.Context, tx pgx.Tx) (int, error) {
	tag, err := tx.Exec(ctx, `DELETE FROM embed_queue q WHERE NOT EXISTS (SELECT 1 FROM skus s WHERE s.id = q.sku_id)`)
	if err != nil {
		return 0, fmt.Errorf("drop orphaned queue rows: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// embedLive embeds the texts of the live SKUs of q and upserts their vectors; it returns how
// many were written, the ones the store refused (logged) and the SKUs that are not live.
func (w *Worker) embedLive(ctx context.Context, tx pgx.Tx, q []queued, skus map[int64]lockedSKU) (written int, rejected []Rejected, gone []int64, err error) {
	var embedIDs []int64
	var texts []string
	for _, e := range q {
		if s := skus[e.id]; s.live {
			embedIDs = append(embedIDs, e.id)
			texts = append(texts, s.text)
		} else {
			gone = append(gone, e.id)
		}
	}
	if len(texts) == 0 {
		return 0, nil, gone, nil
	}
	vecs, err := w.emb.EmbedDocuments(ctx, texts)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("embed %d texts with %s: %w", len(texts), w.emb.Name(), err)
	}
	if len(vecs) != len(texts) {
		return 0, nil, nil, fmt.Errorf("embedder %s returned %d vectors for %d texts", w.emb.Name(), len(vecs), len(texts))
	}
	batch := make([]Vector, len(texts))
	for i, id := range embedIDs {
		batch[i] = Vector{SKUID: id, Model: w.emb.Name(), ContentHash: skus[id].hash, Embedding: vecs[i]}
	}
	up, err := UpsertTx(ctx, tx, batch)
	if err != nil {
		return 0, nil, nil, err
	}
	for _, r := range up.Rejected {
		w.cfg.Logger.Error("vectorindex: embedding refused; the SKU stays without a vector until its text changes",
			"sku", r.SKUID, "reason", r.Reason)
	}
	return up.Written, up.Rejected, gone, nil
}

// dequeue deletes the queue rows of q whose hash is still the one locked (a row re-queued with
// a newer text stays) and returns how many.
func dequeue(ctx context.Context, tx pgx.Tx, q []queued) (int, error) {
	ids := make([]int64, 0, len(q))
	hashes := make([][]byte, 0, len(q))
	for _, e := range q {
		ids, hashes = append(ids, e.id), append(hashes, e.hash)
	}
	tag, err := tx.Exec(ctx, `DELETE FROM embed_queue q USING unnest($1::bigint[], $2::bytea[]) AS d(id, h)
		WHERE q.sku_id = d.id AND q.content_hash = d.h`, ids, hashes)
	if err != nil {
		return 0, fmt.Errorf("dequeue: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// count adds a committed batch to the metrics (an empty one counts nothing).
func (w *Worker) count(res BatchResult) {
	if res.Taken == 0 {
		return
	}
	w.metrics.Batches.Add(1)
	w.metrics.Embedded.Add(int64(res.Embedded))
	w.metrics.Removed.Add(int64(res.Removed))
	w.metrics.Rejected.Add(int64(len(res.Rejected)))
	w.metrics.LastBatch.Store(time.Now().UnixNano())
}

// DrainResult totals a Drain.
type DrainResult struct {
	Batches, Embedded, Removed, Rejected int
	Elapsed                              time.Duration
}

// Drain runs batches until the queue is empty (for this worker: rows other workers hold are
// skipped) or ctx ends. progress, when not nil, is called after each batch with the rows done
// so far and the backlog at the start plus what was done beyond it.
func (w *Worker) Drain(ctx context.Context, progress func(done, total int64)) (DrainResult, error) {
	start := time.Now()
	var out DrainResult
	b, err := QueueBacklog(ctx, w.pool)
	if err != nil {
		return out, err
	}
	total := b.Count
	var done int64
	for {
		res, err := w.RunBatch(ctx)
		if err != nil {
			out.Elapsed = time.Since(start)
			return out, err
		}
		if res.Taken == 0 {
			break
		}
		out.Batches++
		out.Embedded += res.Embedded
		out.Removed += res.Removed
		out.Rejected += len(res.Rejected)
		done += int64(res.Taken)
		total = max(total, done)
		if progress != nil {
			progress(done, total)
		}
	}
	out.Elapsed = time.Since(start)
	return out, nil
}

// Start runs batches in the background until Stop or until ctx ends, waiting Idle when the
// queue is empty and backing off after failures. It is idempotent.
func (w *Worker) Start(ctx context.Context) error {
	w.loop.Start(ctx, func(ctx context.Context) error {
		res, err := w.RunBatch(ctx)
		if err == nil && res.Taken > 0 {
			return poll.More
		}
		return err
	})
	return nil
}

// Stop lets the batch in flight commit and ends the loop; if ctx ends first, the batch is
// canceled (its transaction rolls back, its rows stay queued). It is idempotent.
func (w *Worker) Stop(ctx context.Context) error {
	return w.loop.Stop(ctx)
}

// Backlog is the embedding queue's size and the age of its oldest entry.
type Backlog struct {
	Count     int64
	OldestAge time.Duration
}

// QueueBacklog reads the embedding backlog: SKUs whose text changed (catalog.Apply queues
// them; price, stock and metrics events never do) and that wait for the worker. It is the one
// read of embed_queue's size: the CLI's status lines and /metrics
// (selection_embedding_backlog_skus, selection_embedding_backlog_age_seconds) use it.
func QueueBacklog(ctx context.Context, db DBTX) (Backlog, error) {
	var b Backlog
	var age *float64
	err := db.QueryRow(ctx, `SELECT count(*), extract(epoch FROM now() - min(enqueued_at))::float8 FROM embed_queue`).
		Scan(&b.Count, &age)
	if err != nil {
		return b, fmt.Errorf("vectorindex: embedding backlog: %w", err)
	}
	if age != nil {
		b.OldestAge = time.Duration(*age * float64(time.Second))
	}
	return b, nil
}

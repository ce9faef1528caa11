package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/catalog"
)

// Tier is the freshness tier a record arrived through, recorded in sku_events.tier.
type Tier string

// The freshness tiers: daily batch files (T+1 day), hourly files (T+1 hour), real-time streams.
const (
	TierBatch    Tier = "batch"
	TierHourly   Tier = "hourly"
	TierRealtime Tier = "realtime"
)

// ParseTier reads a tier name.
func ParseTier(s string) (Tier, error) {
	switch t := Tier(s); t {
	case TierBatch, TierHourly, TierRealtime:
		return t, nil
	}
	return "", fmt.Errorf("unknown tier %q (batch, hourly or realtime)", s)
}

// Record is one input record on its way to the database: a decoded event, or (Err set) a
// record that could not be decoded or failed validation and becomes a dead letter.
type Record struct {
	// Source names the record exactly: kafka:<topic>/<partition>/<offset> or file:<path>:<line>.
	Source string
	Event  Decoded
	Err    error

	// Where a Kafka record came from and its bytes, kept for dead letters.
	Topic     string
	Partition int32 // -1 for files
	Offset    int64 // -1 for files
	Key       []byte
	Value     []byte
}

// Reject makes a dead-letter record.
func Reject(source string, value []byte, err error) Record {
	return Record{Source: source, Err: err, Partition: -1, Offset: -1, Value: value}
}

// BatchResult says what one batch did.
type BatchResult struct {
	Applied     []int // indexes of records newly written to sku_events and applied
	Duplicates  int   // events already recorded (or repeated within the batch): no-ops
	DeadLetters int   // records written to dead_letters
	Catalog     catalog.ApplyResult
	CommittedAt time.Time // set by Writer after the commit
}

// eventStageDDL prepares the transaction: the stage table, and enough work_mem for the
// catalogue's joins of a whole batch to stay in memory (the default 4 MB spills 20,000-row
// batches to temporary files; measured about 10% of catalog.Apply's time).
const eventStageDDL = `SET LOCAL work_mem = '64MB';
CREATE TEMP TABLE IF NOT EXISTS ingest_event_stage (
	n integer, event_id text, kind text, sku_id bigint, market text, payload jsonb, source text,
	event_time timestamptz
) ON COMMIT DELETE ROWS`

var eventStageCols = []string{"n", "event_id", "kind", "sku_id", "market", "payload", "source", "event_time"}

var emptyObject = json.RawMessage("{}")

// ApplyBatch is the one apply path of Kafka, files and replay. Inside tx (the caller commits) it
// appends the batch's valid events to sku_events through a COPY into a temporary stage and one
// INSERT ... ON CONFLICT (event_id) DO NOTHING, so an event id seen before is a no-op; applies
// the newly recorded events to skus in order with catalog.Apply (event-time guards; text changes
// queue embeddings); and records the rejected records in dead_letters (a dead letter seen before,
// by source and, outside Kafka, the digest of its bytes, is a no-op too: see deadLetterSource). Events repeated within the batch count once.
func ApplyBatch(ctx context.Context, tx pgx.Tx, tier Tier, recs []Record) (BatchResult, error) {
	var res BatchResult
	if _, err := ParseTier(string(tier)); err != nil {
		return res, err
	}
	// Valid events, first occurrence of each id only.
	valid := make([]int, 0, len(recs))
	seen := make(map[string]struct{}, len(recs))
	var dead []int
	for i := range recs {
		if recs[i].Err != nil {
			dead = append(dead, i)
			continue
		}
		if _, dup := seen[recs[i].Event.EventID]; dup {
			res.Duplicates++
			continue
		}
		seen[recs[i].Event.EventID] = struct{}{}
		valid = append(valid, i)
	}

	if len(valid) > 0 {
		if _, err := tx.Exec(ctx, eventStageDDL); err != nil {
			return res, fmt.Errorf("create event stage: %w", err)
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"ingest_event_stage"}, eventStageCols,
			pgx.CopyFromSlice(len(valid), func(j int) ([]any, error) {
				r := &recs[valid[j]]
				e := &r.Event
				payload := e.Data
				if len(payload) == 0 {
					payload = emptyObject
				}
				return []any{int32(j), e.EventID, string(e.Kind), e.SKUID, e.Market, payload, r.Source, e.EventTime}, nil
			}))
		if err != nil {
			return res, fmt.Errorf("copy events to stage: %w", err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO sku_events (event_id, kind, sku_id, market, payload, source, tier, event_time)
			SELECT event_id, kind, sku_id, market, payload, source, $1, event_time FROM ingest_event_stage ORDER BY n
			ON CONFLICT (event_id) DO NOTHING`, string(tier))
		if err != nil {
			return res, fmt.Errorf("append to sku_events: %w", err)
		}
		fresh := valid
		if n := int(tag.RowsAffected()); n < len(valid) {
			// Some ids were recorded before: find the rows this transaction wrote.
			fresh, err = insertedHere(ctx, tx, valid, n)
			if err != nil {
				return res, err
			}
		}
		res.Duplicates += len(valid) - len(fresh)
		res.Applied = fresh
		if len(fresh) > 0 {
			patches := make([]catalog.Patch, len(fresh))
			for j, i := range fresh {
				patches[j] = recs[i].Event.Patch
			}
			cres, err := catalog.Apply(ctx, tx, patches)
			if err != nil {
				return res, fmt.Errorf("apply to skus: %w", err)
			}
			res.Catalog = cres
		}
	}

	if len(dead) > 0 {
		n, err := insertDeadLetters(ctx, tx, recs, dead)
		if err != nil {
			return res, err
		}
		res.DeadLetters = n
	}
	return res, nil
}

// insertedHere returns the indexes (from valid) whose event this transaction inserted.
func insertedHere(ctx context.Context, tx pgx.Tx, valid []int, want int) ([]int, error) {
	rows, err := tx.Query(ctx, `SELECT st.n FROM ingest_event_stage st
		JOIN sku_events e ON e.event_id = st.event_id
		WHERE e.xid = pg_current_xact_id() ORDER BY st.n`)
	if err != nil {
		return nil, fmt.Errorf("find new events: %w", err)
	}
	ns, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, fmt.Errorf("find new events: %w", err)
	}
	if len(ns) != want {
		return nil, fmt.Errorf("find new events: %d rows inserted but %d found", want, len(ns))
	}
	out := make([]int, len(ns))
	for j, n := range ns {
		out[j] = valid[n]
	}
	return out, nil
}

func insertDeadLetters(ctx context.Context, tx pgx.Tx, recs []Record, dead []int) (int, error) {
	n := len(dead)
	sources, topics, reasons := make([]string, n), make([]string, n), make([]string, n)
	parts, offsets := make([]int32, n), make([]int64, n)
	keys, values := make([][]byte, n), make([][]byte, n)
	for j, i := range dead {
		r := &recs[i]
		sources[j], topics[j], reasons[j] = deadLetterSource(r), r.Topic, truncate(r.Err.Error(), maxReasonBytes)
		parts[j], offsets[j], keys[j], values[j] = r.Partition, r.Offset, r.Key, r.Value
		if r.Topic == "" && r.Partition == 0 && r.Offset == 0 {
			parts[j], offsets[j] = -1, -1
		}
	}
	tag, err := tx.Exec(ctx, `INSERT INTO dead_letters (source, topic, partition, "offset", key, value, reason)
		SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::bytea[], $6::bytea[], $7::text[])
		ON CONFLICT (source) DO NOTHING`, sources, topics, parts, offsets, keys, values, reasons)
	if err != nil {
		return 0, fmt.Errorf("record dead letters: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// deadLetterSource is a dead letter's key in dead_letters (unique: a dead letter seen before is
// a no-op). A Kafka record's source names it exactly: its offset holds the same bytes forever.
// Any other source (file:<path>:<line>) names only a place that a corrected file of the same
// name fills with other bytes, so the key adds a digest of the rejected bytes (of the reason
// when there are none): reloading the same file records nothing new, while a corrected file's
// new dead letters are kept.
func deadLetterSource(r *Record) string {
	if r.Topic != "" {
		return r.Source
	}
	h := sha256.New()
	if len(r.Value) > 0 {
		h.Write(r.Value)
	} else {
		h.Write([]byte(r.Err.Error()))
	}
	return r.Source + "#" + hex.EncodeToString(h.Sum(nil)[:8])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// WriterConfig tunes a Writer.
type WriterConfig struct {
	// RetryMin is the first backoff after a failed attempt. Default: 100ms.
	RetryMin time.Duration
	// RetryMax caps the backoff, which doubles per attempt with jitter. Default: 5s.
	RetryMax time.Duration
	// MaxAttempts bounds the attempts per batch; 0 retries until the context ends (what a
	// consumer wants: it must not skip a batch). Default: 0.
	MaxAttempts int
	// Logger receives retry warnings. Default: slog.Default().
	Logger *slog.Logger
	// Metrics counts batches, events, dead letters and retries. Default: none.
	Metrics *Metrics
	// MetricsSource labels dead letters in Metrics ("kafka" or "file"). Default: "file".
	MetricsSource string

	// beforeCommit, in tests, runs inside the transaction after the batch was applied.
	beforeCommit func(ctx context.Context) error
}

// WithDefaults fills zero fields with their defaults.
func (c WriterConfig) WithDefaults() WriterConfig {
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MetricsSource == "" {
		c.MetricsSource = "file"
	}
	return c
}

func (c WriterConfig) validate() error {
	if c.RetryMax < c.RetryMin {
		return fmt.Errorf("ingest: RetryMax %v is below RetryMin %v", c.RetryMax, c.RetryMin)
	}
	if c.MaxAttempts < 0 {
		return errors.New("ingest: MaxAttempts is negative")
	}
	return nil
}

// Writer commits batches through ApplyBatch, one transaction each, retrying failures that
// may pass (a lost connection, a restarting server, a deadlock) with exponential backoff. When
// the database rejects a batch because of its data (SQLSTATE classes 22 and 23: a value the
// schema refuses), the batch is applied record by record under savepoints, and the records the
// database refuses become dead letters, so one bad record never blocks the rest.
type Writer struct {
	pool *pgxpool.Pool
	cfg  WriterConfig
}

// NewWriter returns a Writer over pool.
func NewWriter(pool *pgxpool.Pool, cfg WriterConfig) (*Writer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Writer{pool: pool, cfg: cfg}, nil
}

// Write commits one batch and returns what it did, retrying as described on Writer. It fails
// only when ctx ends, MaxAttempts runs out, or the error cannot pass by retrying (a missing
// table: run the migrations). A cancellation that arrives once the batch's statements have run
// does not abort its COMMIT: the commit finishes and Write reports it, so what Write returns is
// what the database holds.
func (w *Writer) Write(ctx context.Context, tier Tier, recs []Record) (BatchResult, error) {
	backoff := w.cfg.RetryMin
	isolate := false
	for attempt := 1; ; attempt++ {
		res, err := w.attempt(ctx, tier, recs, isolate)
		if err == nil {
			w.cfg.Metrics.committed(tier, recs, &res, w.cfg.MetricsSource)
			return res, nil
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		switch {
		case isDataError(err) && !isolate:
			w.cfg.Logger.Warn("ingest: the database rejected a batch; applying it record by record",
				"records", len(recs), "err", err)
			isolate = true
			attempt--
			continue
		case !isRetryable(err):
			return res, err
		case w.cfg.MaxAttempts > 0 && attempt >= w.cfg.MaxAttempts:
			return res, fmt.Errorf("ingest: giving up after %d attempts: %w", attempt, err)
		}
		w.cfg.Metrics.retried()
		sleep := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
		w.cfg.Logger.Warn("ingest: database write failed; retrying", "attempt", attempt, "in", sleep.Round(time.Millisecond), "err", err)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, w.cfg.RetryMax)
	}
}

func (w *Writer) attempt(ctx context.Context, tier Tier, recs []Record, isolate bool) (BatchResult, error) {
	var res BatchResult
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	if isolate {
		res, err = applyIsolated(ctx, tx, tier, recs)
	} else {
		res, err = ApplyBatch(ctx, tx, tier, recs)
	}
	if err != nil {
		return res, err
	}
	if w.cfg.beforeCommit != nil {
		if err := w.cfg.beforeCommit(ctx); err != nil {
			return res, err
		}
	}
	// From here on the outcome is what counts. A cancellation that reached a COMMIT on the wire
	// would leave the batch committed while the caller is told it failed: a consumer stopping
	// mid-commit would not count its events, and the partition's next owner would find them
	// recorded and count them as duplicates. So once the batch's statements have run, the
	// commit runs to its end (bounded by commitTimeout) whatever happens to ctx; a cancellation
	// that interrupts a statement still rolls the batch back.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	err = tx.Commit(cctx)
	cancel()
	if err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	res.CommittedAt = time.Now()
	return res, nil
}

// commitTimeout bounds a COMMIT, which ignores the caller's cancellation (see Writer.attempt).
// A commit takes milliseconds (one WAL flush); the bound only matters when the server stops
// answering, and stays well inside the 30 s a consumer's Run gives Stop.
const commitTimeout = 10 * time.Second

// applyIsolated applies records one at a time under savepoints; a record the database refuses
// becomes a dead letter. It is the slow path after a data error.
func applyIsolated(ctx context.Context, tx pgx.Tx, tier Tier, recs []Record) (BatchResult, error) {
	var res BatchResult
	for i := range recs {
		sp, err := tx.Begin(ctx)
		if err != nil {
			return res, fmt.Errorf("savepoint: %w", err)
		}
		one := recs[i : i+1]
		r, err := ApplyBatch(ctx, sp, tier, one)
		if err != nil {
			if !isDataError(err) {
				return res, err
			}
			if rerr := sp.Rollback(ctx); rerr != nil {
				return res, fmt.Errorf("rollback to savepoint: %w", rerr)
			}
			bad := recs[i]
			bad.Err = fmt.Errorf("rejected by the database: %w", err)
			if bad.Partition == 0 && bad.Topic == "" {
				bad.Partition, bad.Offset = -1, -1
			}
			if bad.Value == nil {
				bad.Value, _ = bad.Event.Marshal()
			}
			recs[i] = bad
			if r, err = ApplyBatch(ctx, tx, tier, recs[i:i+1]); err != nil {
				return res, err
			}
			res.DeadLetters += r.DeadLetters
			continue
		}
		if err := sp.Commit(ctx); err != nil {
			return res, fmt.Errorf("release savepoint: %w", err)
		}
		for range r.Applied {
			res.Applied = append(res.Applied, i)
		}
		res.Duplicates += r.Duplicates
		res.DeadLetters += r.DeadLetters
		res.Catalog.Inserted += r.Catalog.Inserted
		res.Catalog.Updated += r.Catalog.Updated
		res.Catalog.Stale += r.Catalog.Stale
		res.Catalog.TextChanged = append(res.Catalog.TextChanged, r.Catalog.TextChanged...)
	}
	return res, nil
}

// isDataError reports a batch the database refuses because of a value in it (SQLSTATE class
// 22, data exception, or 23, integrity constraint violation).
func isDataError(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23")
	}
	var ve *ValidationError
	return errors.As(err, &ve)
}

// isRetryable reports failures that may pass: anything but a programming or schema error
// (SQLSTATE class 42: undefined table or column, syntax) and a canceled context. Write has
// checked its own context first, so a deadline met here is an inner one, a connect timeout
// against a server too busy to answer: that passes like any outage.
func isRetryable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return !strings.HasPrefix(pe.Code, "42") && !strings.HasPrefix(pe.Code, "0A")
	}
	// Connection failures come in many shapes (net.Error, io.EOF, pgconn.ConnectError, a closed
	// pool connection): all of them may pass.
	return true
}

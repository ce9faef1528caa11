package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/internal/pg"
	"selection/internal/testdb"
	"selection/vectorindex"
)

// ev builds a decoded event record (it must be valid).
func ev(t testing.TB, id string, kind Kind, sku int64, at time.Time, data any) Record {
	t.Helper()
	e, err := NewEvent(id, kind, sku, "SG", at, data)
	require.NoError(t, err)
	b, err := e.Marshal()
	require.NoError(t, err)
	d, err := DecodeEvent(b, DecodeOptions{MaxSkew: -1})
	require.NoError(t, err, "%s", b)
	return Record{Source: "test:" + id, Event: d, Partition: -1, Offset: -1}
}

func ptr[T any](v T) *T { return &v }

func writeBatch(t testing.TB, pool interface {
	Begin(context.Context) (pgx.Tx, error)
}, tier Tier, recs []Record) BatchResult {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	res, err := ApplyBatch(ctx, tx, tier, recs)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	return res
}

func TestApplyBatch(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	t0 := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	recs := []Record{
		ev(t, "u1", KindUpsert, 10, t0, UpsertData{Title: ptr("Gaming mouse"), Brand: ptr("Logi"), Price: ptr(int64(1999)), Currency: ptr("SGD"), Stock: ptr(int64(5))}),
		ev(t, "u2", KindUpsert, 11, t0, UpsertData{Title: ptr("Keyboard"), Price: ptr(int64(4999)), Currency: ptr("SGD")}),
		ev(t, "p1", KindPrice, 10, t0.Add(time.Minute), PriceData{Price: 1799}),
		ev(t, "p1", KindPrice, 10, t0.Add(time.Minute), PriceData{Price: 1799}), // repeated in the batch
		Reject("test:bad", []byte(`{"v":1`), &ValidationError{Reason: "malformed JSON"}),
		ev(t, "s1", KindStock, 11, t0.Add(time.Minute), StockData{Stock: 3}),
	}
	res := writeBatch(t, db.Pool, TierHourly, recs)
	require.Equal(t, []int{0, 1, 2, 5}, res.Applied)
	require.Equal(t, 1, res.Duplicates)
	require.Equal(t, 1, res.DeadLetters)
	require.Equal(t, 2, res.Catalog.Inserted)
	require.ElementsMatch(t, []int64{10, 11}, res.Catalog.TextChanged)

	store := catalog.NewStore(db.Pool)
	k, err := store.Get(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, int64(1799), k.Price)
	require.Equal(t, int64(5), k.Stock)
	require.Equal(t, "Gaming mouse", k.Title)
	require.Equal(t, "SG", k.Market)

	var n int
	var tiers string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*), string_agg(DISTINCT tier, ',') FROM sku_events`).Scan(&n, &tiers))
	require.Equal(t, 4, n)
	require.Equal(t, "hourly", tiers)
	var src string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT source FROM sku_events WHERE event_id = 'p1'`).Scan(&src))
	require.Equal(t, "test:p1", src)

	// The same batch again: every event is a duplicate, the dead letter is not recorded twice.
	res = writeBatch(t, db.Pool, TierHourly, recs)
	require.Empty(t, res.Applied)
	require.Equal(t, 5, res.Duplicates)
	require.Equal(t, 0, res.DeadLetters)

	// A mix of old and new events: only the new ones are applied, in order.
	res = writeBatch(t, db.Pool, TierRealtime, []Record{
		recs[2],
		ev(t, "p2", KindPrice, 10, t0.Add(2*time.Minute), PriceData{Price: 1500}),
		recs[0],
		ev(t, "p3", KindPrice, 11, t0.Add(-time.Hour), PriceData{Price: 1}), // stale: older than the stored price
	})
	require.Equal(t, []int{1, 3}, res.Applied)
	require.Equal(t, 2, res.Duplicates)
	require.Equal(t, 1, res.Catalog.Stale)
	k, err = store.Get(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, int64(1500), k.Price)
	k, err = store.Get(ctx, 11)
	require.NoError(t, err)
	require.Equal(t, int64(4999), k.Price, "an older event never overwrites a newer one")

	var dl int
	var reason string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*), max(reason) FROM dead_letters`).Scan(&dl, &reason))
	require.Equal(t, 1, dl)
	require.Contains(t, reason, "malformed JSON")

	b, err := vectorindex.QueueBacklog(ctx, db.Pool)
	require.NoError(t, err)
	require.Equal(t, int64(2), b.Count, "two new SKUs wait for the model; price and stock never queue")
	require.Greater(t, b.OldestAge, time.Duration(0))
}

func TestWriterIsolatesRecordsTheDatabaseRefuses(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	// A constraint the decoder does not know about stands in for any value the schema refuses.
	_, err := db.Pool.Exec(ctx, `ALTER TABLE skus ADD CONSTRAINT stock_cap CHECK (stock < 1000000)`)
	require.NoError(t, err)
	m := NewMetrics()
	w, err := NewWriter(db.Pool, WriterConfig{Metrics: m})
	require.NoError(t, err)
	t0 := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	recs := []Record{
		ev(t, "a", KindUpsert, 1, t0, UpsertData{Title: ptr("A"), Stock: ptr(int64(1))}),
		ev(t, "b", KindUpsert, 2, t0, UpsertData{Title: ptr("B"), Stock: ptr(int64(5000000))}),
		ev(t, "c", KindUpsert, 3, t0, UpsertData{Title: ptr("C"), Stock: ptr(int64(3))}),
	}
	res, err := w.Write(ctx, TierBatch, recs)
	require.NoError(t, err)
	require.Equal(t, []int{0, 2}, res.Applied)
	require.Equal(t, 1, res.DeadLetters)
	n, err := catalog.NewStore(db.Pool).Count(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, int(n))
	var reason string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT reason FROM dead_letters WHERE source LIKE 'test:b#%'`).Scan(&reason))
	require.Contains(t, reason, "stock_cap")
	require.Equal(t, MetricsSnapshot{Applied: 2, DeadLetters: 1, Batches: 1, LastCommit: m.Snapshot().LastCommit}, m.Snapshot())
}

func TestWriterStopsOnSchemaErrors(t *testing.T) {
	db := testdb.NewEmpty(t) // no tables: retrying cannot help
	w, err := NewWriter(db.Pool, WriterConfig{RetryMin: time.Millisecond})
	require.NoError(t, err)
	_, err = w.Write(context.Background(), TierBatch, []Record{ev(t, "a", KindStock, 1, time.Now(), StockData{Stock: 1})})
	require.Error(t, err)
	require.Contains(t, err.Error(), "sku_events")
}

func TestWriterGivesUpAfterMaxAttempts(t *testing.T) {
	db := testdb.New(t)
	calls := 0
	w, err := NewWriter(db.Pool, WriterConfig{RetryMin: time.Millisecond, MaxAttempts: 3,
		beforeCommit: func(context.Context) error { calls++; return errors.New("connection reset") }})
	require.NoError(t, err)
	_, err = w.Write(context.Background(), TierBatch, []Record{ev(t, "a", KindStock, 1, time.Now(), StockData{Stock: 1})})
	require.ErrorContains(t, err, "giving up after 3 attempts")
	require.Equal(t, 3, calls)
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sku_events`).Scan(&n))
	require.Zero(t, n, "nothing is committed by a failed attempt")
}

// A server that accepts connections but does not answer makes each connect time out with
// context.DeadlineExceeded although the caller's context is alive: that is an outage to wait
// out, not the end of the consumer.
func TestWriterRetriesConnectTimeouts(t *testing.T) {
	db := testdb.New(t)
	if testdb.URL() != testdb.DefaultURL {
		t.Skip("the proxy test assumes the default test database on 127.0.0.1:5432")
	}
	proxy := testdb.NewProxy(t, "127.0.0.1:5432")
	cfg := db.Config
	cfg.URL = "postgres://selection:selection@" + proxy.Addr() + "/selection_test?sslmode=disable&connect_timeout=1"
	ctx := context.Background()
	pool, err := pg.Connect(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	proxy.Stall(2500 * time.Millisecond)
	pool.Reset() // every new attempt must connect, and connecting stalls

	m := NewMetrics()
	w, err := NewWriter(pool, WriterConfig{Metrics: m, Logger: quiet, RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	require.NoError(t, err)
	t0 := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	res, err := w.Write(ctx, TierRealtime, []Record{ev(t, "a", KindUpsert, 1, t0, UpsertData{Title: ptr("A"), Stock: ptr(int64(3))})})
	require.NoError(t, err, "connect timeouts are retried until the server answers")
	require.Equal(t, []int{0}, res.Applied)
	require.Positive(t, m.Snapshot().Retries)
	k, err := catalog.NewStore(db.Pool).Get(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, int64(3), k.Stock)
}

// A cancellation that arrives once the batch's statements have run (a consumer's Stop landing on
// its COMMIT) does not abort the commit: Write says the batch is committed, and it is. Were the
// commit canceled on the wire, the server could commit while Write reported a failure, and the
// events would come back to the next consumer as duplicates instead of being counted once. A
// cancellation before the batch runs still stops it with nothing written.
func TestWriterCommitOutlivesCancellation(t *testing.T) {
	db := testdb.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	m := NewMetrics()
	w, err := NewWriter(db.Pool, WriterConfig{Metrics: m, beforeCommit: func(context.Context) error { cancel(); return nil }})
	require.NoError(t, err)
	t0 := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	res, err := w.Write(ctx, TierRealtime, []Record{
		ev(t, "a", KindUpsert, 1, t0, UpsertData{Title: ptr("A"), Stock: ptr(int64(1))}),
		ev(t, "b", KindStock, 1, t0.Add(time.Second), StockData{Stock: 7}),
	})
	require.Error(t, ctx.Err(), "canceled before the COMMIT")
	require.NoError(t, err)
	require.Equal(t, []int{0, 1}, res.Applied)
	require.Equal(t, int64(2), m.Snapshot().Applied)
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sku_events`).Scan(&n))
	require.Equal(t, 2, n)
	k, err := catalog.NewStore(db.Pool).Get(context.Background(), 1)
	require.NoError(t, err)
	require.Equal(t, int64(7), k.Stock)

	_, err = w.Write(ctx, TierRealtime, []Record{ev(t, "c", KindStock, 1, t0.Add(2*time.Second), StockData{Stock: 9})})
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sku_events`).Scan(&n))
	require.Equal(t, 2, n, "a batch canceled before it ran writes nothing")
	require.Equal(t, int64(2), m.Snapshot().Applied)
}

package vectorindex_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/embed"
	"selection/internal/icecat"
	"selection/internal/pg"
	"selection/internal/testdb"
	"selection/vectorindex"
)

// hookEmbedder is the real embedder with a hook that runs while a batch holds its locks.
type hookEmbedder struct {
	embed.Embedder
	during func()
}

func (h *hookEmbedder) EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error) {
	if h.during != nil {
		h.during()
		h.during = nil
	}
	return h.Embedder.EmbedDocuments(ctx, texts)
}

func queueLen(t *testing.T, db *testdb.DB) int {
	t.Helper()
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM embed_queue`).Scan(&n))
	return n
}

func TestWorkerDrain(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	e := icecat.Embedder(t)
	cs := catalog.NewStore(db.Pool)
	_, err := cs.Upsert(ctx, []catalog.Patch{
		{ID: 1, Fields: catalog.FieldTitle | catalog.FieldBrand, Title: "Wireless optical mouse", Brand: "Logitech", ContentAt: t0},
		{ID: 2, Fields: catalog.FieldTitle | catalog.FieldDescription, Title: "Laser printer", Description: "Prints 30 pages per minute", ContentAt: t0},
		{ID: 3, Fields: catalog.FieldTitle, Title: "USB stick 64 GB", ContentAt: t0},
	})
	require.NoError(t, err)
	require.Equal(t, 3, queueLen(t, db))
	b, err := vectorindex.QueueBacklog(ctx, db.Pool)
	require.NoError(t, err)
	require.Equal(t, int64(3), b.Count)
	require.GreaterOrEqual(t, b.OldestAge, time.Duration(0))

	m := &vectorindex.Metrics{}
	w, err := vectorindex.NewWorker(db.Pool, e, m, vectorindex.WorkerConfig{BatchSize: 2})
	require.NoError(t, err)
	var calls []int64
	res, err := w.Drain(ctx, func(done, total int64) { calls = append(calls, done, total) })
	require.NoError(t, err)
	require.Equal(t, 2, res.Batches)
	require.Equal(t, 3, res.Embedded)
	require.Equal(t, []int64{2, 3, 3, 3}, calls)
	require.Zero(t, queueLen(t, db))
	require.Equal(t, int64(3), m.Embedded.Load())
	require.Equal(t, int64(2), m.Batches.Load())

	st := vectorindex.NewStore(db.Pool)
	v, err := st.Get(ctx, 2)
	require.NoError(t, err)
	want, err := e.EmbedQuery(ctx, catalog.EmbedText("Laser printer", "", "", "Prints 30 pages per minute"))
	require.NoError(t, err)
	require.InDeltaSlice(t, want, v.Embedding, 1e-5)
	require.Equal(t, e.Name(), v.Model)
	sku, err := cs.Get(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, sku.ContentHash, v.ContentHash)

	// A price change queues nothing; a title change re-embeds; a delete removes the vector.
	_, err = cs.Upsert(ctx, []catalog.Patch{{ID: 1, Fields: catalog.FieldPrice | catalog.FieldCurrency, Price: 999, Currency: "USD", PriceAt: t0}})
	require.NoError(t, err)
	require.Zero(t, queueLen(t, db))
	_, err = cs.Upsert(ctx, []catalog.Patch{{ID: 3, Fields: catalog.FieldTitle, Title: "USB stick 128 GB", ContentAt: t0.Add(time.Minute)}})
	require.NoError(t, err)
	_, err = cs.Delete(ctx, 1, t0.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, 2, queueLen(t, db))
	r, err := w.RunBatch(ctx)
	require.NoError(t, err)
	require.Equal(t, vectorindex.BatchResult{Taken: 2, Embedded: 1, Removed: 1, Dequeued: 2}, r)
	_, err = st.Get(ctx, 1)
	require.ErrorIs(t, err, vectorindex.ErrNotFound)
	v3, err := st.Get(ctx, 3)
	require.NoError(t, err)
	want, err = e.EmbedQuery(ctx, "USB stick 128 GB")
	require.NoError(t, err)
	require.InDeltaSlice(t, want, v3.Embedding, 1e-5)

	// A queue entry for a SKU that does not exist is dropped.
	_, err = db.Pool.Exec(ctx, `INSERT INTO embed_queue (sku_id, content_hash) VALUES (424242, '\x00')`)
	require.NoError(t, err)
	r, err = w.RunBatch(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, r.Dequeued)
	require.Zero(t, queueLen(t, db))
}

// TestWorkerKeepsNewerChange: a text change committed while a batch holds the SKU's queue row
// waits for the batch, then re-queues the SKU with its new hash, so the new text is embedded by
// the next batch and never lost.
func TestWorkerKeepsNewerChange(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	cs := catalog.NewStore(db.Pool)
	_, err := cs.Upsert(ctx, []catalog.Patch{{ID: 7, Fields: catalog.FieldTitle, Title: "Gaming headset", ContentAt: t0}})
	require.NoError(t, err)

	other, err := pg.Connect(ctx, db.Config)
	require.NoError(t, err)
	defer other.Close()
	var wg sync.WaitGroup
	var changeErr error
	h := &hookEmbedder{Embedder: icecat.Embedder(t), during: func() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, changeErr = catalog.NewStore(other).Upsert(ctx, []catalog.Patch{
				{ID: 7, Fields: catalog.FieldTitle, Title: "Gaming headset with microphone", ContentAt: t0.Add(time.Minute)}})
		}()
		// Wait until the change is blocked on the batch's lock on the queue row.
		require.Eventually(t, func() bool {
			var waiting int
			// A backend waiting on a lock that holds locks on this schema's skus: ours.
			_ = db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity a WHERE a.wait_event_type = 'Lock'
				AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.relation = 'skus'::regclass)`).Scan(&waiting)
			return waiting > 0
		}, 30*time.Second, 10*time.Millisecond)
	}}
	w, err := vectorindex.NewWorker(db.Pool, h, nil, vectorindex.WorkerConfig{})
	require.NoError(t, err)
	r, err := w.RunBatch(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, r.Embedded)
	wg.Wait()
	require.NoError(t, changeErr)

	require.Equal(t, 1, queueLen(t, db), "the newer text stays queued")
	st := vectorindex.NewStore(db.Pool)
	old, err := st.Get(ctx, 7)
	require.NoError(t, err)
	r, err = w.RunBatch(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, r.Embedded)
	require.Zero(t, queueLen(t, db))
	cur, err := st.Get(ctx, 7)
	require.NoError(t, err)
	require.NotEqual(t, old.ContentHash, cur.ContentHash)
	sku, err := cs.Get(ctx, 7)
	require.NoError(t, err)
	require.Equal(t, sku.ContentHash, cur.ContentHash)
}

func TestWorkerStartStop(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	cs := catalog.NewStore(db.Pool)
	w, err := vectorindex.NewWorker(db.Pool, icecat.Embedder(t), nil, vectorindex.WorkerConfig{Idle: 20 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, w.Start(ctx))
	require.NoError(t, w.Start(ctx), "idempotent")
	_, err = cs.Upsert(ctx, []catalog.Patch{{ID: 5, Fields: catalog.FieldTitle, Title: "Office chair", ContentAt: t0}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return queueLen(t, db) == 0 }, 20*time.Second, 20*time.Millisecond)
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, w.Stop(stopCtx))
	require.NoError(t, w.Stop(stopCtx), "idempotent")
	require.Equal(t, int64(1), w.Metrics().Embedded.Load())
}

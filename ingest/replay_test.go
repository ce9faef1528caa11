package ingest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"selection/internal/testdb"
)

// mixedStream makes a realistic history: SKUs created (some partially), renamed, repriced,
// restocked, their metrics updated, deleted and brought back, with events out of order and
// repeated.
func mixedStream(t testing.TB, n, skus int, seed uint64) []Record {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 99))
	t0 := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	var out []Record
	for i := 0; i < n; i++ {
		id := int64(100 + r.IntN(skus))
		// Mostly increasing times with some jitter, so some events arrive late.
		at := t0.Add(time.Duration(i)*time.Second - time.Duration(r.IntN(120))*time.Second)
		eid := fmt.Sprintf("m%d-%d", seed, i)
		var rec Record
		switch k := r.IntN(100); {
		case k < 15:
			p := int64(100 + r.IntN(9000))
			rec = ev(t, eid, KindUpsert, id, at, UpsertData{Title: ptr(fmt.Sprintf("Item %d v%d", id, r.IntN(3))),
				Brand: ptr([]string{"Acme", "Globex", "Initech"}[r.IntN(3)]), Price: &p, Currency: ptr("SGD"),
				Stock: ptr(int64(r.IntN(50))), Attributes: []byte(fmt.Sprintf(`{"colour":"c%d","size":%d}`, r.IntN(4), r.IntN(3)))})
		case k < 22:
			rec = ev(t, eid, KindUpsert, id, at, UpsertData{Description: ptr(fmt.Sprintf("desc %d", r.IntN(5)))})
		case k < 50:
			rec = ev(t, eid, KindPrice, id, at, PriceData{Price: int64(100 + r.IntN(9000)), ListPrice: ptr(int64(9500))})
		case k < 75:
			rec = ev(t, eid, KindStock, id, at, StockData{Stock: int64(r.IntN(100))})
		case k < 92:
			s := int64(r.IntN(10))
			rec = ev(t, eid, KindMetrics, id, at, MetricsData{Sales1h: s, Sales24h: s * 5, Sales7d: s * 20,
				GMV1h: s * 100, Views7d: int64(r.IntN(1000)), Rating: float32(r.IntN(50)) / 10, RatingCount: int64(r.IntN(100))})
		default:
			rec = ev(t, eid, KindDelete, id, at, nil)
		}
		out = append(out, rec)
		if r.IntN(20) == 0 && len(out) > 1 { // a redelivered event
			out = append(out, out[r.IntN(len(out))])
		}
	}
	return out
}

// snapshot reads skus (every column but updated_at) as comparable strings by id.
func snapshot(t testing.TB, pool *pgxpool.Pool) map[int64]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id, (s.*)::text FROM (SELECT id, ordinal, market, title,
		description, brand, category, product_type, attributes, content_hash, currency, price, list_price, stock,
		rating, rating_count, sales_1h, sales_24h, sales_7d, gmv_1h, gmv_24h, gmv_7d, views_1h, views_24h, views_7d,
		released_at, content_at, price_at, stock_at, metrics_at, deleted_at, live, created_at FROM skus) s`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var s string
		require.NoError(t, rows.Scan(&id, &s))
		out[id] = s
	}
	require.NoError(t, rows.Err())
	return out
}

func requireSameState(t testing.TB, want, got map[int64]string) {
	t.Helper()
	require.Equal(t, len(want), len(got))
	for id, w := range want {
		require.Equal(t, w, got[id], "sku %d", id)
	}
}

func TestReplayEqualsLive(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	w, err := NewWriter(db.Pool, WriterConfig{})
	require.NoError(t, err)
	stream := mixedStream(t, 3000, 150, 5)
	// Live: batches of varied sizes, as a consumer would see them.
	r := rand.New(rand.NewPCG(1, 1))
	half := int64(0)
	for i := 0; i < len(stream); {
		n := 1 + r.IntN(400)
		end := min(i+n, len(stream))
		_, err := w.Write(ctx, TierRealtime, stream[i:end])
		require.NoError(t, err)
		i = end
		if half == 0 && i > len(stream)/2 {
			require.NoError(t, db.Pool.QueryRow(ctx, `SELECT max(seq) FROM sku_events`).Scan(&half))
			_, err := db.Pool.Exec(ctx, `CREATE TABLE skus_backup AS SELECT * FROM skus`)
			require.NoError(t, err)
		}
	}
	live := snapshot(t, db.Pool)
	require.Len(t, live, 150)
	deleted := countRows(t, db.Pool, `SELECT count(*) FROM skus WHERE NOT live`)
	require.Positive(t, deleted, "the stream deletes some SKUs")

	// Vectors for every live SKU's current text; then the queue is drained.
	_, err = db.Pool.Exec(ctx, `INSERT INTO sku_vectors (sku_id, ordinal, model, content_hash, embedding)
		SELECT id, ordinal, 'test', content_hash, array_fill(0.1, ARRAY[512])::real[]::vector FROM skus WHERE live`)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `DELETE FROM embed_queue`)
	require.NoError(t, err)

	// Damage the table, then rebuild it from the events.
	_, err = db.Pool.Exec(ctx, `UPDATE skus SET price = 1, title = 'garbage', stock = 0, deleted_at = now() WHERE id % 3 = 0`)
	require.NoError(t, err)
	res, err := Replay(ctx, db.Pool, ReplayConfig{BatchSize: 700})
	require.NoError(t, err)
	require.Equal(t, int64(150), res.Reset)
	require.Zero(t, res.Recreated)
	require.Equal(t, int64(countRows(t, db.Pool, `SELECT count(*) FROM sku_events`)), res.Events)
	requireSameState(t, live, snapshot(t, db.Pool))
	require.Zero(t, res.QueuedEmbeds, "unchanged text does not queue embeddings")
	require.Zero(t, countRows(t, db.Pool, `SELECT count(*) FROM embed_queue`))

	// Restore the backup taken halfway and replay from the seq after it.
	const cols = `id, ordinal, market, title, description, brand, category, product_type, attributes, currency,
		price, list_price, stock, rating, rating_count, sales_1h, sales_24h, sales_7d, gmv_1h, gmv_24h, gmv_7d,
		views_1h, views_24h, views_7d, released_at, content_at, price_at, stock_at, metrics_at, deleted_at,
		created_at, updated_at`
	_, err = db.Pool.Exec(ctx, `DELETE FROM skus; INSERT INTO skus (`+cols+`) SELECT `+cols+` FROM skus_backup`)
	require.NoError(t, err)
	res, err = Replay(ctx, db.Pool, ReplayConfig{From: half + 1})
	require.NoError(t, err)
	require.Zero(t, res.Reset)
	require.Equal(t, half+1, res.FromSeq)
	requireSameState(t, live, snapshot(t, db.Pool))

	// Replaying on top of a correct state changes nothing.
	res, err = Replay(ctx, db.Pool, ReplayConfig{From: 1})
	require.NoError(t, err)
	requireSameState(t, live, snapshot(t, db.Pool))
	require.Positive(t, res.Stale)
}

func TestReplayEmpty(t *testing.T) {
	db := testdb.New(t)
	res, err := Replay(context.Background(), db.Pool, ReplayConfig{})
	require.NoError(t, err)
	require.Zero(t, res.Events)
	_, err = Replay(context.Background(), db.Pool, ReplayConfig{From: -1})
	require.Error(t, err)
}

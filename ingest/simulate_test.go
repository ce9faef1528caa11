package ingest

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/internal/testdb"
)

func simCatalogue(n int) []SimSKU {
	out := make([]SimSKU, n)
	for i := range out {
		out[i] = SimSKU{ID: int64(1 + i), Market: "SG", Currency: "SGD", Title: "Bench product", Price: 1000 + int64(i),
			ListPrice: 1200 + int64(i), Stock: int64(i % 7)}
	}
	return out
}

// strip removes what differs between runs (ids carry the run, times the clock).
func strip(t *testing.T, v []byte) string {
	var m map[string]any
	if json.Unmarshal(v, &m) != nil {
		return "malformed"
	}
	delete(m, "event_id")
	delete(m, "event_time")
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

func TestSimulatorIsReproducible(t *testing.T) {
	mk := func() *Simulator {
		s, err := NewSimulator(SimulatorConfig{Brokers: []string{"unused:1"}, Catalogue: simCatalogue(500), Seed: 42})
		require.NoError(t, err)
		return s
	}
	a, b := mk(), mk()
	now := time.Now()
	kinds := map[string]int{}
	for i := 0; i < 3000; i++ {
		ra, rb := a.Next(now), b.Next(now)
		require.Equal(t, len(ra), len(rb))
		for j := range ra {
			require.Equal(t, strip(t, ra[j].Value), strip(t, rb[j].Value))
			require.Equal(t, ra[j].Key, rb[j].Key)
		}
	}
	st := a.Stats()
	for k, v := range st.ByKind {
		kinds[k] = int(v)
	}
	for _, k := range []string{"price.update", "stock.update", "metrics.update", "sku.upsert", "sku.delete", "malformed"} {
		require.Positive(t, kinds[k], "the stream has %s events", k)
	}
	require.InDelta(t, 0.015, float64(kinds["malformed"])/float64(st.Produced), 0.01)
	c, err := NewSimulator(SimulatorConfig{Brokers: []string{"unused:1"}, Catalogue: simCatalogue(500), Seed: 43})
	require.NoError(t, err)
	same := 0
	for i := 0; i < 50; i++ {
		if strip(t, c.Next(now)[0].Value) == strip(t, mk().Next(now)[0].Value) {
			same++
		}
	}
	require.Less(t, same, 50, "another seed gives another stream")
}

// The simulator's stream through the consumer: every good event applied, every malformed one
// a dead letter, new SKUs created, deleted ones gone.
func TestSimulatorThroughConsumer(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	w, err := NewWriter(db.Pool, WriterConfig{})
	require.NoError(t, err)
	_, err = LoadFile(ctx, w, "testdata/icecat_sample.json.zip", LoadConfig{EventTime: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	cat, err := LoadSimCatalogue(ctx, db.Pool, 0)
	require.NoError(t, err)
	require.Len(t, cat, 5)

	b := startBroker(t)
	sim, err := NewSimulator(SimulatorConfig{Brokers: b.Addrs(), Topic: "sim", Catalogue: cat, Rate: 4000, MaxEvents: 2000, Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, sim.Start(ctx))
	m := NewMetrics()
	c, err := NewConsumer(db.Pool, ConsumerConfig{Brokers: b.Addrs(), Topic: "sim", Group: "g", Metrics: m, Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	defer c.Stop(ctx) //nolint:errcheck
	select {
	case <-sim.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the simulator did not finish")
	}
	require.NoError(t, sim.Stop(ctx))
	require.NoError(t, sim.Stop(ctx), "idempotent")
	st := sim.Stats()
	waitFor(t, 30*time.Second, "the simulated stream", func() bool {
		s := m.Snapshot()
		return s.Applied+s.DeadLetters >= st.Produced
	})
	require.NoError(t, c.Stop(ctx))
	s := m.Snapshot()
	require.Equal(t, st.ByKind["malformed"], s.DeadLetters)
	require.Equal(t, st.Produced-st.ByKind["malformed"], s.Applied)
	require.Greater(t, countRows(t, db.Pool, `SELECT count(*) FROM skus`), 5, "new SKUs arrived")
	require.Positive(t, countRows(t, db.Pool, `SELECT count(*) FROM skus WHERE title LIKE '%(variant %)'`))
	require.Zero(t, countRows(t, db.Pool, `SELECT count(*) FROM skus WHERE title LIKE '%(variant %)'
		AND (released_at IS NULL OR released_at < now() - interval '2 days')`), "new SKUs are released on the day they launch")
	require.Positive(t, countRows(t, db.Pool, `SELECT count(*) FROM skus WHERE NOT live`), "some were deleted")
	require.Positive(t, countRows(t, db.Pool, `SELECT count(*) FROM skus WHERE sales_1h > 0`), "orders moved sales")
}

// A long stream keeps each SKU's price between half its list price and the list price, which
// does not move, and its counters from wrapping: an unbounded walk drifted on the SKUs that
// take most events until their GMV overflowed and the events were refused.
func TestSimulatorPricesStayBounded(t *testing.T) {
	cat := simCatalogue(20)
	s, err := NewSimulator(SimulatorConfig{Brokers: []string{"unused:1"}, Catalogue: cat, Seed: 7,
		MalformedShare: -1, NewSKUShare: -1, DeleteShare: -1})
	require.NoError(t, err)
	list := map[int64]int64{}
	for _, k := range cat {
		list[k.ID] = k.ListPrice
	}
	now := time.Now()
	for i := 0; i < 200_000; i++ {
		now = now.Add(time.Millisecond)
		s.Next(now)
	}
	require.Positive(t, s.Stats().ByKind["price.update"])
	for _, k := range s.skus {
		require.Equal(t, list[k.ID], k.ListPrice, "SKU %d's list price", k.ID)
		require.GreaterOrEqual(t, k.Price, k.ListPrice/2, "SKU %d", k.ID)
		require.LessOrEqual(t, k.Price, k.ListPrice, "SKU %d", k.ID)
		m := k.Metrics
		for _, v := range []int64{m.Sales7d, m.GMV7d, m.Views7d, m.Sales24h, m.GMV24h, m.Views24h} {
			require.GreaterOrEqual(t, v, int64(0), "SKU %d", k.ID)
		}
	}
	// Counters from a data set already at the edge stay there rather than wrap.
	require.Equal(t, int64(math.MaxInt64), satAdd(math.MaxInt64-1, 5))
	require.Equal(t, int64(7), satAdd(3, 4))
}

package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"selection/internal/pg"
	"selection/internal/testdb"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func startBroker(t testing.TB) *EmbeddedBroker {
	t.Helper()
	b, err := StartEmbeddedBroker(context.Background(), "", 0)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

func newProducer(t testing.TB, b *EmbeddedBroker, topic string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(5*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	ctx := context.Background()
	require.NoError(t, EnsureTopics(ctx, cl, 4, topic, topic+DLQSuffix))
	return cl
}

func produce(t testing.TB, cl *kgo.Client, recs []*kgo.Record) {
	t.Helper()
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
}

// streamSpec is a generated stream of events: mostly valid, a share malformed or invalid.
type streamSpec struct {
	records []*kgo.Record
	valid   map[string]bool // event id -> valid
	invalid int
	// final values per SKU of the newest valid price and stock events
	price, stock map[int64]int64
}

// genStream makes n records over skus SKUs (created by the first events of each SKU), with
// badShare of them malformed or invalid. Event times increase, so the newest event of each
// SKU wins.
func genStream(t testing.TB, n, skus int, badShare float64, seed uint64) *streamSpec {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	s := &streamSpec{valid: map[string]bool{}, price: map[int64]int64{}, stock: map[int64]int64{}}
	t0 := time.Now().Add(-time.Hour)
	created := map[int64]bool{}
	for i := 0; i < n; i++ {
		id := int64(1000 + r.IntN(skus))
		at := t0.Add(time.Duration(i) * time.Millisecond)
		eid := fmt.Sprintf("s%d-%d", seed, i)
		var e Event
		var err error
		if r.Float64() < badShare {
			s.invalid++
			var v []byte
			switch r.IntN(6) {
			case 0:
				v = []byte(`{"v":1,"event_id":"` + eid + `","kind":"price.update"`) // truncated
			case 1:
				v = []byte(fmt.Sprintf(`{"v":1,"event_id":%q,"kind":"price.update","sku_id":"%d","market":"SG","event_time":%q,"data":{"price":-5}}`, eid, id, at.Format(time.RFC3339Nano)))
			case 2:
				v = []byte(fmt.Sprintf(`{"v":1,"event_id":%q,"kind":"price.set","sku_id":"%d","market":"SG","event_time":%q,"data":{"price":5}}`, eid, id, at.Format(time.RFC3339Nano)))
			case 3:
				v = []byte(fmt.Sprintf(`{"v":1,"event_id":%q,"kind":"stock.update","sku_id":"%d","market":"XX","event_time":%q,"data":{"stock":5}}`, eid, id, at.Format(time.RFC3339Nano)))
			case 4:
				v = []byte(fmt.Sprintf(`{"v":1,"event_id":%q,"kind":"stock.update","sku_id":"%d","market":"SG","event_time":%q,"data":{"stock":5}}`, eid, id, time.Now().Add(time.Hour).Format(time.RFC3339Nano)))
			case 5:
				v = []byte("\x00\xffnot json at all")
			}
			s.records = append(s.records, &kgo.Record{Key: []byte(strconv.FormatInt(id, 10)), Value: v})
			continue
		}
		switch {
		case !created[id]:
			created[id] = true
			p := int64(1000 + r.IntN(100000))
			e, err = NewEvent(eid, KindUpsert, id, "SG", at, UpsertData{Title: ptr(fmt.Sprintf("Product %d", id)),
				Price: &p, Currency: ptr("SGD"), Stock: ptr(int64(10))})
			s.price[id], s.stock[id] = p, 10
		case r.IntN(2) == 0:
			p := int64(1000 + r.IntN(100000))
			e, err = NewEvent(eid, KindPrice, id, "SG", at, PriceData{Price: p})
			s.price[id] = p
		default:
			st := int64(r.IntN(500))
			e, err = NewEvent(eid, KindStock, id, "SG", at, StockData{Stock: st})
			s.stock[id] = st
		}
		require.NoError(t, err)
		v, err := e.Marshal()
		require.NoError(t, err)
		s.valid[eid] = true
		s.records = append(s.records, &kgo.Record{Key: []byte(strconv.FormatInt(id, 10)), Value: v})
	}
	return s
}

func countRows(t testing.TB, pool *pgxpool.Pool, sql string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), sql).Scan(&n))
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			if os.Getenv("DUMP") != "" {
				_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkState asserts that skus hold the newest valid price and stock of every SKU.
func checkState(t testing.TB, pool *pgxpool.Pool, s *streamSpec) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id, price, stock FROM skus`)
	require.NoError(t, err)
	defer rows.Close()
	got := 0
	for rows.Next() {
		var id, price, stock int64
		require.NoError(t, rows.Scan(&id, &price, &stock))
		require.Equal(t, s.price[id], price, "price of %d", id)
		require.Equal(t, s.stock[id], stock, "stock of %d", id)
		got++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, len(s.price), got)
}

func consumeDLQ(t testing.TB, b *EmbeddedBroker, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		out = append(out, f.Records()...)
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// 10,000 events, 5% malformed or invalid: every valid one applied, every invalid one in
// dead_letters and on the DLQ topic with its reason, and the counts add up.
func TestConsumerDeadLettersCountsAddUp(t *testing.T) {
	db := testdb.New(t)
	b := startBroker(t)
	const topic = "events-dl"
	prod := newProducer(t, b, topic)
	s := genStream(t, 10000, 500, 0.05, 1)
	produce(t, prod, s.records)

	m := NewMetrics()
	c, err := NewConsumer(db.Pool, ConsumerConfig{Brokers: b.Addrs(), Topic: topic, Group: "g", Metrics: m,
		Logger: quiet, MaxPollRecords: 3000})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	defer c.Stop(context.Background()) //nolint:errcheck
	waitFor(t, 60*time.Second, "all records", func() bool {
		snap := m.Snapshot()
		return snap.Applied+snap.DeadLetters >= 10000
	})
	require.NoError(t, c.Stop(context.Background()))

	snap := m.Snapshot()
	require.Equal(t, int64(len(s.valid)), snap.Applied)
	require.Equal(t, int64(s.invalid), snap.DeadLetters)
	require.Equal(t, int64(10000), snap.Applied+snap.DeadLetters)
	require.InDelta(t, 500, s.invalid, 100)
	require.Equal(t, len(s.valid), countRows(t, db.Pool, `SELECT count(*) FROM sku_events`))
	require.Equal(t, s.invalid, countRows(t, db.Pool, `SELECT count(*) FROM dead_letters`))
	require.Equal(t, s.invalid, countRows(t, db.Pool, `SELECT count(*) FROM dead_letters WHERE topic = '`+topic+`' AND partition >= 0 AND "offset" >= 0 AND reason <> '' AND value IS NOT NULL`))
	checkState(t, db.Pool, s)

	dlq := consumeDLQ(t, b, topic+DLQSuffix, s.invalid)
	require.Len(t, dlq, s.invalid)
	for _, r := range dlq {
		require.NotEmpty(t, header(r, HeaderReason))
		require.Equal(t, topic, header(r, HeaderTopic))
		off, err := strconv.ParseInt(header(r, HeaderOffset), 10, 64)
		require.NoError(t, err)
		p, err := strconv.Atoi(header(r, HeaderPartition))
		require.NoError(t, err)
		var reason string
		require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT reason FROM dead_letters WHERE source = $1`,
			fmt.Sprintf("kafka:%s/%d/%d", topic, p, off)).Scan(&reason))
		require.Equal(t, header(r, HeaderReason), reason)
	}
}

// Stopping the consumer mid-batch, inside the transaction before its commit, then starting
// it again: no event lost, none applied twice. Then the same between the database commit and
// the offset commit: the batch is redelivered and skipped.
func TestConsumerStopMidBatch(t *testing.T) {
	for _, where := range []string{"before the database commit", "before the offset commit"} {
		t.Run(where, func(t *testing.T) {
			db := testdb.New(t)
			b := startBroker(t)
			const topic = "events-mid"
			prod := newProducer(t, b, topic)
			s := genStream(t, 4000, 300, 0.02, 2)
			produce(t, prod, s.records)

			m1 := NewMetrics()
			var once sync.Once
			stopped := make(chan struct{})
			var c1 *Consumer
			hook := func(ctx context.Context) error {
				// Stop the consumer in the middle of its second batch.
				if m1.Snapshot().Batches >= 1 {
					once.Do(func() {
						go func() { _ = c1.Stop(context.Background()); close(stopped) }()
					})
					<-ctx.Done() // Stop cancels the batch's context
					return ctx.Err()
				}
				return nil
			}
			cfg := ConsumerConfig{Brokers: b.Addrs(), Topic: topic, Group: "g", Metrics: m1, Logger: quiet, MaxPollRecords: 500}
			if where == "before the database commit" {
				cfg.beforeCommit = hook
			} else {
				cfg.afterDBCommit = hook
			}
			var err error
			c1, err = NewConsumer(db.Pool, cfg)
			require.NoError(t, err)
			require.NoError(t, c1.Start(context.Background()))
			select {
			case <-stopped:
			case <-time.After(60 * time.Second):
				t.Fatal("the consumer was not stopped mid-batch")
			}
			first := m1.Snapshot()
			require.Less(t, first.Applied+first.DeadLetters, int64(4000), "stopped before the end")
			require.Equal(t, int(first.Applied), countRows(t, db.Pool, `SELECT count(*) FROM sku_events`))

			m2 := NewMetrics()
			c2, err := NewConsumer(db.Pool, ConsumerConfig{Brokers: b.Addrs(), Topic: topic, Group: "g", Metrics: m2, Logger: quiet})
			require.NoError(t, err)
			require.NoError(t, c2.Start(context.Background()))
			defer c2.Stop(context.Background()) //nolint:errcheck
			waitFor(t, 60*time.Second, "the rest", func() bool {
				return m2.Snapshot().Applied+first.Applied >= int64(len(s.valid))
			})
			require.NoError(t, c2.Stop(context.Background()))
			second := m2.Snapshot()
			require.Equal(t, int64(len(s.valid)), first.Applied+second.Applied, "every event applied exactly once")
			if where == "before the offset commit" {
				require.Positive(t, second.Duplicates, "the committed batch was redelivered and skipped")
			} else {
				require.Zero(t, second.Duplicates, "the aborted batch left nothing behind")
			}
			require.Equal(t, len(s.valid), countRows(t, db.Pool, `SELECT count(*) FROM sku_events`))
			require.Equal(t, s.invalid, countRows(t, db.Pool, `SELECT count(*) FROM dead_letters`))
			checkState(t, db.Pool, s)
		})
	}
}

// Postgres "restarts" (every connection dropped, new ones refused for two seconds) twice while
// the consumer runs and events keep coming: it retries with backoff and catches up, losing
// nothing. The outage is a proxy between the consumer and Postgres, so other tests running
// against the same server are not disturbed; INGEST_TEST_PG_RESTART=1 restarts the real cluster
// (pg_ctlcluster 15 main restart) instead.
func TestConsumerSurvivesPostgresRestart(t *testing.T) {
	db := testdb.New(t)
	proxy := testdb.NewProxy(t, "127.0.0.1:5432")
	cfg := db.Config
	cfg.URL = "postgres://selection:selection@" + proxy.Addr() + "/selection_test?sslmode=disable&connect_timeout=2"
	if u := testdb.URL(); u != testdb.DefaultURL {
		t.Skip("the proxy test assumes the default test database on 127.0.0.1:5432")
	}
	ctx := context.Background()
	pool, err := pg.Connect(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()

	b := startBroker(t)
	const topic = "events-restart"
	prod := newProducer(t, b, topic)
	s := genStream(t, 6000, 400, 0, 3)

	m := NewMetrics()
	c, err := NewConsumer(pool, ConsumerConfig{Brokers: b.Addrs(), Topic: topic, Group: "g", Metrics: m,
		Logger: quiet, MaxPollRecords: 300, RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	defer c.Stop(ctx) //nolint:errcheck

	// Produce in slices while the outages happen.
	var produced atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < len(s.records); i += 200 {
			end := min(i+200, len(s.records))
			if err := prod.ProduceSync(ctx, s.records[i:end]...).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			produced.Store(int64(end))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	waitFor(t, 30*time.Second, "some progress", func() bool { return m.Snapshot().Applied > 500 })
	outage := func(d time.Duration) { proxy.Outage(t, d) }
	if os.Getenv("INGEST_TEST_PG_RESTART") == "1" {
		// The real thing, for a machine of one's own: it restarts the cluster every test uses.
		outage = func(time.Duration) {
			out, err := exec.Command("pg_ctlcluster", "15", "main", "restart").CombinedOutput()
			require.NoError(t, err, "%s", out)
		}
	}
	outage(2 * time.Second)
	waitFor(t, 30*time.Second, "progress after the first outage", func() bool { return m.Snapshot().Applied > 2500 })
	outage(2 * time.Second)
	<-done
	defer func() {
		if t.Failed() {
			adm := kadm.NewClient(prod)
			ends, err := adm.ListEndOffsets(ctx, topic)
			t.Logf("end offsets %+v %v", ends, err)
			offs, err := adm.FetchOffsets(ctx, "g")
			t.Logf("group offsets %+v %v", offs, err)
			t.Logf("snapshot %+v produced %d", m.Snapshot(), produced.Load())
		}
	}()
	waitFor(t, 60*time.Second, "every event", func() bool {
		snap := m.Snapshot()
		return snap.Applied+snap.Duplicates >= int64(len(s.valid))
	})
	require.NoError(t, c.Stop(ctx))
	snap := m.Snapshot()
	require.Positive(t, snap.Retries, "the outages made writes fail and retry")
	// A commit whose answer was lost in an outage may have happened: its retry finds the
	// events recorded and counts them as duplicates. Either way each took effect once.
	require.Equal(t, int64(len(s.valid)), snap.Applied+snap.Duplicates)
	require.Equal(t, len(s.valid), countRows(t, db.Pool, `SELECT count(*) FROM sku_events`))
	checkState(t, db.Pool, s)
}

func TestEmbeddedBrokerKeepsTopicsAndOffsets(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := StartEmbeddedBroker(ctx, dir, 0)
	require.NoError(t, err)
	_, err = StartEmbeddedBroker(ctx, dir, 0)
	require.ErrorContains(t, err, "in use", "a second process may not share the data directory")

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.DefaultProduceTopic("t1"))
	require.NoError(t, err)
	require.NoError(t, EnsureTopics(ctx, cl, 2, "t1"))
	for i := 0; i < 10; i++ {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Key: []byte{byte(i)}, Value: []byte(strconv.Itoa(i))}).FirstErr())
	}
	cl.Close()
	consumeSome := func(addrs []string, n int) []string {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumerGroup("g1"), kgo.ConsumeTopics("t1"),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		require.NoError(t, err)
		defer cl.Close()
		var got []string
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		for len(got) < n && cctx.Err() == nil {
			f := cl.PollRecords(cctx, n-len(got))
			for _, r := range f.Records() {
				got = append(got, string(r.Value))
			}
			require.NoError(t, cl.CommitRecords(cctx, f.Records()...))
		}
		return got
	}
	first := consumeSome(b.Addrs(), 4)
	require.Len(t, first, 4)
	b.Close()
	b.Close() // idempotent

	b2, err := StartEmbeddedBroker(ctx, dir, 0)
	require.NoError(t, err)
	defer b2.Close()
	rest := consumeSome(b2.Addrs(), 6)
	require.Len(t, rest, 6, "the committed offsets survived the restart: only the rest is delivered")
	require.ElementsMatch(t, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, append(first, rest...))
}

func TestConsumerConfig(t *testing.T) {
	_, err := NewConsumer(nil, ConsumerConfig{})
	require.ErrorContains(t, err, "no Kafka brokers")
	_, err = NewConsumer(nil, ConsumerConfig{Brokers: []string{"x:1"}, Topic: "a", DLQTopic: "a"})
	require.Error(t, err)
	c := ConsumerConfig{Brokers: []string{"x:1"}}.WithDefaults()
	require.Equal(t, "sku-events", c.Topic)
	require.Equal(t, "sku-events.dlq", c.DLQTopic)
	require.Equal(t, TierRealtime, c.Tier)
}

// Two members share the partitions; members join and leave while events flow: every event is
// applied exactly once.
func TestConsumerGroupRebalance(t *testing.T) {
	db := testdb.New(t)
	b := startBroker(t)
	const topic = "events-rebalance"
	prod := newProducer(t, b, topic)
	s := genStream(t, 8000, 400, 0.01, 4)
	ctx := context.Background()
	m1, m2 := NewMetrics(), NewMetrics()
	mk := func(m *Metrics) *Consumer {
		c, err := NewConsumer(db.Pool, ConsumerConfig{Brokers: b.Addrs(), Topic: topic, Group: "g", Metrics: m,
			Logger: quiet, MaxPollRecords: 200})
		require.NoError(t, err)
		return c
	}
	c1 := mk(m1)
	require.NoError(t, c1.Start(ctx))
	// Produce slowly (8,000 records over about 8 s) while members come and go.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < len(s.records); i += 50 {
			if err := prod.ProduceSync(ctx, s.records[i:min(i+50, len(s.records))]...).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	waitFor(t, 30*time.Second, "the first member's progress", func() bool { return m1.Snapshot().Applied > 500 })
	c2 := mk(m2)
	require.NoError(t, c2.Start(ctx))
	defer c2.Stop(ctx) //nolint:errcheck
	waitFor(t, 30*time.Second, "the second member's share", func() bool { return m2.Snapshot().Applied > 0 })
	require.NoError(t, c1.Stop(ctx)) // its partitions move to the second member
	<-done
	waitFor(t, 60*time.Second, "every record", func() bool {
		a, b := m1.Snapshot(), m2.Snapshot()
		return a.Applied+b.Applied >= int64(len(s.valid)) && a.DeadLetters+b.DeadLetters >= int64(s.invalid)
	})
	require.NoError(t, c2.Stop(ctx))
	a, bb := m1.Snapshot(), m2.Snapshot()
	// A batch whose offset commit raced the rebalance is redelivered to the other member and
	// skipped there as duplicates: at least once delivered, exactly once applied.
	require.Equal(t, int64(len(s.valid)), a.Applied+bb.Applied)
	t.Logf("redelivered duplicates: %d", a.Duplicates+bb.Duplicates)
	require.Equal(t, len(s.valid), countRows(t, db.Pool, `SELECT count(*) FROM sku_events`))
	require.Equal(t, s.invalid, countRows(t, db.Pool, `SELECT count(*) FROM dead_letters`))
	checkState(t, db.Pool, s)
}

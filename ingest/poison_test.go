package ingest

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"selection/catalog"
	"selection/internal/testdb"
)

// Finding 17 (fault suite): a poison record that decodes but fails in the database (here a
// CHECK constraint the decoder does not know, standing in for any value the schema refuses) is
// dead-lettered with the database's reason, in dead_letters and on the dead-letter topic; the
// records around it, in the same partition and of the same SKU, before and after it, land;
// every offset is committed and the consumer keeps running. (A poison followed in its batch by
// a newer value of the same field group is never written: the batch's patches of one SKU are
// merged by event time first, so the newer value wins and the poison is an applied event.)
func TestFinding17PoisonRecordAfterDecoding(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `ALTER TABLE skus ADD CONSTRAINT stock_cap CHECK (stock < 1000000)`)
	require.NoError(t, err)
	b := startBroker(t)
	const topic, group = "events-poison", "g"
	prod, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	defer prod.Close()
	// One partition: every record below is in the consumer's one batch per poll.
	require.NoError(t, EnsureTopics(ctx, prod, 1, topic, topic+DLQSuffix))

	t0 := time.Now().Add(-time.Hour)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	type spec struct {
		kind Kind
		sku  int64
		data any
	}
	specs := []spec{
		{KindUpsert, 1, UpsertData{Title: ptr("One"), Stock: ptr(int64(10)), Price: ptr(int64(100)), Currency: ptr("SGD")}},
		{KindUpsert, 2, UpsertData{Title: ptr("Two"), Price: ptr(int64(500)), Currency: ptr("SGD")}},
		{KindStock, 1, StockData{Stock: 5_000_000}}, // the poison: valid as an event, refused by the table
		{KindUpsert, 3, UpsertData{Title: ptr("Three")}},
		{KindPrice, 1, PriceData{Price: 300}},
		{KindPrice, 2, PriceData{Price: 450}},
	}
	const poison = 2
	var recs []*kgo.Record
	for i, s := range specs {
		e, err := NewEvent(fmt.Sprintf("p-%d", i), s.kind, s.sku, "SG", at(i), s.data)
		require.NoError(t, err)
		v, err := e.Marshal()
		require.NoError(t, err)
		_, err = DecodeEvent(v, DecodeOptions{})
		require.NoError(t, err, "record %d decodes", i)
		recs = append(recs, &kgo.Record{Key: []byte(strconv.FormatInt(s.sku, 10)), Value: v})
	}
	produce(t, prod, recs)

	m := NewMetrics()
	c, err := NewConsumer(db.Pool, ConsumerConfig{Brokers: b.Addrs(), Topic: topic, Group: group, Metrics: m, Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	defer c.Stop(ctx) //nolint:errcheck
	waitFor(t, 60*time.Second, "every record applied or dead-lettered and every offset committed", func() bool {
		requireRunning(t, c)
		s := m.Snapshot()
		return s.Applied+s.DeadLetters == int64(len(specs)) && committedToEnd(t, prod, group, topic)
	})
	requireRunning(t, c)
	require.NoError(t, c.Stop(ctx))

	snap := m.Snapshot()
	require.Equal(t, int64(len(specs)-1), snap.Applied)
	require.Equal(t, int64(1), snap.DeadLetters)

	store := catalog.NewStore(db.Pool)
	one, err := store.Get(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, int64(10), one.Stock, "the SKU's event before the poison landed, the poison did not")
	require.Equal(t, int64(300), one.Price, "the SKU's event after the poison landed")
	two, err := store.Get(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, int64(450), two.Price)
	_, err = store.Get(ctx, 3)
	require.NoError(t, err)
	require.Equal(t, len(specs)-1, countRows(t, db.Pool, `SELECT count(*) FROM sku_events`), "the poison is not a recorded event")
	require.Equal(t, 0, countRows(t, db.Pool, `SELECT count(*) FROM sku_events WHERE event_id = 'p-2'`))

	var source, reason string
	var value []byte
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT source, reason, value FROM dead_letters`).Scan(&source, &reason, &value))
	require.Equal(t, fmt.Sprintf("kafka:%s/0/%d", topic, poison), source)
	require.Contains(t, reason, "stock_cap")
	require.Equal(t, recs[poison].Value, value)

	dlq := consumeDLQ(t, b, topic+DLQSuffix, 1)
	require.Len(t, dlq, 1)
	require.Equal(t, reason, header(dlq[0], HeaderReason))
	require.Equal(t, strconv.Itoa(poison), header(dlq[0], HeaderOffset))
	require.Equal(t, recs[poison].Value, dlq[0].Value)
}

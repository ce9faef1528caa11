package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"selection/catalog"
	"selection/internal/testdb"
)

// createTopic creates topic with 4 partitions and the given topic configs.
func createTopic(t testing.TB, b *EmbeddedBroker, topic string, configs map[string]string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	require.NoError(t, err)
	defer cl.Close()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = kadm.StringPtr(v)
	}
	_, err = kadm.NewClient(cl).CreateTopic(context.Background(), 4, -1, cfg, topic)
	require.NoError(t, err)
}

// committedToEnd reports whether group has committed every partition of topic up to its end.
func committedToEnd(t testing.TB, cl *kgo.Client, group, topic string) bool {
	t.Helper()
	ctx := context.Background()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	offs, err := adm.FetchOffsets(ctx, group)
	require.NoError(t, err)
	done := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset == 0 {
			return
		}
		c, ok := offs.Lookup(topic, o.Partition)
		if !ok || c.At != o.Offset {
			done = false
		}
	})
	return done
}

// requireRunning fails unless the consumer is still running without an error.
func requireRunning(t testing.TB, c *Consumer) {
	t.Helper()
	select {
	case <-c.Done():
		t.Fatalf("the consumer stopped: %v", c.Err())
	default:
	}
	require.NoError(t, c.Err())
}

// skuEvents makes n valid events for sku (an upsert, then price updates), keyed by the SKU id;
// it returns them and the final price.
func skuEvents(t testing.TB, prefix string, sku int64, n int) ([]*kgo.Record, int64) {
	t.Helper()
	t0 := time.Now().Add(-time.Hour)
	var recs []*kgo.Record
	var price int64
	for i := 0; i < n; i++ {
		price = int64(1000 + i)
		var e Event
		var err error
		if i == 0 {
			e, err = NewEvent(prefix+"-0", KindUpsert, sku, "SG", t0, UpsertData{Title: ptr("Item"), Price: &price, Currency: ptr("SGD")})
		} else {
			e, err = NewEvent(prefix+"-"+strconv.Itoa(i), KindPrice, sku, "SG", t0.Add(time.Duration(i)*time.Second), PriceData{Price: price})
		}
		require.NoError(t, err)
		v, err := e.Marshal()
		require.NoError(t, err)
		recs = append(recs, &kgo.Record{Key: []byte(strconv.FormatInt(sku, 10)), Value: v})
	}
	return recs, price
}

// Finding 2: a 1 MB invalid record followed by valid events in its partition. Its full copy
// plus the reason does not fit the producer's 1 MB batch limit, which used to stop the consumer
// for good. Now the consumer stays up, the record is in dead_letters and on the dead-letter
// topic by reference (topic, partition, offset, size and a 1 KiB prefix), the valid events are
// applied and their offsets committed.
func TestFinding2OversizedRecordIsDeadLetteredByReference(t *testing.T) {
	db := testdb.New(t)
	b := startBroker(t)
	const topic, group = "events-big", "g"
	createTopic(t, b, topic, map[string]string{"max.message.bytes": strconv.Itoa(2 << 20)})
	prod, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchMaxBytes(2<<20))
	require.NoError(t, err)
	defer prod.Close()

	const sku = 7001
	head := `{"v":1,"event_id":"big","kind":"sku.upsert","sku_id":"7001","market":"SG","event_time":"2025-11-11T11:00:00Z","data":{"title":"`
	big := []byte(head + strings.Repeat("x", 1_000_000-len(head)-3) + `"}}`)
	require.Len(t, big, 1_000_000)
	valid, price := skuEvents(t, "after-big", sku, 50)
	produce(t, prod, append([]*kgo.Record{{Key: []byte("7001"), Value: big}}, valid...))

	m := NewMetrics()
	c, err := NewConsumer(db.Pool, ConsumerConfig{Brokers: b.Addrs(), Topic: topic, Group: group, Metrics: m, Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	defer c.Stop(context.Background()) //nolint:errcheck
	waitFor(t, 60*time.Second, "the valid events applied and every offset committed", func() bool {
		requireRunning(t, c)
		return m.Snapshot().Applied == int64(len(valid)) && committedToEnd(t, prod, group, topic)
	})
	requireRunning(t, c)

	var source, reason string
	var part int32
	var off int64
	var value []byte
	require.NoError(t, db.Pool.QueryRow(context.Background(),
		`SELECT source, partition, "offset", value, reason FROM dead_letters`).Scan(&source, &part, &off, &value, &reason))
	require.Equal(t, fmt.Sprintf("kafka:%s/%d/%d", topic, part, off), source)
	require.Equal(t, big[:DeadLetterPrefixBytes], value, "the dead letter keeps a prefix of the record")
	require.Contains(t, reason, "record of 1000004 bytes is larger than the 262144-byte limit")
	require.Equal(t, int64(1), m.Snapshot().DeadLetters)

	dlq := consumeDLQ(t, b, topic+DLQSuffix, 1)
	require.Len(t, dlq, 1)
	r := dlq[0]
	require.Equal(t, "true", header(r, HeaderByReference))
	require.Equal(t, "1000004", header(r, HeaderSize))
	require.Equal(t, topic, header(r, HeaderTopic))
	require.Equal(t, strconv.Itoa(int(part)), header(r, HeaderPartition))
	require.Equal(t, strconv.FormatInt(off, 10), header(r, HeaderOffset))
	require.Equal(t, reason, header(r, HeaderReason))
	require.Equal(t, big[:DeadLetterPrefixBytes], r.Value)

	require.NoError(t, c.Stop(context.Background()))
	k, err := catalog.NewStore(db.Pool).Get(context.Background(), sku)
	require.NoError(t, err)
	require.Equal(t, price, k.Price, "the events after the big record were applied")
}

const base64Chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// Finding 2: a dead-letter topic that refuses what it is sent does not stop the consumer. When
// it refuses everything (records larger than its max.message.bytes of 100, which even a
// reference is) or is gone, the dead letters end up in dead_letters only, counted in
// DLQFailures, and every offset is committed; when it refuses only the full copy, the dead
// letter goes there by reference.
func TestFinding2RefusingDeadLetterTopicDoesNotStopConsumer(t *testing.T) {
	for _, tc := range []struct {
		name string
		// prepare runs before the consumer starts, start after.
		prepare, start func(t *testing.T, b *EmbeddedBroker, dlq string)
		onTopic        bool // the dead letters reach the topic (by reference)
	}{
		{name: "refuses every dead letter", prepare: func(t *testing.T, b *EmbeddedBroker, dlq string) {
			createTopic(t, b, dlq, map[string]string{"max.message.bytes": "100"})
		}},
		{name: "is gone", start: func(t *testing.T, b *EmbeddedBroker, dlq string) {
			cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
			require.NoError(t, err)
			defer cl.Close()
			resp, err := kadm.NewClient(cl).DeleteTopics(context.Background(), dlq)
			require.NoError(t, err)
			require.NoError(t, resp.Error())
		}},
		{name: "refuses the full copy", onTopic: true, prepare: func(t *testing.T, b *EmbeddedBroker, dlq string) {
			createTopic(t, b, dlq, map[string]string{"max.message.bytes": strconv.Itoa(8 << 10)})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := testdb.New(t)
			b := startBroker(t)
			const topic, group = "events-dlq-refuses", "g"
			dlq := topic + DLQSuffix
			if tc.prepare != nil {
				tc.prepare(t, b, dlq)
			}
			prod := newProducer(t, b, topic) // creates the topic (and the dead-letter topic, if missing)
			// Invalid records of 20 KB (under the consumer's limit, over the dead-letter
			// topic's 8 KiB or 100 bytes even compressed), each followed by valid events.
			var recs []*kgo.Record
			var prices []int64
			const bad = 6
			badValue := func(i int) []byte {
				r := rand.New(rand.NewPCG(uint64(i), 2))
				v := []byte(`{"v":1,"event_id":"bad` + strconv.Itoa(i) + `","kind":"`)
				for range 20000 {
					v = append(v, base64Chars[r.IntN(len(base64Chars))])
				}
				return v
			}
			for i := range bad {
				sku := int64(8000 + i)
				recs = append(recs, &kgo.Record{Key: []byte(strconv.FormatInt(sku, 10)), Value: badValue(i)})
				valid, price := skuEvents(t, "v"+strconv.Itoa(i), sku, 20)
				recs = append(recs, valid...)
				prices = append(prices, price)
			}

			m := NewMetrics()
			c, err := NewConsumer(db.Pool, ConsumerConfig{Brokers: b.Addrs(), Topic: topic, Group: group, Metrics: m,
				Logger: quiet, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond, DLQAttempts: 3,
				DLQAttemptTimeout: 2 * time.Second})
			require.NoError(t, err)
			require.NoError(t, c.Start(context.Background()))
			defer c.Stop(context.Background()) //nolint:errcheck
			if tc.start != nil {
				tc.start(t, b, dlq)
			}
			produce(t, prod, recs)
			waitFor(t, 60*time.Second, "every record handled and every offset committed", func() bool {
				requireRunning(t, c)
				s := m.Snapshot()
				return s.Applied == int64(len(recs)-bad) && s.DeadLetters == bad && committedToEnd(t, prod, group, topic)
			})
			requireRunning(t, c)
			require.NoError(t, c.Stop(context.Background()))

			require.Equal(t, bad, countRows(t, db.Pool, `SELECT count(*) FROM dead_letters WHERE topic = '`+topic+`' AND length(value) = `+strconv.Itoa(len(badValue(0)))))
			for i, p := range prices {
				k, err := catalog.NewStore(db.Pool).Get(context.Background(), int64(8000+i))
				require.NoError(t, err)
				require.Equal(t, p, k.Price)
			}
			if !tc.onTopic {
				require.Equal(t, int64(bad), m.Snapshot().DLQFailures, "each dead letter counted once as not on the topic")
				return
			}
			require.Zero(t, m.Snapshot().DLQFailures)
			got := consumeDLQ(t, b, dlq, bad)
			require.Len(t, got, bad)
			for _, r := range got {
				require.Equal(t, "true", header(r, HeaderByReference))
				require.Len(t, r.Value, DeadLetterPrefixBytes)
				require.Contains(t, header(r, HeaderReason), "invalid event")
			}
		})
	}
}

// The size cap is enforced before JSON decoding: a record over the limit is refused as too
// large whatever it holds (a valid event included), and one within it gets DecodeEvent's answer.
func FuzzDecodeRecordSizeCap(f *testing.F) {
	for _, s := range eventSamples {
		f.Add([]byte(nil), []byte(s.json), uint16(len(s.json)))
		f.Add([]byte("42"), []byte(s.json), uint16(len(s.json)-1))
	}
	f.Add([]byte("1"), []byte(`{"v":1,"event_id":`), uint16(3))
	f.Fuzz(func(t *testing.T, key, value []byte, limit uint16) {
		kr := &kgo.Record{Key: key, Value: value}
		d, err := decodeRecord(kr, int(limit), DecodeOptions{Now: testNow})
		size := len(key) + len(value)
		var tooLarge *RecordTooLargeError
		if size > int(limit) {
			if !errors.As(err, &tooLarge) || tooLarge.Size != size || tooLarge.Limit != int(limit) {
				t.Fatalf("a record of %d bytes over the limit %d: %v", size, limit, err)
			}
			if d.EventID != "" {
				t.Fatal("an oversized record was decoded")
			}
			return
		}
		if errors.As(err, &tooLarge) {
			t.Fatalf("a record of %d bytes within the limit %d refused as too large", size, limit)
		}
		want, werr := DecodeEvent(value, DecodeOptions{Now: testNow})
		if werr != nil {
			// Which of several unknown fields an error names may differ from call to call.
			if err == nil {
				t.Fatalf("DecodeEvent: %v, decodeRecord accepted it", werr)
			}
			return
		}
		var ve *ValidationError
		if len(key) > 0 && string(key) != strconv.FormatInt(want.SKUID, 10) {
			if !errors.As(err, &ve) || ve.Field != "key" {
				t.Fatalf("a key that is not the sku_id: %v", err)
			}
			return
		}
		if err != nil || fmt.Sprint(d) != fmt.Sprint(want) {
			t.Fatalf("decodeRecord differs from DecodeEvent: %v\n%+v\n%+v", err, d, want)
		}
	})
}

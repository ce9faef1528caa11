package ingest

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Finding 17 (the soak with a constant catalogue): the embedded broker kept every record of its
// topics, and kfake keeps an index entry in memory for each batch of its log, so the service's
// heap grew with every event (7 MiB per 330,000 events in the 5-minute soak, without bound). It
// now keeps each partition's newest EmbeddedRetentionBytes. The test produces 40 times the
// retention and checks that what the partition holds stays within the retention plus a batch,
// and that the newest records are all there.
func TestFinding17EmbeddedBrokerKeepsItsLogBounded(t *testing.T) {
	const retention = 64 << 10
	ctx := context.Background()
	b, err := startEmbeddedBroker(ctx, t.TempDir(), 0, retention, time.Hour) // the test applies it itself
	require.NoError(t, err)
	t.Cleanup(b.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.DefaultProduceTopic("bounded"),
		kgo.ProducerBatchCompression(kgo.NoCompression())) // the retention counts the log's bytes
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	require.NoError(t, EnsureTopics(ctx, cl, 1, "bounded"))

	value := []byte(strings.Repeat("x", 200))
	const perRound, rounds = 128, 100 // 12,800 records of 200 bytes: 2.5 MiB, 40 times the retention
	adm := kadm.NewClient(cl)
	held := func() (start, end int64) {
		so, err := adm.ListStartOffsets(ctx, "bounded")
		require.NoError(t, err)
		eo, err := adm.ListEndOffsets(ctx, "bounded")
		require.NoError(t, err)
		s, _ := so.Lookup("bounded", 0)
		e, _ := eo.Lookup("bounded", 0)
		require.NoError(t, s.Err)
		require.NoError(t, e.Err)
		return s.Offset, e.Offset
	}
	for round := range rounds {
		recs := make([]*kgo.Record, perRound)
		for i := range recs {
			recs[i] = &kgo.Record{Value: value}
		}
		require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
		b.cluster.ApplyRetention()
		start, end := held()
		require.Equal(t, int64((round+1)*perRound), end, "the newest records are all kept")
		// A record takes at least its value in the log; one batch more may stay.
		require.LessOrEqual(t, (end-start)*int64(len(value)), int64(retention+perRound*len(value)),
			"round %d: the partition holds %d records", round, end-start)
	}
}

// The embedded broker deletes what every consumer group reading a topic has consumed, but the
// newest keep records below the least commit: a group that lags holds the records it has not
// read, a topic no group reads keeps everything (the byte retention bounds it), and the
// consumer reads on from its commit.
func TestEmbeddedBrokerTrimsWhatEveryGroupConsumed(t *testing.T) {
	ctx := context.Background()
	b, err := startEmbeddedBroker(ctx, "", 0, EmbeddedRetentionBytes, time.Hour) // the test trims itself
	require.NoError(t, err)
	t.Cleanup(b.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.DefaultProduceTopic("trim"))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	require.NoError(t, EnsureTopics(ctx, cl, 2, "trim", "unread"))
	var recs []*kgo.Record
	for i := 0; i < 1000; i++ {
		recs = append(recs, &kgo.Record{Topic: []string{"trim", "unread"}[i%2], Partition: int32(i/2) % 2, Value: []byte(strconv.Itoa(i))})
	}
	cl2, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	t.Cleanup(cl2.Close)
	require.NoError(t, cl2.ProduceSync(ctx, recs...).FirstErr()) // 250 records in each partition
	adm := kadm.NewClient(cl)
	commit := func(group string, at int64) {
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "trim", Partition: 0, At: at})
		os.Add(kadm.Offset{Topic: "trim", Partition: 1, At: 250})
		_, err := adm.CommitOffsets(ctx, group, os)
		require.NoError(t, err)
	}
	commit("fast", 240)
	commit("slow", 100)
	del, err := trimConsumed(ctx, adm, 30)
	require.NoError(t, err)
	start, err := adm.ListStartOffsets(ctx, "trim", "unread")
	require.NoError(t, err)
	at := func(topic string, p int32) int64 {
		o, ok := start.Lookup(topic, p)
		require.True(t, ok)
		require.NoError(t, o.Err)
		return o.Offset
	}
	require.EqualValues(t, 70, at("trim", 0), "the slow group's commit, less 30 kept")
	require.EqualValues(t, 220, at("trim", 1))
	require.Zero(t, at("unread", 0), "no group reads it")
	require.Zero(t, at("unread", 1))
	require.Len(t, del, 1)

	// The slow group reads on from its commit.
	cons, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ConsumerGroup("slow"), kgo.ConsumeTopics("trim"))
	require.NoError(t, err)
	t.Cleanup(cons.Close)
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got := 0
	for got < 150 && fctx.Err() == nil {
		fs := cons.PollFetches(fctx)
		fs.EachRecord(func(r *kgo.Record) {
			if r.Partition == 0 {
				require.GreaterOrEqual(t, r.Offset, int64(100))
				got++
			}
		})
	}
	require.Equal(t, 150, got)
}

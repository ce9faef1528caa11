package ingest

import (
	"context"
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

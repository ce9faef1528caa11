package faults

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"selection/ingest"
)

// produced is what a test produced: each record's source as the consumer names it
// (kafka:<topic>/<partition>/<offset>), by partition.
type produced struct {
	sources []string
	offsets map[int32][]int64
}

func (p *produced) add(r *kgo.Record) {
	if p.offsets == nil {
		p.offsets = map[int32][]int64{}
	}
	p.sources = append(p.sources, "kafka:"+r.Topic+"/"+strconv.Itoa(int(r.Partition))+"/"+strconv.FormatInt(r.Offset, 10))
	p.offsets[r.Partition] = append(p.offsets[r.Partition], r.Offset)
}

// simulator makes the live stream of the fixture's catalogue (1.5% malformed records).
func simulator(t *testing.T, pool *pgxpool.Pool, seed uint64) *ingest.Simulator {
	t.Helper()
	cat, err := ingest.LoadSimCatalogue(context.Background(), pool, 0)
	require.NoError(t, err)
	s, err := ingest.NewSimulator(ingest.SimulatorConfig{Brokers: []string{"127.0.0.1:1"}, Catalogue: cat, Seed: seed})
	require.NoError(t, err)
	return s
}

// produceN produces n records of the simulator's stream synchronously and remembers them.
func produceN(t *testing.T, cl *kgo.Client, sim *ingest.Simulator, n int, into *produced) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for made := 0; made < n; {
		var batch []*kgo.Record
		for len(batch) < 500 && made < n {
			recs := sim.Next(time.Now())
			batch = append(batch, recs...)
			made += len(recs)
		}
		res := cl.ProduceSync(ctx, batch...)
		require.NoError(t, res.FirstErr())
		for _, r := range res {
			into.add(r.Record)
		}
	}
}

// stored counts the produced records that are in sku_events or dead_letters, and the rows of
// either table that name one of them more than once (the two tables together).
func stored(t *testing.T, pool *pgxpool.Pool, p *produced) (found, dup int64) {
	t.Helper()
	require.NoError(t, pool.QueryRow(context.Background(), `
		WITH s AS (SELECT source FROM sku_events UNION ALL SELECT source FROM dead_letters)
		SELECT count(DISTINCT source), count(*) - count(DISTINCT source) FROM s WHERE source = ANY($1)`,
		p.sources).Scan(&found, &dup))
	return found, dup
}

// storedAt reports which of the given offsets of a partition are stored.
func storedOffsets(t *testing.T, pool *pgxpool.Pool, topic string, partition int32) map[int64]bool {
	t.Helper()
	prefix := fmt.Sprintf("kafka:%s/%d/", topic, partition)
	rows, err := pool.Query(context.Background(), `
		SELECT substr(source, length($1) + 1)::bigint FROM sku_events WHERE starts_with(source, $1)
		UNION ALL SELECT substr(source, length($1) + 1)::bigint FROM dead_letters WHERE starts_with(source, $1)`, prefix)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var o int64
		require.NoError(t, rows.Scan(&o))
		out[o] = true
	}
	require.NoError(t, rows.Err())
	return out
}

// withBroker runs fn against the embedded broker on dir (what serve runs), then closes it.
func withBroker(t *testing.T, dir string, fn func(cl *kgo.Client)) {
	t.Helper()
	b, err := ingest.StartEmbeddedBroker(context.Background(), dir, 0)
	require.NoError(t, err)
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.DefaultProduceTopic(ingest.DefaultTopic), kgo.ProducerLinger(0))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, ingest.EnsureTopics(ctx, cl, ingest.DefaultPartitions, ingest.DefaultTopic, ingest.DefaultTopic+ingest.DLQSuffix))
	fn(cl)
}

// committed is the ingest group's committed offset per partition of the event topic.
func committed(t *testing.T, cl *kgo.Client) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, ingest.DefaultGroup)
	require.NoError(t, err)
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == ingest.DefaultTopic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out
}

// converged reports whether serve's in-memory indexes hold what the tables hold: the live
// SKUs of the tag index and the vectors of the vector index (the embedding queue drained).
func converged(t *testing.T, base string, pool *pgxpool.Pool) bool {
	t.Helper()
	m := metrics(t, base)
	live := count(t, pool, `SELECT count(*) FROM skus WHERE live`)
	vecs := count(t, pool, `SELECT count(*) FROM sku_vectors v JOIN skus s ON s.id = v.sku_id WHERE s.live`)
	queued := count(t, pool, `SELECT count(*) FROM embed_queue`)
	return queued == 0 && m["selection_index_live_skus"] == float64(live) && m["selection_index_vectors"] == float64(vecs)
}

// TestKill9MidIngest kills serve with SIGKILL while it works through a backlog of a known set
// of records on its embedded broker, and restarts it on the same data directory.
func TestKill9MidIngest(t *testing.T) {
	f := newFixture(t, 300)
	dir := f.env["SELECTION_KAFKA_DATA_DIR"]
	pool := f.db.Pool
	sim := simulator(t, pool, 17)
	const before, after = 8000, 2000
	var p produced
	// The backlog goes into the broker's data directory before serve starts.
	withBroker(t, dir, func(cl *kgo.Client) { produceN(t, cl, sim, before, &p) })

	// Small polls: many transactions, so the kill lands between and inside them.
	env := f.with("SELECTION_INGEST_POLL", "200")
	s := startServe(t, env)
	eventually(t, 90*time.Second, "a quarter of the backlog stored", func() bool {
		n, _ := stored(t, pool, &p)
		return n >= int64(len(p.sources))/4
	})
	s.kill()
	// A COMMIT the server had received when the client died still completes: let it.
	time.Sleep(time.Second)
	atKill, dupAtKill := stored(t, pool, &p)
	eventsAtKill := count(t, pool, `SELECT count(*) FROM sku_events WHERE starts_with(source, 'kafka:')`)
	t.Logf("killed serve (SIGKILL) with %d of %d records stored (%d duplicates)", atKill, len(p.sources), dupAtKill)
	require.Zero(t, dupAtKill)

	// What the killed process committed survived in the data directory, and every record
	// below a committed offset is stored (offsets are committed only after the database).
	var commits map[int32]int64
	withBroker(t, dir, func(cl *kgo.Client) {
		commits = committed(t, cl)
		produceN(t, cl, sim, after, &p) // traffic that arrives while serve is down
	})
	var below, reseen int64
	for part, offs := range p.offsets {
		have := storedOffsets(t, pool, ingest.DefaultTopic, part)
		for _, o := range offs {
			if o < commits[part] {
				below++
				require.True(t, have[o], "partition %d offset %d is below the committed offset %d but not stored", part, o, commits[part])
			} else if have[o] {
				reseen++ // stored but not committed: the restart sees it again
			}
		}
	}
	require.Positive(t, below, "the killed process committed offsets: %v", commits)
	t.Logf("committed offsets at the kill %v: %d records below them, %d stored past them", commits, below, reseen)

	start := time.Now()
	s = startServe(t, env)
	eventually(t, 120*time.Second, "every record stored", func() bool {
		n, _ := stored(t, pool, &p)
		return n == int64(len(p.sources))
	})
	caughtUp := time.Since(start)
	eventually(t, 90*time.Second, "indexes converged", func() bool { return converged(t, s.base, pool) })
	recovered := time.Since(start)
	require.Equal(t, 200, readyz(s.base))

	total, dup := stored(t, pool, &p)
	require.Equal(t, int64(len(p.sources)), total)
	require.Zero(t, dup, "a record stored twice")
	events := count(t, pool, `SELECT count(*) FROM sku_events WHERE starts_with(source, 'kafka:')`)
	dead := count(t, pool, `SELECT count(*) FROM dead_letters`)
	require.Equal(t, total, events+dead, "rows that are none of the produced records")
	m := metrics(t, s.base)
	applied := sumPrefix(m, "selection_ingest_events_applied_total")
	dups := m["selection_ingest_duplicate_events_total"]
	// The restart applied exactly the events not stored at the kill, and saw again at most
	// what was stored past the committed offsets: it resumed at the offsets, not the start.
	require.Equal(t, float64(events-eventsAtKill), applied)
	require.LessOrEqual(t, dups, float64(reseen))
	t.Logf("kill -9: produced %d (%d before the kill, %d while down), stored %d events + %d dead letters, duplicates in tables 0, "+
		"re-seen after restart %.0f (<= %d past the committed offsets); caught up %s after the restart, indexes converged %s",
		len(p.sources), before, after, events, dead, dups, reseen, caughtUp.Round(time.Millisecond), recovered.Round(time.Millisecond))
	s.stop(t)
}

func sumPrefix(m map[string]float64, name string) float64 {
	var sum float64
	for k, v := range m {
		if k == name || len(k) > len(name) && k[:len(name)] == name && k[len(name)] == '{' {
			sum += v
		}
	}
	return sum
}

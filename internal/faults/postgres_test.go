package faults

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"selection/api"
	"selection/ingest"
	"selection/internal/bench/soakbench"
	"selection/internal/testdb"
)

// liveProducer produces the simulator's stream at about rate records/s until stop, and
// remembers every record the broker acknowledged.
type liveProducer struct {
	mu   sync.Mutex
	p    produced
	err  error
	stop chan struct{}
	done chan struct{}
}

func startProducer(t *testing.T, brokers []string, sim *ingest.Simulator, rate int) *liveProducer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(ingest.DefaultTopic), kgo.ProducerLinger(0))
	require.NoError(t, err)
	lp := &liveProducer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(lp.done)
		defer cl.Close()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		per := max(1, rate/20)
		for {
			select {
			case <-lp.stop:
				return
			case <-tick.C:
			}
			var batch []*kgo.Record
			for len(batch) < per {
				batch = append(batch, sim.Next(time.Now())...)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			res := cl.ProduceSync(ctx, batch...)
			cancel()
			lp.mu.Lock()
			for _, r := range res {
				if r.Err == nil {
					lp.p.add(r.Record)
				} else if lp.err == nil {
					lp.err = r.Err
				}
			}
			lp.mu.Unlock()
		}
	}()
	return lp
}

// Stop stops producing and returns what was acknowledged.
func (lp *liveProducer) Stop(t *testing.T) *produced {
	t.Helper()
	close(lp.stop)
	<-lp.done
	require.NoError(t, lp.err)
	return &lp.p
}

// TestPostgresCutDuringIngestAndLoad cuts serve's every Postgres connection (and refuses new
// ones) for a few seconds while records stream in and clients use the API.
func TestPostgresCutDuringIngestAndLoad(t *testing.T) {
	f := newFixture(t, 300)
	proxy := testdb.NewProxy(t, hostPort(t, testdb.URL()))
	env := f.with("DATABASE_URL", withHostPort(t, f.db.URL(), proxy.Addr()),
		"SELECTION_INGEST_POLL", "500", "SELECTION_LOG_LEVEL", "warn")
	s := startServe(t, env)
	key, err := api.CreateKey(context.Background(), f.db.Pool, "faults", api.RolePlanner)
	require.NoError(t, err)

	sim := simulator(t, f.db.Pool, 23)
	prod := startProducer(t, []string{net.JoinHostPort("127.0.0.1", env["SELECTION_KAFKA_PORT"])}, sim, 400)
	load, err := soakbench.StartLoad(context.Background(), soakbench.LoadConfig{Base: s.base, Key: key, Clients: 4, Rate: 40})
	require.NoError(t, err)
	defer load.Stop()
	time.Sleep(3 * time.Second) // steady traffic before the fault
	before, _, _ := load.Stats()
	require.Positive(t, requests(before))

	proxy.Cut()
	cutAt := time.Now()
	unready := eventually(t, 30*time.Second, "/readyz unready while Postgres is cut off", func() bool { return readyz(s.base) == 503 })
	// Hold the cut until the clients have met it (503s) and at least 4 s have passed.
	eventually(t, 30*time.Second, "requests answered 503 during the cut", func() bool {
		st, _, _ := load.Stats()
		return status(st, 503) > status(before, 503) && time.Since(cutAt) > 4*time.Second
	})
	during, _, _ := load.Stats()
	proxy.Restore(t)
	restoredAt := time.Now()
	ready := eventually(t, 60*time.Second, "/readyz ready again", func() bool { return readyz(s.base) == 200 })
	time.Sleep(3 * time.Second) // traffic after the fault
	load.Stop()
	p := prod.Stop(t)
	require.False(t, s.exited(), "serve died")

	stats, bad, nbad := load.Stats()
	require.Zero(t, nbad, "answers other than 503 problem+json among the errors: %+v", bad)
	require.Positive(t, status(stats, 503)-status(before, 503))
	afterOK := status(stats, 200) + status(stats, 201) + status(stats, 204) - status(during, 200) - status(during, 201) - status(during, 204)
	require.Positive(t, afterOK, "requests succeed after the cut")

	// The consumer retried through the cut and lost nothing.
	caughtUp := eventually(t, 90*time.Second, "every record stored", func() bool {
		n, _ := stored(t, f.db.Pool, p)
		return n == int64(len(p.sources))
	})
	total, dup := stored(t, f.db.Pool, p)
	require.Zero(t, dup)
	dead := count(t, f.db.Pool, `SELECT count(*) FROM dead_letters`)
	m := metrics(t, s.base)
	require.Positive(t, m["selection_ingest_retries_total"], "the consumer met the cut and retried")
	// The followers (tag index, vector index, lexical) reconnected: the indexes converge on
	// the tables, which changed during and after the cut.
	converge := eventually(t, 90*time.Second, "indexes converged", func() bool { return converged(t, s.base, f.db.Pool) })
	require.NotContains(t, s.stderr.String(), "panic")
	t.Logf("postgres cut %s: /readyz unready after %s, ready %s after the restore; %d API requests (%d answered 503, 0 other 5xx); "+
		"produced %d, stored %d (%d dead letters), duplicates 0, consumer retries %.0f; caught up %s and indexes converged %s later",
		restoredAt.Sub(cutAt).Round(time.Millisecond), unready.Round(time.Millisecond), ready.Round(time.Millisecond),
		requests(stats), status(stats, 503), len(p.sources), total, dead, m["selection_ingest_retries_total"],
		caughtUp.Round(time.Millisecond), converge.Round(time.Millisecond))
	for _, r := range stats {
		t.Logf("  %-28s %5d requests %v", r.Route, r.Requests, r.ByStatus)
	}
	s.stop(t)
	require.False(t, strings.Contains(s.stderr.String(), "panic"))
}

func requests(st []soakbench.RouteStats) int {
	n := 0
	for _, r := range st {
		n += r.Requests
	}
	return n
}

func status(st []soakbench.RouteStats, code int) int {
	n := 0
	for _, r := range st {
		n += r.ByStatus[code]
	}
	return n
}

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"selection/ingest"
	"selection/internal/bench/soakbench"
)

const replicaKey = "sk_replicas_test_key_0123456789"

// replicaAPI calls a replica's API with the planner key and decodes a 2xx answer into out.
func replicaAPI(t *testing.T, base, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", replicaKey)
	req.Header.Set("Content-Type", "application/json")
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode/100 == 2 && out != nil {
		require.NoError(t, json.Unmarshal(b, out), string(b))
	}
	return resp.StatusCode
}

// searchAnswer is what POST /v1/search answers, without its timings: what must be the same
// on every replica.
type searchAnswer struct {
	Items      []json.RawMessage `json:"items"`
	Candidates uint64            `json:"candidates"`
	Matched    uint64            `json:"matched"`
	Stop       string            `json:"stop"`
	Method     string            `json:"method"`
	Plan       json.RawMessage   `json:"plan"` // with its intent, when it has one
}

func search(t *testing.T, base string, body map[string]any) string {
	t.Helper()
	var a searchAnswer
	require.Equal(t, 200, replicaAPI(t, base, "POST", "/v1/search", body, &a), "%v", body)
	b, err := json.Marshal(a)
	require.NoError(t, err)
	return string(b)
}

// planOf is a replica's plan of a scenario without its intent (see TestTwoReplicas).
func planOf(t *testing.T, base, scenario string) map[string]any {
	t.Helper()
	var resp struct {
		Plan map[string]any `json:"plan"`
	}
	require.Equal(t, 200, replicaAPI(t, base, "POST", "/v1/plan", map[string]any{"scenario": scenario}, &resp))
	delete(resp.Plan, "intent")
	return resp.Plan
}

// groupShare is the number of partitions of the event topic assigned to each member of the
// ingest group, by member id.
func groupShare(t *testing.T, adm *kadm.Client) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gs, err := adm.DescribeGroups(ctx, ingest.DefaultGroup)
	require.NoError(t, err)
	out := map[string]int{}
	g := gs[ingest.DefaultGroup]
	if g.State != "Stable" {
		return nil // a rebalance is under way
	}
	for _, m := range g.Members {
		out[m.MemberID] = 0
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, tp := range c.Topics {
				if tp.Topic == ingest.DefaultTopic {
					out[m.MemberID] += len(tp.Partitions)
				}
			}
		}
	}
	return out
}

// sameAnswer asks both replicas POST /v1/search with body until they answer alike or limit
// passes, and returns the last two answers.
func sameAnswer(t *testing.T, replicas []*proc, body map[string]any, limit time.Duration) (string, string) {
	t.Helper()
	start := time.Now()
	for {
		ans := [2]string{search(t, replicas[0].base, body), search(t, replicas[1].base, body)}
		if ans[0] == ans[1] || time.Since(start) > limit {
			return ans[0], ans[1]
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// consumed is what a replica's consumer took from Kafka: events applied, duplicates and dead
// letters.
func consumed(t *testing.T, base string) float64 {
	t.Helper()
	m := metrics(t, base)
	return sumPrefix(m, "selection_ingest_events_applied_total") + m["selection_ingest_duplicate_events_total"] +
		sumPrefix(m, "selection_ingest_dead_letters_total")
}

// TestTwoReplicas runs two serve processes on one schema and one Kafka cluster (kfake, in the
// test, 4 partitions), with the default SELECTION_POOL_REFRESH_TAKEOVER (2 s; pools refresh
// every 3 s) and a 6 s group session: the group splits the partitions between them, both plan
// alike and answer the same plan alike, also within a bounded wait after a write, exactly one
// runs the pool refresher, and when that one is killed (SIGKILL) the other takes the
// refresher over within 10 s and, once the group has expired the dead member, consumes every
// partition. Without the lease both replicas refreshed pools.
func TestTwoReplicas(t *testing.T) {
	f := newFixture(t, 300)
	pool := f.db.Pool
	const partitions = 4
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, ingest.DefaultTopic, ingest.DefaultTopic+ingest.DLQSuffix))
	require.NoError(t, err)
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic(ingest.DefaultTopic), kgo.ProducerLinger(0))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)

	env := f.with("SELECTION_KAFKA_BROKERS", cluster.ListenAddrs()[0], "SELECTION_KAFKA_SESSION_TIMEOUT", "6s",
		"SELECTION_API_KEYS", "replicas:planner:"+replicaKey, "SELECTION_POOL_REFRESH", "3s",
		"SELECTION_KAFKA_DATA_DIR", "", "SELECTION_KAFKA_PORT", "")
	replicas := []*proc{startServe(t, env), startServe(t, env)}

	// The group splits the partitions: two members, each with some, all of them assigned.
	eventually(t, 60*time.Second, "both replicas in the group with partitions", func() bool {
		share := groupShare(t, adm)
		total := 0
		for _, n := range share {
			if n == 0 {
				return false
			}
			total += n
		}
		return len(share) == 2 && total == partitions
	})
	share := groupShare(t, adm)
	sim := simulator(t, pool, 17)
	var p produced
	produceN(t, cl, sim, 2000, &p)
	eventually(t, 60*time.Second, "every record stored", func() bool {
		n, _ := stored(t, pool, &p)
		return n == int64(len(p.sources))
	})
	took := []float64{consumed(t, replicas[0].base), consumed(t, replicas[1].base)}
	require.Positive(t, took[0], "replica 0 consumed nothing")
	require.Positive(t, took[1], "replica 1 consumed nothing")
	t.Logf("group: partitions per member %v; of %d records replica 0 consumed %.0f, replica 1 %.0f", share, len(p.sources), took[0], took[1])

	// Both replicas converge on the tables, then answer every scenario alike.
	for _, r := range replicas {
		eventually(t, 60*time.Second, "indexes converged on "+r.base, func() bool { return converged(t, r.base, pool) })
	}
	typed := 0
	for _, sc := range soakbench.Scenarios {
		// The plan without its intent (the intent's types and confidence are the index's
		// product types: see below): filter, words and ranking, the same on both, and answered
		// alike from every index the replicas follow from Postgres.
		plain := planOf(t, replicas[0].base, sc)
		require.Equal(t, plain, planOf(t, replicas[1].base, sc), "the replicas plan %q differently", sc)
		a, b := sameAnswer(t, replicas, map[string]any{"plan": plain, "limit": 20}, 10*time.Second)
		require.Equal(t, a, b, "the same plan of %q answers differently on the two replicas", sc)
		// With its intent: the plan's types and the answer depend on the product types, which
		// every replica takes from the one stored model and the leader's stored votes.
		a, b = sameAnswer(t, replicas, map[string]any{"scenario": sc, "limit": 20}, 2*time.Second)
		require.Equal(t, a, b, "the scenario %q answers differently on the two replicas", sc)
		if bytes.Contains([]byte(a), []byte(`"intent"`)) {
			typed++
		}
	}
	t.Logf("of %d scenarios: every plan and every answer alike on both replicas, %d of them with an intent", len(soakbench.Scenarios), typed)

	// A write through Kafka: a SKU's new title. Whichever replica applies it, both answer the
	// same with it (a plan without intent, as above) within a bounded wait.
	var sku int64
	var market string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT id, market FROM skus WHERE live ORDER BY id LIMIT 1`).Scan(&sku, &market))
	title := "Zorblax quantum gizmo"
	ev, err := ingest.NewEvent("replicas-title-1", ingest.KindUpsert, sku, market, time.Now(), ingest.UpsertData{Title: &title})
	require.NoError(t, err)
	val, err := ev.Marshal()
	require.NoError(t, err)
	require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(strconv.FormatInt(sku, 10)), Value: val}).FirstErr())
	query := map[string]any{"plan": planOf(t, replicas[0].base, "zorblax"), "limit": 20}
	var written time.Time
	eventually(t, 30*time.Second, "the new title stored", func() bool {
		return pool.QueryRow(context.Background(), `SELECT updated_at FROM skus WHERE id = $1 AND title = $2`, sku, title).Scan(&written) == nil
	})
	var same string
	eventually(t, 10*time.Second, "both replicas answer alike with the new title", func() bool {
		a, b := search(t, replicas[0].base, query), search(t, replicas[1].base, query)
		same = a
		return a == b && bytes.Contains([]byte(a), []byte(`"sku_id":"`+strconv.FormatInt(sku, 10)+`"`))
	})
	alike := time.Since(written)
	eventually(t, 30*time.Second, "the new title embedded", func() bool {
		return count(t, pool, `SELECT count(*) FROM embed_queue WHERE sku_id = $1`, sku) == 0
	})
	eventually(t, 10*time.Second, "both replicas answer alike with the new vector", func() bool {
		a, b := search(t, replicas[0].base, query), search(t, replicas[1].base, query)
		same = a
		return a == b && converged(t, replicas[0].base, pool) && converged(t, replicas[1].base, pool)
	})
	withVector := time.Since(written)
	require.Contains(t, same, title)
	t.Logf("a title written through Kafka: both replicas answered alike with it %s after its commit, and with its new vector %s after",
		alike.Round(time.Millisecond), withVector.Round(time.Millisecond))

	// Exactly one replica runs the pool refresher; it refreshes the pool, the other does not.
	var created struct {
		ID string `json:"id"`
	}
	require.Equal(t, 201, replicaAPI(t, replicas[0].base, "POST", "/v1/pools", map[string]any{"name": "replicas", "scenario": soakbench.Scenarios[2]}, &created))
	leaderOf := func(r *proc) float64 { return metrics(t, r.base)["selection_pool_refresh_leader"] }
	refreshes := func(r *proc) float64 { return sumPrefix(metrics(t, r.base), "selection_pool_refreshes_total") }
	var lead, other *proc
	eventually(t, 30*time.Second, "one replica holds the refresher's lease and refreshes", func() bool {
		l0, l1 := leaderOf(replicas[0]), leaderOf(replicas[1])
		switch {
		case l0 == 1 && l1 == 0:
			lead, other = replicas[0], replicas[1]
		case l1 == 1 && l0 == 0:
			lead, other = replicas[1], replicas[0]
		default:
			return false
		}
		return refreshes(lead) >= 2
	})
	require.Zero(t, refreshes(other), "the replica without the lease refreshed pools")
	require.Equal(t, float64(0), leaderOf(other))

	// Kill the refresher's replica: the other takes the lease over within 10 s and refreshes.
	before := consumed(t, other.base)
	lead.kill()
	killed := time.Now()
	failover := eventually(t, 10*time.Second, "the survivor holds the lease", func() bool { return leaderOf(other) == 1 })
	eventually(t, 10*time.Second, "the survivor refreshes pools", func() bool { return refreshes(other) > 0 })
	// The survivor consumes everything produced after the kill, once the group has expired the
	// dead member (the 6 s session timeout) and given it every partition.
	var after produced
	produceN(t, cl, sim, 1000, &after)
	eventually(t, 60*time.Second, "the survivor alone in the group with every partition", func() bool {
		s := groupShare(t, adm)
		return len(s) == 1 && func() bool {
			for _, n := range s {
				return n == partitions
			}
			return false
		}()
	})
	regrouped := time.Since(killed)
	eventually(t, 60*time.Second, "every record produced after the kill stored", func() bool {
		n, _ := stored(t, pool, &after)
		return n == int64(len(after.sources))
	})
	caughtUp := time.Since(killed)
	require.GreaterOrEqual(t, consumed(t, other.base)-before, float64(len(after.sources)))
	_, dup := stored(t, pool, &p)
	require.Zero(t, dup)
	require.Equal(t, 200, readyz(other.base))
	t.Logf("killed the refresher's replica: the survivor held the lease %s later, had all %d partitions %s later, and had stored the %d records produced after the kill %s later",
		failover.Round(time.Millisecond), partitions, regrouped.Round(time.Millisecond), len(after.sources), caughtUp.Round(time.Millisecond))
	other.stop(t)
}

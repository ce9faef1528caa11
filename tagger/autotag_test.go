package tagger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	pgvector "github.com/pgvector/pgvector-go"
	"github.com/stretchr/testify/require"
	"github.com/tmc/langchaingo/llms/fake"

	"selection/catalog"
	"selection/filter"
	"selection/internal/testdb"
	"selection/vectorindex"
)

// clusteredCatalog loads n SKUs in three topics (mice, printers, coffee), each with a vector
// near its topic's direction, into the schema and an in-memory vector index.
func clusteredCatalog(t *testing.T, db *testdb.DB, n int) (*vectorindex.Index, [][]float32, map[int64]int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 3))
	const dim = 512
	centres := make([][]float32, 3)
	for c := range centres {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		centres[c] = normalize(v)
	}
	words := [][]string{{"wireless", "gaming", "mouse"}, {"laser", "printer", "toner"}, {"espresso", "coffee", "machine"}}
	topic := map[int64]int{}
	var patches []catalog.Patch
	for i := 0; i < n; i++ {
		id := int64(1000 + i)
		c := i % 3
		topic[id] = c
		p := skuPatch(id, []string{"Logitech", "HP", "DeLonghi"}[c], 1000, t0)
		p.Title = fmt.Sprintf("%s %s %s model %d", words[c][0], words[c][1], words[c][2], i)
		patches = append(patches, p)
	}
	applyWithEvent(t, db, patches)
	return nil, centres, topic
}

// putTopicVectors puts each SKU's vector, near its topic's centre, into vi; it returns the
// random source, for vectors to come.
func putTopicVectors(t *testing.T, tg *Tagger, vi *vectorindex.Index, centres [][]float32, topic map[int64]int, seed uint64) *rand.Rand {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	for id, c := range topic {
		o, ok := tg.Index().Ordinal(id)
		require.True(t, ok)
		require.NoError(t, vi.Put(o, id, noisy(rng, centres[c], 0.03)))
	}
	return rng
}

// loadedTagger is a tagger over db with an exact in-memory vector index, loaded, that polls
// every 50 ms and never saves a snapshot.
func loadedTagger(t *testing.T, db *testdb.DB) (*Tagger, *vectorindex.Index) {
	t.Helper()
	vi, err := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Exact: true})
	require.NoError(t, err)
	tg, err := New(db.Pool, vi, nil, Config{PollInterval: 50 * time.Millisecond, SaveInterval: -1})
	require.NoError(t, err)
	_, err = tg.Load(context.Background())
	require.NoError(t, err)
	return tg, vi
}

// pollWithSync polls with the tag sync due now (it runs at most every tagSyncInterval).
func pollWithSync(t *testing.T, tg *Tagger) {
	t.Helper()
	tg.mu.Lock()
	tg.lastSync = time.Time{}
	tg.mu.Unlock()
	_, err := tg.Poll(context.Background())
	require.NoError(t, err)
}

func noisy(rng *rand.Rand, centre []float32, noise float64) []float32 {
	v := make([]float32, len(centre))
	for i := range v {
		v[i] = centre[i] + float32(noise*rng.NormFloat64())
	}
	return normalize(v)
}

// Discovery finds the three topics and names them from their titles, by TF-IDF and through an
// LLM (langchaingo's fake model); a propagated tag spreads from a few seeds to their topic; a
// new SKU is tagged when its vector arrives.
func TestDiscoverPropagateAndTagOnArrival(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	_, centres, topic := clusteredCatalog(t, db, 300)
	tg, vi := loadedTagger(t, db)
	rng := putTopicVectors(t, tg, vi, centres, topic, 4)

	made, err := tg.Discover(ctx, DiscoverOptions{Family: "topics", Clusters: 3})
	require.NoError(t, err)
	require.Len(t, made, 3)
	names := map[string]bool{}
	for _, m := range made {
		names[m.Name] = true
		n, err := tg.Index().Count(filter.Tag(m.Name))
		require.NoError(t, err)
		require.EqualValues(t, 100, n, m.Name)
		require.Equal(t, "tfidf", m.Definition.NamedBy)
	}
	// every topic's three words name its cluster (they are in every title of it, in no other)
	for _, want := range []string{"topics/coffee-espresso-machine", "topics/gaming-mouse-wireless", "topics/laser-printer-toner"} {
		require.True(t, names[want], "missing %s in %v", want, names)
	}

	// The LLM path: the fake model's answers become the names; an unusable answer falls back.
	llm := fake.NewFakeLLM([]string{"Gaming Mice", "\"Laser Printers\"\nbecause...", ""})
	made, err = tg.Discover(ctx, DiscoverOptions{Family: "llm", Clusters: 3, LLM: llm})
	require.NoError(t, err)
	var byLLM, byTFIDF int
	for _, m := range made {
		switch m.Definition.NamedBy {
		case "llm":
			byLLM++
			require.Contains(t, []string{"llm/gaming-mice", "llm/laser-printers"}, m.Name)
		case "tfidf":
			byTFIDF++
		}
	}
	require.Equal(t, 2, byLLM)
	require.Equal(t, 1, byTFIDF)

	// Another process (the service) that loaded before these tags existed picks them up with
	// the members this one saved, without vectors of its own.
	other, err := New(db.Pool, nil, nil, Config{SaveInterval: -1})
	require.NoError(t, err)
	_, err = other.Load(ctx)
	require.NoError(t, err)
	syncNow := func() { pollWithSync(t, other) }
	defer func() {
		// ... and leaves them when they are deleted.
		require.NoError(t, tg.Delete(ctx, "llm/gaming-mice"))
		syncNow()
		require.False(t, other.Index().HasTag("llm/gaming-mice"))
		require.True(t, other.Index().HasTag("mice"))
	}()

	// Propagation from 5 mice seeds (by id) to the other mice, with confidences.
	var seeds []int64
	for id, c := range topic {
		if c == 0 && len(seeds) < 5 {
			seeds = append(seeds, id)
		}
	}
	ref := filter.Attr("brand", "Logitech", "HP") // mice and printers vote
	_, err = tg.Define(ctx, TagDef{Name: "mice", Kind: KindPropagated,
		Definition: Definition{SeedIDs: seeds, Reference: &ref, K: 5}})
	require.NoError(t, err)
	mice, err := tg.Index().Eval(filter.Tag("mice"))
	require.NoError(t, err)
	// 5 seeds only: the 5 nearest voters of a mouse are mostly other (unseeded) mice, so the
	// seeds' share decides; every member must be a mouse.
	for _, id := range tg.Index().SKUIDs(mice, 0) {
		require.Equal(t, 0, topic[id], "sku %d", id)
	}
	require.GreaterOrEqual(t, mice.GetCardinality(), uint64(5))
	require.False(t, other.Index().HasTag("mice"))
	syncNow()
	for _, name := range []string{"mice", "topics/gaming-mouse-wireless", "llm/gaming-mice"} {
		want, err := tg.Index().Eval(filter.Tag(name))
		require.NoError(t, err)
		got, err := other.Index().Eval(filter.Tag(name))
		require.NoError(t, err, name)
		require.True(t, want.Equals(got), "%s: %d members here, %d there", name, want.GetCardinality(), got.GetCardinality())
	}

	// Define a rule over a discovered tag; then a new mouse arrives: its event, then its vector.
	rule := filter.And(filter.Tag("topics/gaming-mouse-wireless"), filter.Below("price", 5000))
	_, err = tg.Define(ctx, TagDef{Name: "cheap-mice", Kind: KindRule, Definition: Definition{Rule: &rule}})
	require.NoError(t, err)
	require.NoError(t, tg.Start(ctx))
	defer func() { require.NoError(t, tg.Stop(ctx)) }()
	newID := int64(99_999)
	p := skuPatch(newID, "Logitech", 900, t0)
	p.Title = "wireless gaming mouse model new"
	applyWithEvent(t, db, []catalog.Patch{p})
	var o int64
	require.Eventually(t, func() bool {
		var ok bool
		o, ok = tg.Index().Ordinal(newID)
		return ok
	}, 30*time.Second, 10*time.Millisecond)
	v := noisy(rng, centres[0], 0.03)
	require.NoError(t, vi.Put(o, newID, v))
	var hash []byte
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT content_hash FROM skus WHERE id = $1`, newID).Scan(&hash))
	_, err = db.Pool.Exec(ctx, `INSERT INTO sku_vectors (sku_id, ordinal, model, content_hash, embedding)
		VALUES ($1, $2, 'test', $3, $4)`, newID, o, hash, pgvector.NewVector(v))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		ex, err := tg.Explain(ctx, "topics/gaming-mouse-wireless", newID)
		return err == nil && ex.Member
	}, 30*time.Second, 10*time.Millisecond, "the new SKU did not join its cluster")
	// the rule tag over the discovered tag follows on the next change of the SKU
	p2 := p
	p2.Fields = catalog.FieldPrice | catalog.FieldCurrency
	p2.Price, p2.PriceAt = 800, t0.Add(time.Minute)
	applyWithEvent(t, db, []catalog.Patch{p2})
	require.Eventually(t, func() bool {
		ex, err := tg.Explain(ctx, "cheap-mice", newID)
		return err == nil && ex.Member
	}, 30*time.Second, 10*time.Millisecond)
	ex, err := tg.Explain(ctx, "topics/gaming-mouse-wireless", newID)
	require.NoError(t, err)
	require.True(t, strings.Contains(ex.Why, "nearest"), ex.Why)

	// A propagated tag whose scope names a tag that is gone (a delete that raced its define,
	// written here directly) does not stall the polls: the other tags keep following.
	_, err = db.Pool.Exec(ctx, `INSERT INTO tags (name, kind, definition) VALUES
		('dangling', 'rule', '{"rule": {"tag": "gone"}}'),
		('scoped', 'propagated', $1)`, fmt.Sprintf(`{"seed_ids": [%d], "scope": {"tag": "dangling"}}`, seeds[0]))
	require.NoError(t, err)
	pollWithSync(t, tg)
	require.False(t, tg.Index().HasTag("dangling"))
	require.False(t, tg.Index().HasTag("scoped"), "left out, not held empty")
	require.NoError(t, tg.Rebuild(ctx, "topics/gaming-mouse-wireless"), "a rebuild goes past the broken tag")
	require.False(t, tg.Index().HasTag("scoped"))
	p3 := p
	p3.Fields = catalog.FieldPrice | catalog.FieldCurrency
	p3.Price, p3.PriceAt = 9000, t0.Add(2*time.Minute)
	applyWithEvent(t, db, []catalog.Patch{p3})
	require.Eventually(t, func() bool {
		ex, err := tg.Explain(ctx, "cheap-mice", newID)
		return err == nil && !ex.Member
	}, 30*time.Second, 10*time.Millisecond, "polls go on past the broken definition")
}

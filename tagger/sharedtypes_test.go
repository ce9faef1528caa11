package tagger

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/filter"
	"selection/internal/testdb"
	"selection/prodtype"
	"selection/vectorindex"
)

// Two taggers on one database, as two replicas run them: they classify with the one stored
// model; only the leader votes on the types of SKUs whose text names none, and the other
// applies its votes (the same type for the same SKU on both); a restarted leader keeps the
// stored votes instead of voting again; a newer stored model makes the others reload; when the
// leader changes, the new one votes.
func TestSharedTypesAcrossReplicas(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	centres, topic := miceAndPrinters(t, db, 4)

	var lead [2]atomic.Bool
	lead[0].Store(true)
	replica := func(i int) (*Tagger, *vectorindex.Index) {
		vi, err := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Exact: true})
		require.NoError(t, err)
		tg, err := New(db.Pool, vi, nil, Config{PollInterval: 50 * time.Millisecond, SaveInterval: -1, Leader: lead[i].Load})
		require.NoError(t, err)
		_, err = tg.Load(ctx)
		require.NoError(t, err)
		return tg, vi
	}
	a, va := replica(0)
	b, vb := replica(1)
	models := func() int {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM type_models`).Scan(&n))
		return n
	}
	require.Equal(t, 1, models(), "the second replica loads the first one's model")
	require.Equal(t, a.store.types.modelID, b.store.types.modelID)

	// A rule tag on the type, defined before the votes: the voted SKUs join it.
	_, err := a.Define(ctx, TagDef{Name: "printers", Kind: KindRule, Definition: Definition{Rule: ptr(filter.Attr("product_type", "printer"))}})
	require.NoError(t, err)
	pollWithSync(t, b)

	// Vectors arrive on both (each replica follows sku_vectors into its own index).
	putTopicVectors(t, a, va, centres, topic, 7)
	putTopicVectors(t, b, vb, centres, topic, 7)
	_, err = b.Poll(ctx)
	require.NoError(t, err)
	require.Equal(t, "", b.TypeOfSKU(6000), "the follower does not vote")
	_, err = a.Poll(ctx)
	require.NoError(t, err)
	require.Equal(t, "printer", a.TypeOfSKU(6000))
	_, err = b.Poll(ctx)
	require.NoError(t, err)
	for i := 0; i < 4; i++ {
		id := int64(6000 + i)
		require.Equal(t, "printer", b.TypeOfSKU(id), "the leader's vote for %d applied on the follower", id)
	}
	for _, tg := range []*Tagger{a, b} {
		bm, err := tg.Index().Eval(filter.Tag("printers"))
		require.NoError(t, err)
		o, _ := tg.Index().Ordinal(6000)
		require.True(t, bm.Contains(uint64(o)), "a voted printer is in the rule tag on product_type")
	}
	ex, err := b.ExplainType(ctx, 6001)
	require.NoError(t, err)
	require.Equal(t, prodtype.SourceNeighbour, ex.Source)
	var votes int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM sku_types`).Scan(&votes))
	require.Equal(t, 4, votes)

	// A restarted leader keeps the stored votes: typed at load, before its vectors are back.
	a2, _ := replica(0)
	require.Equal(t, "printer", a2.TypeOfSKU(6002))

	// A SKU whose text now names a type leaves its vote.
	p := skuPatch(6003, "HP", 30000, t0.Add(time.Minute))
	p.Title = "HP ZX-9003 mouse USB"
	p.Fields = catalog.FieldTitle
	applyWithEvent(t, db, []catalog.Patch{p})
	_, err = b.Poll(ctx)
	require.NoError(t, err)
	require.Equal(t, "mouse", b.TypeOfSKU(6003))

	// A newer model stored (another replica learned one): the follower reloads with it.
	var newest int64
	require.NoError(t, db.Pool.QueryRow(ctx, `INSERT INTO type_models (skus, model) SELECT skus, model FROM type_models ORDER BY id DESC LIMIT 1 RETURNING id`).Scan(&newest))
	b.mu.Lock()
	b.lastModelCheck = time.Time{}
	b.mu.Unlock()
	_, err = b.Poll(ctx)
	require.NoError(t, err)
	require.Equal(t, newest, b.store.types.modelID)
	require.Equal(t, "", b.TypeOfSKU(6000), "the votes of the old model do not apply")

	// The other replica becomes the leader: it votes under the new model.
	lead[0].Store(false)
	lead[1].Store(true)
	_, err = b.Poll(ctx)
	require.NoError(t, err)
	require.Equal(t, "printer", b.TypeOfSKU(6000))
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM sku_types WHERE model_id = $1`, newest).Scan(&votes))
	require.Equal(t, 3, votes)
}

// A leader started over an empty catalogue stores an empty model; once SKUs arrive, a poll
// learns and stores a model that knows their types, and types them.
func TestTypeModelLearnedWhenTheCatalogueArrives(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	tg, err := New(db.Pool, nil, nil, Config{PollInterval: 50 * time.Millisecond, SaveInterval: -1})
	require.NoError(t, err)
	_, err = tg.Load(ctx)
	require.NoError(t, err)
	require.Zero(t, tg.TypeModel().Len())
	mice(t, db, 6)
	_, err = tg.Poll(ctx)
	require.NoError(t, err)
	require.Equal(t, "", tg.TypeOfSKU(7000), "not yet checked")
	tg.mu.Lock()
	tg.lastModelCheck = time.Time{}
	tg.mu.Unlock()
	_, err = tg.Poll(ctx)
	require.NoError(t, err)
	require.Equal(t, "mouse", tg.TypeOfSKU(7000))
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM type_models`).Scan(&n))
	require.Equal(t, 1, n, "the empty model is replaced, not kept beside")
}

// A saved index snapshot is used only with the product-type model its types were made with.
func TestSnapshotFollowsTheTypeModel(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	mice(t, db, 6)
	load := func() string {
		tg, err := New(db.Pool, nil, nil, Config{PollInterval: 50 * time.Millisecond, SaveInterval: -1})
		require.NoError(t, err)
		how, err := tg.Load(ctx)
		require.NoError(t, err)
		tg.mu.Lock()
		_, err = tg.saveLocked(ctx, true)
		tg.mu.Unlock()
		require.NoError(t, err)
		return how
	}
	require.Equal(t, "skus", load(), "no snapshot yet")
	require.Equal(t, "snapshot", load(), "saved with the same model")
	_, err := db.Pool.Exec(ctx, `INSERT INTO type_models (skus, model) SELECT skus, model FROM type_models ORDER BY id DESC LIMIT 1`)
	require.NoError(t, err)
	require.Equal(t, "skus", load(), "a newer model: its types are made again")
	require.Equal(t, "snapshot", load())
}

// A model stored by an older learner (no "learner" in its JSON) is learned again at the next
// load, and replaces the old one.
func TestOlderLearnerIsRelearned(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	mice(t, db, 6)
	var live int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM skus WHERE live`).Scan(&live))
	_, err := db.Pool.Exec(ctx, `INSERT INTO type_models (skus, model) VALUES ($1, $2)`, live,
		`{"config":{},"units":[],"properties":[],"types":[{"name":"gadget","head":"gadget","count":3,"kind":"product"}]}`)
	require.NoError(t, err)
	tg, err := New(db.Pool, nil, nil, Config{PollInterval: 50 * time.Millisecond, SaveInterval: -1})
	require.NoError(t, err)
	_, err = tg.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, prodtype.LearnerVersion, tg.TypeModel().Learner())
	_, old := tg.TypeModel().Type("gadget")
	require.False(t, old, "the old model's vocabulary is gone")
	require.Equal(t, "mouse", tg.TypeOfSKU(7000))
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM type_models`).Scan(&n))
	require.Equal(t, 1, n)
}

package tagger

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tmc/langchaingo/llms/fake"

	"selection/catalog"
	"selection/filter"
	"selection/internal/testdb"
	"selection/vectorindex"
)

// Delete removes a tag from the database and the index, in any case of its name, and refuses
// while another tag's definition or a referrer outside the tagger (the service's pools) names it.
func TestDeleteRefusesTagsInUse(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	var patches []catalog.Patch
	for i := int64(1); i <= 30; i++ {
		patches = append(patches, skuPatch(i, []string{"Logitech", "Razer"}[i%2], 1000*i, t0))
	}
	applyWithEvent(t, db, patches)
	pools := map[string][]string{}
	tg, err := New(db.Pool, nil, nil, Config{SaveInterval: -1, Referrers: func(_ context.Context, _ Querier, tag string) ([]string, error) {
		if tag == "boom" {
			return nil, errors.New("pools unreadable")
		}
		return pools[tag], nil
	}})
	require.NoError(t, err)
	_, err = tg.Load(ctx)
	require.NoError(t, err)
	define := func(name, rule string) {
		e, err := filter.ParseExpr(rule)
		require.NoError(t, err)
		_, err = tg.Define(ctx, TagDef{Name: name, Kind: KindRule, Definition: Definition{Rule: &e}})
		require.NoError(t, err)
	}
	define("Cheap", "price < 10000")
	define("cheap-razer", "tag = cheap and brand = Razer")
	define("boom", "price > 29000")
	e, err := filter.ParseExpr("price < 5")
	require.NoError(t, err)
	_, err = tg.Define(ctx, TagDef{Name: "CHEAP", Kind: KindRule, Definition: Definition{Rule: &e}})
	require.ErrorContains(t, err, "already exists", "names differ only in case")

	err = tg.Delete(ctx, "cheap")
	require.ErrorIs(t, err, ErrInUse)
	require.ErrorContains(t, err, "tag cheap-razer")
	pools["cheap-razer"] = []string{`pool "razer deals" (id 7)`}
	err = tg.Delete(ctx, "cheap-razer")
	require.ErrorIs(t, err, ErrInUse)
	require.ErrorContains(t, err, `pool "razer deals" (id 7)`)
	require.ErrorContains(t, tg.Delete(ctx, "boom"), "pools unreadable")
	require.ErrorIs(t, tg.Delete(ctx, "nosuch"), ErrNotFound)

	delete(pools, "cheap-razer")
	require.NoError(t, tg.Delete(ctx, "CHEAP-RAZER"))
	require.NoError(t, tg.Delete(ctx, "cheap"), "nothing refers to it any more")
	_, err = tg.Index().Count(filter.Tag("cheap"))
	require.ErrorIs(t, err, filter.ErrUnknownTag)
	tags, err := tg.Store().Tags(ctx)
	require.NoError(t, err)
	require.Len(t, tags, 1)
	require.Equal(t, "boom", tags[0].Name)
}

// A rediscovery replaces a family's tags (their names change), so it is refused, all or none,
// while a pool or a tag outside the family names one of them. A tag whose members cannot be
// computed is taken back whole: not in the database, not in the index.
func TestDiscoverAndDefineKeepReferencesWhole(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	_, centres, topic := clusteredCatalog(t, db, 90)
	vi, err := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Exact: true})
	require.NoError(t, err)
	pools := map[string][]string{}
	tg, err := New(db.Pool, vi, nil, Config{SaveInterval: -1, Referrers: func(_ context.Context, _ Querier, tag string) ([]string, error) {
		return pools[tag], nil
	}})
	require.NoError(t, err)
	_, err = tg.Load(ctx)
	require.NoError(t, err)
	putTopicVectors(t, tg, vi, centres, topic, 5)
	_, err = tg.Discover(ctx, DiscoverOptions{Family: "topics", Clusters: 3})
	require.NoError(t, err)
	const mice = "topics/gaming-mouse-wireless"
	family := func() []string {
		tags, err := tg.Store().Tags(ctx)
		require.NoError(t, err)
		var out []string
		for _, d := range tags {
			if d.Definition.Family == "topics" {
				out = append(out, d.Name)
				require.True(t, tg.Index().HasTag(d.Name), d.Name)
			}
		}
		return out
	}
	before := family()
	require.Len(t, before, 3)

	e, err := filter.ParseExpr(`tag = "` + mice + `" and price < 5000`)
	require.NoError(t, err)
	_, err = tg.Define(ctx, TagDef{Name: "cheap-mice", Kind: KindRule, Definition: Definition{Rule: &e}})
	require.NoError(t, err)
	_, err = tg.Discover(ctx, DiscoverOptions{Family: "topics", Clusters: 3, Seed: 9})
	require.ErrorIs(t, err, ErrInUse)
	require.ErrorContains(t, err, "tag cheap-mice")
	require.Equal(t, before, family(), "a refused rediscovery leaves the family as it was")
	require.NoError(t, tg.Delete(ctx, "cheap-mice"))

	pools["topics/laser-printer-toner"] = []string{`pool "toner week" (id 3)`}
	_, err = tg.Discover(ctx, DiscoverOptions{Family: "topics", Clusters: 3, Seed: 9})
	require.ErrorIs(t, err, ErrInUse)
	require.ErrorContains(t, err, `pool "toner week" (id 3)`)
	require.Equal(t, before, family())
	delete(pools, "topics/laser-printer-toner")
	_, err = tg.Discover(ctx, DiscoverOptions{Family: "topics", Clusters: 3, Seed: 9})
	require.NoError(t, err)
	require.Len(t, family(), 3)

	// A rediscovery that cannot write its new tags (a name taken by a tag outside the family)
	// changes nothing: the old family stays, in the database and in the index.
	before = family()
	e, err = filter.ParseExpr("price < 2000")
	require.NoError(t, err)
	_, err = tg.Define(ctx, TagDef{Name: "topics/taken", Kind: KindRule, Definition: Definition{Rule: &e}})
	require.NoError(t, err)
	_, err = tg.Discover(ctx, DiscoverOptions{Family: "topics", Clusters: 3, Seed: 9,
		LLM: fake.NewFakeLLM([]string{"taken", "taken", "taken"})})
	require.ErrorIs(t, err, ErrExists)
	require.Equal(t, before, family(), "a failed rediscovery leaves the family as it was")
	require.NoError(t, tg.Delete(ctx, "topics/taken"))

	// SKU 2000 does not exist: the prototype cannot be computed, and the tag is not kept.
	_, err = tg.Define(ctx, TagDef{Name: "like-2000", Kind: KindPrototype, Definition: Definition{Examples: []int64{2000}}})
	require.ErrorIs(t, err, ErrNotFound)
	require.False(t, tg.Index().HasTag("like-2000"))
	_, err = tg.Store().Tag(ctx, "like-2000")
	require.ErrorIs(t, err, ErrNotFound)
	// SKU 1000 exists and has a vector: the tag is made, with members.
	_, err = tg.Define(ctx, TagDef{Name: "like-1000", Kind: KindPrototype, Definition: Definition{Examples: []int64{1000}}})
	require.NoError(t, err)
	bm, err := tg.Index().Eval(filter.Tag("like-1000"))
	require.NoError(t, err)
	o, _ := tg.Index().Ordinal(1000)
	require.True(t, bm.Contains(uint64(o)))
}

// The tagger reports where it stands for the pool refresher: its events snapshot, and where its
// poll of sku_vectors reads from, but only while a tag is built from vectors (otherwise it does
// not follow them, and a stamp frozen at start-up would make every vector since look new).
func TestPositionAndVectorsFrom(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	_, centres, topic := clusteredCatalog(t, db, 30)
	vi, err := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Exact: true})
	require.NoError(t, err)
	tg, err := New(db.Pool, vi, nil, Config{SaveInterval: -1})
	require.NoError(t, err)
	require.Empty(t, tg.Position().Snapshot, "not loaded")
	_, err = tg.Load(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, tg.Position().Snapshot)
	putTopicVectors(t, tg, vi, centres, topic, 6)
	require.True(t, tg.VectorsFrom().IsZero(), "no tags")
	e, err := filter.ParseExpr("price < 5000")
	require.NoError(t, err)
	_, err = tg.Define(ctx, TagDef{Name: "cheap", Kind: KindRule, Definition: Definition{Rule: &e}})
	require.NoError(t, err)
	require.True(t, tg.VectorsFrom().IsZero(), "rule tags only")
	_, err = tg.Define(ctx, TagDef{Name: "like-1000", Kind: KindPrototype, Definition: Definition{Examples: []int64{1000}}})
	require.NoError(t, err)
	before := tg.VectorsFrom()
	require.False(t, before.IsZero())

	_, err = db.Pool.Exec(ctx, `INSERT INTO sku_vectors (sku_id, model, content_hash, embedding, ordinal)
		SELECT id, 'test', '\x00', array_fill(0.1::real, ARRAY[512])::vector, ordinal FROM skus WHERE id = 1001`)
	require.NoError(t, err)
	snap := tg.Position().Snapshot
	applyWithEvent(t, db, []catalog.Patch{skuPatch(1001, "Logitech", 1234, t0.Add(time.Hour))})
	_, err = tg.Poll(ctx)
	require.NoError(t, err)
	require.True(t, tg.VectorsFrom().After(before), "%v -> %v", before, tg.VectorsFrom())
	require.NotEqual(t, snap, tg.Position().Snapshot)
}

// Two replacements of one family at once (a CLI discovery beside the service) end with one set
// of tags, not both.
func TestReplaceFamilyOneAtATime(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	st := NewStore(db.Pool)
	set := func(prefix string, n int) ([]TagDef, []Model) {
		var defs []TagDef
		var models []Model
		for i := range n {
			defs = append(defs, TagDef{Name: fmt.Sprintf("fam/%s%d", prefix, i), Kind: KindDiscovered,
				Definition: Definition{Family: "fam", Cluster: i, Terms: []string{prefix}, NamedBy: "tfidf"}})
			models = append(models, Model{Model: "m", Vectors: [][]float32{{1, 0}}})
		}
		return defs, models
	}
	names := func() []string {
		tags, err := st.Tags(ctx)
		require.NoError(t, err)
		var out []string
		for _, d := range tags {
			out = append(out, d.Name)
		}
		sort.Strings(out)
		return out
	}
	defs, models := set("x", 2)
	_, _, err := st.ReplaceFamily(ctx, "fam", defs, models, nil)
	require.NoError(t, err)
	for round := range 5 {
		start := make(chan struct{})
		errs := make(chan error, 2)
		for _, prefix := range []string{fmt.Sprintf("a%d-", round), fmt.Sprintf("b%d-", round)} {
			defs, models := set(prefix, 2)
			go func() {
				<-start
				_, _, err := st.ReplaceFamily(ctx, "fam", defs, models, nil)
				errs <- err
			}()
		}
		close(start)
		require.NoError(t, <-errs)
		require.NoError(t, <-errs)
		got := names()
		require.Len(t, got, 2, "one set, not both: %v", got)
		require.Equal(t, strings.TrimSuffix(got[0], "0"), strings.TrimSuffix(got[1], "1"), "%v", got)
	}
}

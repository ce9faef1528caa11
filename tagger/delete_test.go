package tagger

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/internal/testdb"
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
		e, err := ParseExpr(rule)
		require.NoError(t, err)
		_, err = tg.Define(ctx, TagDef{Name: name, Kind: KindRule, Definition: Definition{Rule: &e}})
		require.NoError(t, err)
	}
	define("Cheap", "price < 10000")
	define("cheap-razer", "tag = cheap and brand = Razer")
	define("boom", "price > 29000")
	e, err := ParseExpr("price < 5")
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
	_, err = tg.Index().Count(Tag("cheap"))
	require.ErrorIs(t, err, ErrUnknownTag)
	tags, err := tg.Store().Tags(ctx)
	require.NoError(t, err)
	require.Len(t, tags, 1)
	require.Equal(t, "boom", tags[0].Name)
}

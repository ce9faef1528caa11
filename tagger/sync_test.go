package tagger

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/filter"
	"selection/internal/testdb"
)

// A running tagger (the service) follows tag definitions another process makes and deletes
// (selection tag define|delete), and a tagger that loads a snapshot saved before a tag was
// defined still knows the tag.
func TestTagsDefinedElsewhere(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	var patches []catalog.Patch
	for i := int64(1); i <= 40; i++ {
		patches = append(patches, skuPatch(i, []string{"Logitech", "Razer"}[i%2], 1000*i, t0))
	}
	applyWithEvent(t, db, patches)

	service, err := New(db.Pool, nil, nil, Config{PollInterval: 20 * time.Millisecond, SaveInterval: -1})
	require.NoError(t, err)
	_, err = service.Load(ctx)
	require.NoError(t, err)
	_, err = service.Save(ctx) // a snapshot without the tags below
	require.NoError(t, err)
	require.NoError(t, service.Start(ctx))
	defer func() { require.NoError(t, service.Stop(ctx)) }()

	cli, err := New(db.Pool, nil, nil, Config{SaveInterval: -1})
	require.NoError(t, err)
	_, err = cli.Load(ctx)
	require.NoError(t, err)
	cheap, err := filter.ParseExpr("price < 10000")
	require.NoError(t, err)
	_, err = cli.Define(ctx, TagDef{Name: "Cheap", Kind: KindRule, Definition: Definition{Rule: &cheap}})
	require.NoError(t, err)
	cheapRazer, err := filter.ParseExpr("tag = cheap and brand = razer")
	require.NoError(t, err)
	_, err = cli.Define(ctx, TagDef{Name: "cheap-razer", Kind: KindRule, Definition: Definition{Rule: &cheapRazer}})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		n, err := service.Index().Count(filter.Tag("cheap-razer"))
		return err == nil && n == 5
	}, 30*time.Second, 20*time.Millisecond, "the service picks up tags defined elsewhere")
	// The service's rule tags follow changes like its own: SKU 3 (Razer, 3000) becomes pricey.
	applyWithEvent(t, db, []catalog.Patch{skuPatch(3, "Razer", 50_000, t0.Add(time.Hour))})
	require.Eventually(t, func() bool {
		n, _ := service.Index().Count(filter.Tag("cheap-razer"))
		return n == 4
	}, 30*time.Second, 20*time.Millisecond)

	// A snapshot saved before the tags were defined (the service's own, after the CLI's save
	// was replaced) still gives a loader the tags, evaluated on load.
	_, err = db.Pool.Exec(ctx, `DELETE FROM tag_bitmaps WHERE tag_id IS NOT NULL`)
	require.NoError(t, err)
	fresh, err := New(db.Pool, nil, nil, Config{SaveInterval: -1})
	require.NoError(t, err)
	how, err := fresh.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, "snapshot", how)
	n, err := fresh.Index().Count(filter.Tag("cheap-razer"))
	require.NoError(t, err)
	require.EqualValues(t, 4, n)

	require.NoError(t, cli.Delete(ctx, "cheap-razer"))
	require.Eventually(t, func() bool { return !service.Index().HasTag("cheap-razer") }, 30*time.Second, 20*time.Millisecond,
		"the service drops tags deleted elsewhere")
	require.True(t, service.Index().HasTag("cheap"))

	// Events that arrive between a definition elsewhere and the next sync do not make the
	// service hold the tag half-built.
	quiet, err := New(db.Pool, nil, nil, Config{SaveInterval: -1})
	require.NoError(t, err)
	_, err = quiet.Load(ctx)
	require.NoError(t, err)
	logitech, err := filter.ParseExpr("tag = cheap and brand = logitech")
	require.NoError(t, err)
	_, err = cli.Define(ctx, TagDef{Name: "cheap-logitech", Kind: KindRule, Definition: Definition{Rule: &logitech}})
	require.NoError(t, err)
	applyWithEvent(t, db, []catalog.Patch{skuPatch(4, "Logitech", 400, t0.Add(2*time.Hour))})
	quiet.mu.Lock()
	quiet.lastSync = time.Now() // no sync in this poll
	quiet.mu.Unlock()
	_, err = quiet.Poll(ctx)
	require.NoError(t, err)
	require.False(t, quiet.Index().HasTag("cheap-logitech"))
	pollWithSync(t, quiet)
	n, err = quiet.Index().Count(filter.Tag("cheap-logitech"))
	require.NoError(t, err)
	require.EqualValues(t, 4, n, "2, 4, 6, 8: whole")

	// A rule naming a tag that no longer exists (a delete racing a define elsewhere) is left out
	// with a warning; the other tags, polls and loads go on.
	_, err = db.Pool.Exec(ctx, `INSERT INTO tags (name, kind, definition) VALUES ('dangling', 'rule', '{"rule": {"tag": "gone"}}')`)
	require.NoError(t, err)
	pollWithSync(t, quiet)
	require.False(t, quiet.Index().HasTag("dangling"))
	require.True(t, quiet.Index().HasTag("cheap-logitech"))
	again, err := New(db.Pool, nil, nil, Config{SaveInterval: -1})
	require.NoError(t, err)
	_, err = again.Load(ctx)
	require.NoError(t, err, "a dangling rule does not stop a start")
	require.True(t, again.Index().HasTag("cheap"))
}

package tagger

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/filter"
	"selection/internal/testdb"
)

// A rule tag with words holds the SKUs whose titles hold one of them (as the analyser stems
// them), within its rule; a title that changes joins or leaves on the next poll; a restart from
// the snapshot keeps following; the explanation names the words held.
func TestRuleTagWords(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	var patches []catalog.Patch
	for i := int64(1); i <= 300; i++ {
		p := skuPatch(i, []string{"Logitech", "Razer", "HP"}[i%3], 1000+i*10, t0)
		p.Title = []string{"Gaming mouse G%d", "office mouse M%d", "Video Game Console %d"}[i%3]
		p.Title = fmt.Sprintf(p.Title, i)
		patches = append(patches, p)
	}
	applyWithEvent(t, db, patches)
	tg, err := New(db.Pool, nil, nil, Config{PollInterval: 50 * time.Millisecond, SaveInterval: -1})
	require.NoError(t, err)
	_, err = tg.Load(ctx)
	require.NoError(t, err)

	// Words alone, without case or plural; "video game" is a phrase (both words).
	_, err = tg.Define(ctx, TagDef{Name: "gaming", Kind: KindRule, Definition: Definition{Words: []string{"GAMING", "games"}}})
	require.NoError(t, err)
	n, err := tg.Index().Count(filter.Tag("gaming"))
	require.NoError(t, err)
	require.EqualValues(t, 200, n, "Gaming mice and video game consoles")
	rule := filter.Below("price", 2000)
	_, err = tg.Define(ctx, TagDef{Name: "cheap-consoles", Kind: KindRule, Definition: Definition{Rule: &rule, Words: []string{"video game", "no-such-word"}}})
	require.NoError(t, err)
	consoles, err := tg.Index().Eval(filter.Tag("cheap-consoles"))
	require.NoError(t, err)
	for _, id := range tg.Index().SKUIDs(consoles, 0) {
		require.Equal(t, int64(2), id%3, "sku %d is no console", id)
		require.Less(t, 1000+id*10, int64(2000))
	}
	require.EqualValues(t, 33, consoles.GetCardinality()) // 2, 5, ..., 98

	// Bad words are refused.
	_, err = tg.Define(ctx, TagDef{Name: "bad", Kind: KindRule, Definition: Definition{Words: []string{"--"}}})
	require.ErrorContains(t, err, "no letter or digit")
	_, err = tg.Define(ctx, TagDef{Name: "bad", Kind: KindRule})
	require.ErrorContains(t, err, "a rule or words")

	ex, err := tg.Explain(ctx, "gaming", 3)
	require.NoError(t, err)
	require.True(t, ex.Member)
	require.Equal(t, `title holds "GAMING" or "games"`, ex.Predicates[len(ex.Predicates)-1].Predicate)
	require.Equal(t, "GAMING", ex.Predicates[len(ex.Predicates)-1].Value)
	ex, err = tg.Explain(ctx, "gaming", 2)
	require.NoError(t, err)
	require.Equal(t, "games", ex.Predicates[len(ex.Predicates)-1].Value)

	// Titles change: SKU 1 (office) becomes a gaming mouse, SKU 3 (gaming) an office one.
	require.NoError(t, tg.Start(ctx))
	p1, p3 := skuPatch(1, "Razer", 1010, t0.Add(time.Hour)), skuPatch(3, "Logitech", 1030, t0.Add(time.Hour))
	p1.Title, p3.Title = "Gaming mouse G1", "office mouse M3"
	applyWithEvent(t, db, []catalog.Patch{p1, p3})
	member := func(tag string, id int64) bool {
		ex, err := tg.Explain(ctx, tag, id)
		return err == nil && ex.Member
	}
	require.Eventually(t, func() bool { return member("gaming", 1) && !member("gaming", 3) }, 10*time.Second, 10*time.Millisecond)
	ex, err = tg.Explain(ctx, "gaming", 3)
	require.NoError(t, err)
	require.Equal(t, "none of them", ex.Predicates[len(ex.Predicates)-1].Value)
	require.NoError(t, tg.Stop(ctx))

	// A restart from the saved snapshot tracks the words again before it follows changes.
	_, err = tg.Save(ctx)
	require.NoError(t, err)
	tg2, err := New(db.Pool, nil, nil, Config{PollInterval: 50 * time.Millisecond, SaveInterval: -1})
	require.NoError(t, err)
	how, err := tg2.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, "snapshot", how)
	require.NoError(t, tg2.Start(ctx))
	defer func() { require.NoError(t, tg2.Stop(ctx)) }()
	p4 := skuPatch(4, "Logitech", 1040, t0.Add(time.Hour))
	p4.Title = "gamer office mouse M4" // "gamer" is neither "gaming" nor "game": stays out
	p6 := skuPatch(6, "Logitech", 1060, t0.Add(time.Hour))
	p6.Title = "office mouse for game M6"
	applyWithEvent(t, db, []catalog.Patch{p4, p6})
	member2 := func(tag string, id int64) bool {
		ex, err := tg2.Explain(ctx, tag, id)
		return err == nil && ex.Member
	}
	require.Eventually(t, func() bool { return member2("gaming", 6) }, 10*time.Second, 10*time.Millisecond)
	require.False(t, member2("gaming", 4))
	require.True(t, member2("gaming", 1))
	require.False(t, member2("gaming", 3))
}

func TestFoldPlural(t *testing.T) {
	for in, want := range map[string]string{"batteries": "battery", "boxes": "box", "glasses": "glass", "watches": "watch",
		"cases": "case", "games": "game", "mouses": "mouse", "glass": "glass", "gaming": "gaming", "bus": "bus", "ps4": "ps4", "tvs": "tvs"} {
		require.Equal(t, want, foldPlural(in), in)
	}
	require.Equal(t, []string{"video", "game", "ps4"}, titleTerms("Video-Games (PS4)"))
}

// A saved snapshot older than the events kept is not loaded: the changes after it may be gone.
func TestSnapshotOlderThanTheEventsIsNotLoaded(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	var ps []catalog.Patch
	for i := int64(1); i <= 6; i++ {
		p := skuPatch(i, "Logitech", 1000*i, t0)
		p.Title = fmt.Sprintf("Logitech M%d wireless mouse", i) // a product type, so the model is kept
		ps = append(ps, p)
	}
	applyWithEvent(t, db, ps)
	tg, err := New(db.Pool, nil, nil, Config{SaveInterval: -1})
	require.NoError(t, err)
	_, err = tg.Load(ctx)
	require.NoError(t, err)
	pollWithSync(t, tg)
	_, err = tg.Save(ctx)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `UPDATE tag_index_state SET saved_at = now() - interval '2 days'`)
	require.NoError(t, err)
	for _, c := range []struct {
		maxAge time.Duration
		how    string
	}{{0, "snapshot"}, {72 * time.Hour, "snapshot"}, {24 * time.Hour, "skus"}} {
		var logs strings.Builder
		tg, err := New(db.Pool, nil, nil, Config{SaveInterval: -1, SnapshotMaxAge: c.maxAge, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		require.NoError(t, err)
		how, err := tg.Load(ctx)
		require.NoError(t, err)
		require.Equal(t, c.how, how, "max age %s: %s", c.maxAge, logs.String())
		require.EqualValues(t, 6, tg.Index().LiveCount())
	}
}

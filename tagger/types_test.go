package tagger

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/filter"
	"selection/internal/testdb"
	"selection/prodtype"
	"selection/vectorindex"
)

// The index's product_type holds the type learned from titles; a SKU whose title names none
// takes its nearest type centroid's once its vector is there, keeps it when its row is read
// again, and both explain themselves.
func TestProductTypesLearnedAndFilledByNeighbours(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	centres, topic := miceAndPrinters(t, db, 1) // SKU 6000's title names no type

	vi, err := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Exact: true})
	require.NoError(t, err)
	tg, err := New(db.Pool, vi, nil, Config{PollInterval: 50 * time.Millisecond, SaveInterval: -1})
	require.NoError(t, err)
	_, err = tg.Load(ctx)
	require.NoError(t, err)

	ord := func(id int64) int64 {
		o, ok := tg.Index().Ordinal(id)
		require.True(t, ok)
		return o
	}
	require.Equal(t, "mouse", tg.TypeOf(ord(5000)))
	require.Equal(t, "printer", tg.TypeOf(ord(5001)))
	require.Equal(t, "", tg.TypeOf(ord(6000)))
	n, err := tg.Index().Count(filter.Attr("product_type", "mouse"))
	require.NoError(t, err)
	require.EqualValues(t, 16, n) // and "wireless gaming mouse model 0" from clusteredCatalog

	// Vectors arrive: the untyped SKU lies among the printers.
	putTopicVectors(t, tg, vi, centres, topic, 7)
	_, err = tg.Poll(ctx)
	require.NoError(t, err)
	require.Equal(t, "printer", tg.TypeOf(ord(6000)))
	a, err := tg.ExplainType(ctx, 6000)
	require.NoError(t, err)
	require.Equal(t, prodtype.SourceNeighbour, a.Source)
	require.Contains(t, a.Why, "of the votes of its 10 nearest typed neighbours are for \"printer\"")

	// A price change re-reads the row: the type stays.
	ch := skuPatch(6000, "HP", 29000, t0.Add(time.Minute))
	ch.Fields = catalog.FieldPrice
	ch.PriceAt = t0.Add(time.Minute)
	applyWithEvent(t, db, []catalog.Patch{ch})
	_, err = tg.Poll(ctx)
	require.NoError(t, err)
	require.Equal(t, "printer", tg.TypeOf(ord(6000)))

	a, err = tg.ExplainType(ctx, 5000)
	require.NoError(t, err)
	require.Equal(t, prodtype.SourceTitle, a.Source)
	_, err = tg.ExplainType(ctx, 999999)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestSpreadSampleKeepsSmallSetsAndSpreadsLargeOnes(t *testing.T) {
	bm := roaring64.New()
	for o := uint64(0); o < 10_000; o += 2 {
		bm.Add(o)
	}
	require.Same(t, bm, spreadSample(bm, 5000), "no larger than the sample: all of it")
	require.Same(t, bm, spreadSample(bm, -1), "negative: all of it")
	s := spreadSample(bm, 100)
	require.EqualValues(t, 100, s.GetCardinality())
	require.True(t, s.Contains(0))
	require.True(t, s.Contains(9900), "spread to the end, not the first hundred")
	require.False(t, s.Contains(98), "every 50th voter")
	for _, o := range s.ToArray() {
		require.True(t, bm.Contains(o))
	}
	require.True(t, s.Equals(spreadSample(bm, 100)), "the same sample for the same voters")
}

// A poll votes for at most PollVoteBudget (after at least one SKU): a backlog of untyped SKUs is
// worked off over several polls instead of taking a core in one.
func TestPollVoteBudgetSpreadsTheBacklogOverPolls(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	centres, topic := miceAndPrinters(t, db, 4)
	vi, err := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Exact: true})
	require.NoError(t, err)
	tg, err := New(db.Pool, vi, nil, Config{PollInterval: 50 * time.Millisecond, SaveInterval: -1, PollVoteBudget: time.Nanosecond})
	require.NoError(t, err)
	_, err = tg.Load(ctx)
	require.NoError(t, err)
	typed := func() int {
		n := 0
		for i := 0; i < 4; i++ {
			if tg.TypeOfSKU(int64(6000+i)) == "printer" {
				n++
			}
		}
		return n
	}
	require.Zero(t, typed())
	putTopicVectors(t, tg, vi, centres, topic, 7)
	for want := 1; want <= 4; want++ {
		_, err = tg.Poll(ctx)
		require.NoError(t, err)
		require.Equal(t, want, typed(), "one vote a poll within a 1 ns budget")
	}
}

// miceAndPrinters adds to clusteredCatalog's three topics 30 SKUs whose titles name a mouse or
// a printer (5000-5029, topics 0 and 1) and odd SKUs whose titles name no type (6000 on, among
// the printers); it returns the topic centres and each added SKU's topic.
func miceAndPrinters(t *testing.T, db *testdb.DB, odd int) ([][]float32, map[int64]int) {
	t.Helper()
	_, centres, _ := clusteredCatalog(t, db, 3)
	var patches []catalog.Patch
	topic := map[int64]int{}
	for i := 0; i < 30; i++ {
		id := int64(5000 + i)
		c := i % 2
		p := skuPatch(id, []string{"Logitech", "HP"}[c], 1000+int64(c)*20000, t0)
		p.Title = fmt.Sprintf([]string{"Logitech G%d mouse USB Black", "HP LaserJet P%d printer A4 Black"}[c], 100+i)
		topic[id] = c
		patches = append(patches, p)
	}
	for i := 0; i < odd; i++ {
		p := skuPatch(int64(6000+i), "HP", 30000, t0)
		p.Title = fmt.Sprintf("HP ZX-900%d Ultra", i) // names no type
		patches = append(patches, p)
		topic[int64(6000+i)] = 1
	}
	applyWithEvent(t, db, patches)
	return centres, topic
}

// mice adds n SKUs (7000 on) whose titles name a mouse.
func mice(t *testing.T, db *testdb.DB, n int) {
	t.Helper()
	var patches []catalog.Patch
	for i := 0; i < n; i++ {
		p := skuPatch(int64(7000+i), "Logitech", 1000, t0)
		p.Title = fmt.Sprintf("Logitech G%d mouse USB Black", 100+i)
		patches = append(patches, p)
	}
	applyWithEvent(t, db, patches)
}

// A SKU whose title names a kind by its head word only ("... Rackmount Switch") takes, of the
// types named so, the one whose centre is nearest its vector, even where its neighbours are of
// another type; a title naming nothing takes its neighbours' vote.
func TestHeadWordKinds(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	_, centres, _ := clusteredCatalog(t, db, 3)
	var patches []catalog.Patch
	topic := map[int64]int{}
	for i := 0; i < 30; i++ {
		id := int64(5000 + i)
		c := i % 3
		p := skuPatch(id, []string{"Netgear", "HP", "StarTech.com"}[c], 5000+int64(c)*10000, t0)
		p.Title = fmt.Sprintf([]string{"Netgear GS%d network switch 8 ports", "HP LaserJet P%d printer A4 Black", "StarTech.com SV%d kvm switch 4 ports"}[c], 100+i)
		topic[id] = c
		patches = append(patches, p)
	}
	odd := skuPatch(6100, "Netgear", 30000, t0)
	odd.Title = "Netgear JGS516 ProSafe 16 Port Gigabit Rackmount Switch"
	plain := skuPatch(6101, "HP", 30000, t0)
	plain.Title = "HP ZX-9000 Ultra"
	patches = append(patches, odd, plain)
	topic[6100], topic[6101] = 1, 1 // both among the printers
	applyWithEvent(t, db, patches)

	tg, vi := loadedTagger(t, db)
	require.Equal(t, "", tg.TypeOfSKU(6100))
	putTopicVectors(t, tg, vi, centres, topic, 11)
	_, err := tg.Poll(ctx)
	require.NoError(t, err)
	require.Contains(t, []string{"network switch", "kvm switch"}, tg.TypeOfSKU(6100))
	a, err := tg.ExplainType(ctx, 6100)
	require.NoError(t, err)
	require.Contains(t, a.Why, "by its last word only; of the 2 types named so")
	require.Equal(t, "printer", tg.TypeOfSKU(6101))
}

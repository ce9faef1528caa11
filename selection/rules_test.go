package selection_test

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/filter"
	"selection/selection"
)

// The fixture's SG SKUs are 1001..1020, sales = id, Logitech odd and Razer even, stock id%3.
func sgBySales(limit int) selection.Plan {
	f := filter.Attr("market", "SG")
	return selection.Plan{Version: 1, Filter: &f, Ranking: selection.Ranking{By: selection.SortSales}, Limit: limit}
}

func TestBoostAndBuryRules(t *testing.T) {
	ctx := context.Background()
	_, _, svc := fixture(t)

	plain, err := svc.Preview(ctx, sgBySales(20))
	require.NoError(t, err)
	require.Equal(t, int64(1020), plain.Items[0].SKUID)

	// A small boost lifts a Logitech SKU past the Razer one just above it, not further.
	plan := sgBySales(20)
	plan.Rules = []selection.Rule{{Filter: filter.Attr("brand", "Logitech"), Factor: 0.3}}
	res, err := svc.Preview(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, []int64{1019, 1020, 1017, 1018}, ids(res.Items)[:4])
	require.Equal(t, []string{"brand = Logitech +0.30"}, res.Items[0].Rules)
	require.Contains(t, res.Items[0].Why, "boosted by brand = Logitech +0.30")
	require.Empty(t, res.Items[1].Rules)

	// The strongest boost moves an item up half the list at most: the ranking's best stays
	// above every boosted SKU of the second half.
	plan.Rules = []selection.Rule{{Name: "logitech week", Filter: filter.Attr("brand", "Logitech"), Factor: 1}}
	res, err = svc.Preview(ctx, plan)
	require.NoError(t, err)
	got := ids(res.Items)
	require.Less(t, slices.Index(got, 1020), slices.Index(got, 1009), "%v", got)
	require.Less(t, slices.Index(got, 1020), slices.Index(got, 1001), "%v", got)
	require.Equal(t, []string{"logitech week +1.00"}, res.Items[0].Rules)

	// Bury: out-of-stock SKUs (id%3 == 0) sink, the others keep their order.
	plan.Rules = []selection.Rule{{Name: "no stock", Filter: filter.Range("stock", math.MinInt64, 0), Factor: -0.6}}
	res, err = svc.Preview(ctx, plan)
	require.NoError(t, err)
	got = ids(res.Items)
	require.Equal(t, []int64{1020, 1019, 1017, 1016, 1014}, got[:5])
	require.Contains(t, res.Items[len(res.Items)-1].Why, "buried by no stock -0.60")

	// Rules that add up are bounded like one: two boosts of 1 move no further than one.
	plan.Rules = []selection.Rule{{Filter: filter.Attr("brand", "Logitech"), Factor: 1}, {Filter: filter.Attr("market", "SG"), Factor: 1},
		{Filter: filter.Attr("brand", "Logitech"), Factor: 1}}
	res, err = svc.Preview(ctx, plan)
	require.NoError(t, err)
	got = ids(res.Items)
	require.Less(t, slices.Index(got, 1020), slices.Index(got, 1009), "%v", got)

	// A rule that moves nothing says so.
	plan.Rules = []selection.Rule{{Filter: filter.Attr("brand", "Nosuch"), Factor: 0.5}}
	res, err = svc.Preview(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, ids(plain.Items), ids(res.Items))
	require.Contains(t, res.Warnings, `rule "brand = Nosuch" moves no SKU of this pool`)

	for _, bad := range []float64{0, 1.5, -2, math.NaN()} {
		plan.Rules = []selection.Rule{{Filter: filter.Attr("brand", "Logitech"), Factor: bad}}
		_, err = svc.Preview(ctx, plan)
		require.ErrorIs(t, err, selection.ErrInvalid, "factor %v", bad)
	}
	plan.Rules = []selection.Rule{{Filter: filter.Tag("nosuchtag"), Factor: 0.5}}
	_, err = svc.Preview(ctx, plan)
	require.ErrorIs(t, err, selection.ErrInvalid)
}

func TestRulesAndSlotsInJSON(t *testing.T) {
	var p selection.Plan
	require.NoError(t, json.Unmarshal([]byte(`{"version":1,"ranking":{"by":"sales"},"limit":10,
		"rules":[{"name":"razer up","filter":"brand = Razer and stock > 0","factor":0.4},
		         {"filter":{"attr":{"field":"brand","value":"Logitech"}},"factor":-0.2}],
		"slots":[{"from":1,"to":3,"filter":"brand = Razer"}]}`), &p))
	require.NoError(t, p.Validate())
	require.Equal(t, "razer up", p.Rules[0].Name)
	require.Equal(t, "brand = Logitech", p.Rules[1].Filter.String())
	b, err := json.Marshal(p)
	require.NoError(t, err)
	require.Contains(t, string(b), `"filter":"brand = Logitech","factor":-0.2`)
	require.Contains(t, string(b), `"slots":[{"from":1,"to":3,"filter":"brand = Razer"}]`)
	var back selection.Plan
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, p.Rules[0].Filter.String(), back.Rules[0].Filter.String())

	for _, bad := range []string{
		`{"version":1,"ranking":{"by":"sales"},"limit":10,"rules":[{"filter":"brand = ","factor":0.4}]}`,
		`{"version":1,"ranking":{"by":"sales"},"limit":10,"rules":[{"factor":0.4}]}`,
		`{"version":1,"ranking":{"by":"sales"},"limit":10,"slots":[{"from":1,"to":3,"filter":""}]}`,
	} {
		require.Error(t, json.Unmarshal([]byte(bad), &p), bad)
	}
	for _, slots := range [][]selection.Slot{
		{{From: 0, To: 2, Filter: filter.Attr("brand", "Razer")}},
		{{From: 3, To: 2, Filter: filter.Attr("brand", "Razer")}},
		{{From: 5, To: 11, Filter: filter.Attr("brand", "Razer")}}, // past the limit
		{{From: 1, To: 3, Filter: filter.Attr("brand", "Razer")}, {From: 3, To: 4, Filter: filter.Attr("brand", "Logitech")}},
	} {
		p := selection.Plan{Version: 1, Ranking: selection.Ranking{By: "sales"}, Limit: 10, Slots: slots}
		require.ErrorIs(t, p.Validate(), selection.ErrInvalid, "%+v", slots)
	}
}

func TestSlotsReservePositions(t *testing.T) {
	ctx := context.Background()
	_, _, svc := fixture(t)
	// By price, cheapest first: 1001 (Logitech), 1002 (Razer), 1003, ...; positions 1-3 are
	// Razer's, 5 is for a SKU of at least 15 sales.
	plan := sgBySales(8)
	plan.Ranking.By = selection.SortPriceAsc
	plan.Slots = []selection.Slot{{Name: "razer", From: 1, To: 3, Filter: filter.Attr("brand", "Razer")},
		{From: 5, To: 5, Filter: filter.Range("sales_7d", 15, math.MaxInt64)}}
	res, err := svc.Preview(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, []int64{1002, 1004, 1006, 1001, 1015, 1003, 1005, 1007}, ids(res.Items))
	require.Equal(t, "razer", res.Items[0].Slot)
	require.Contains(t, res.Items[0].Why, "slot 1-3 (razer)")
	require.Equal(t, "sales_7d >= 15", res.Items[4].Slot)
	require.Empty(t, res.Items[3].Slot)

	// Pins keep their positions; the slot takes what is left of its own.
	plan.Pins = selection.IDs{1011}
	res, err = svc.Preview(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, []int64{1011, 1002, 1004, 1001, 1015, 1003, 1005, 1006}, ids(res.Items))

	// A slot nothing fills is left to the ranking, with a warning.
	plan.Pins = nil
	plan.Slots = []selection.Slot{{From: 2, To: 3, Filter: filter.Attr("brand", "Nosuch")}}
	res, err = svc.Preview(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, []int64{1001, 1002, 1003}, ids(res.Items)[:3])
	require.Len(t, res.Warnings, 1)
	require.Contains(t, res.Warnings[0], "slot 2-3 (brand = Nosuch): no more SKUs of this pool match it")
}

// A pinned SKU that runs out of stock leaves its place to the SKUs after it until it is back,
// and the refresher notices both changes.
func TestPinsCloseTheGapWhenOutOfStock(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	plan := sgBySales(3)
	plan.Pins = selection.IDs{1040, 1003} // 1003 has no stock
	res, err := svc.Preview(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, []int64{1040, 1020, 1019}, ids(res.Items))
	require.Contains(t, res.Warnings, "pinned SKU 1003 is out of stock: the SKUs after it move up until it is back")

	p, _, err := svc.CreatePool(ctx, selection.PoolInput{Name: "pinned", Plan: plan})
	require.NoError(t, err)
	setStock(t, db, svc, 7, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), 1003)
	outs, err := svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.True(t, outs[0].Changed, "%+v", outs[0])
	require.Equal(t, "pin changed", outs[0].Trigger)
	require.Equal(t, selection.IDs{1040, 1003, 1020}, mustVersion(t, svc, p.ID).Ranking)

	setStock(t, db, svc, 0, time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), 1040)
	outs, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.True(t, outs[0].Changed, "%+v", outs[0])
	require.Equal(t, selection.IDs{1003, 1020, 1019}, mustVersion(t, svc, p.ID).Ranking)
}

// A pool with a rule is refreshed when a change moves a member by the rule's field, though its
// filter and ranking do not read that field.
func TestRefreshReadsTheRulesFields(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	plan := sgBySales(5)
	plan.Rules = []selection.Rule{{Name: "bury low stock", Filter: filter.Range("stock", math.MinInt64, 0), Factor: -1}}
	p, v1, err := svc.CreatePool(ctx, selection.PoolInput{Name: "rules", Plan: plan})
	require.NoError(t, err)
	require.Equal(t, selection.IDs{1020, 1019, 1017, 1016, 1014}, v1.Ranking)
	setStock(t, db, svc, 0, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), 1019)
	outs, err := svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.True(t, outs[0].Changed, "%+v", outs[0])
	// Buried by half of the ten SKUs ranked: below the two it was above, no further.
	require.Equal(t, selection.IDs{1020, 1017, 1016, 1019, 1014}, mustVersion(t, svc, p.ID).Ranking)
}

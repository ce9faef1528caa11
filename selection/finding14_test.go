package selection_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/filter"
	"selection/selection"
)

func notBrandOr(k int) filter.Expr {
	args := make([]filter.Expr, k)
	for i := range args {
		args[i] = filter.Not(filter.Attr("brand", fmt.Sprint("b", i)))
	}
	return filter.Or(args...)
}

// Finding 14: a plan whose filter is wider than filter.MaxTerms is invalid, whether built in
// Go or read from JSON.
func TestFinding14PlanRefusesWideFilter(t *testing.T) {
	wide := notBrandOr(filter.MaxTerms)
	p := selection.Plan{Version: selection.PlanVersion, Filter: &wide, Ranking: selection.Ranking{By: selection.SortSales}, Limit: 10}
	err := p.Validate()
	require.ErrorIs(t, err, selection.ErrInvalid)
	require.ErrorContains(t, err, "filter too wide")

	ok := notBrandOr((filter.MaxTerms - 1) / 2)
	p.Filter = &ok
	require.NoError(t, p.Validate())

	b, err := json.Marshal(map[string]any{"version": 1, "filter": wide, "ranking": map[string]string{"by": "sales"}, "limit": 10})
	require.NoError(t, err)
	var back selection.Plan
	require.ErrorContains(t, json.Unmarshal(b, &back), "filter too wide")
}

// Finding 14: the engine evaluates the filter under the request's context: a cancelled or
// timed-out request stops with the context's error (not as an invalid plan).
func TestFinding14EngineStopsOnCancel(t *testing.T) {
	ix := filter.NewIndex()
	var rows []filter.Row
	for i := int64(1); i <= 100; i++ {
		rows = append(rows, filter.RowFromSKU(&catalog.SKU{ID: i, Ordinal: i, Live: true, Brand: fmt.Sprint("b", i%7), Market: "SG"}))
	}
	ix.Upsert(rows)
	eng := &selection.Executor{Index: ix}
	f := notBrandOr(300)
	plan := selection.Plan{Version: selection.PlanVersion, Filter: &f, Ranking: selection.Ranking{By: selection.SortSales}, Limit: 10}

	res, err := eng.Run(context.Background(), plan)
	require.NoError(t, err)
	require.EqualValues(t, 100, res.Candidates)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = eng.Run(ctx, plan)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, selection.ErrInvalid)
}

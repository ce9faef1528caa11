package scenariobench

import (
	"context"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"selection/filter"
	"selection/internal/icecat"
	"selection/internal/testdb"
	"selection/selection"
	"selection/tagger"
)

// The baseline answers the same plans: its SQL must select exactly the SKUs the tag index
// selects, for every scenario's filter and a few shapes the scenarios do not use.
func TestBaselineFilterSelectsWhatTheIndexSelects(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	icecat.LoadWith(t, db.Pool, icecat.LoadOptions{NoVectors: true})
	ix, _, err := tagger.NewStore(db.Pool).BuildFromSKUs(ctx)
	require.NoError(t, err)
	rules := map[string]*filter.Expr{}
	for i, d := range BenchTags {
		bm, err := ix.Eval(*d.Definition.Rule)
		require.NoError(t, err)
		ix.SetTag(filter.TagInfo{ID: int64(i + 1), Name: d.Name, Kind: string(d.Kind)}, bm, nil)
		rules[strings.ToLower(d.Name)] = d.Definition.Rule
	}

	exprs := map[string]filter.Expr{
		"not brand, or": filter.And(filter.Not(filter.Attr("brand", "hp", "Canon")),
			filter.Or(filter.Attr("market", "SG"), filter.Below("price", 1000))),
		"out of stock":   filter.Attr("in_stock", "false"),
		"rating exactly": filter.Range("rating", 450, 450),
		"discount 1..19": filter.Range("discount", 1, 19),
		"sales, tag":     filter.And(filter.AtLeast("sales_7d", 50), filter.Tag("Big-Ticket")),
		"all":            filter.All(),
	}
	vocab := icecatVocabulary(t)
	for _, s := range Scenarios {
		plan, _ := selection.FromParsed(selection.Parse(s.Text, vocab), "USD")
		if plan.Filter != nil {
			exprs[s.Name] = *plan.Filter
		}
	}
	require.Greater(t, len(exprs), 20)
	for name, e := range exprs {
		t.Run(name, func(t *testing.T) {
			want, err := ix.Eval(e)
			require.NoError(t, err)
			cond, args, err := FilterSQL(&e, rules)
			require.NoError(t, err)
			rows, err := db.Pool.Query(ctx, `SELECT ordinal FROM skus s WHERE s.live AND `+cond, args...)
			require.NoError(t, err)
			got := roaring64.New()
			var o int64
			_, err = pgx.ForEachRow(rows, []any{&o}, func() error { got.Add(uint64(o)); return nil })
			require.NoError(t, err)
			require.Equal(t, want.GetCardinality(), got.GetCardinality(), "%s", cond)
			require.True(t, want.Equals(got), "%s", cond)
		})
	}
	_, _, err = FilterSQL(ptr(filter.Tag("nope")), rules)
	require.ErrorContains(t, err, "not a rule tag")
}

func TestBaselineSQLShapes(t *testing.T) {
	vocab := selection.StaticVocabulary{BrandList: []string{"HP"}, TagList: []string{"deal"}}
	rules := map[string]*filter.Expr{"deal": BenchTags[0].Definition.Rule}
	plan := func(text string) selection.Plan {
		p, _ := selection.FromParsed(selection.Parse(text, vocab), "USD")
		return p
	}
	sql, args, err := BaselineSQL(plan("toner by HP, no refurbished"), rules)
	require.NoError(t, err)
	require.Contains(t, sql, "ORDER BY v.embedding <=> $1, s.ordinal LIMIT 100")
	require.Contains(t, sql, "ILIKE")
	require.Nil(t, args[0], "the query vector is the caller's")
	require.Contains(t, args, any("%refurbished%"))

	sql, _, err = BaselineSQL(plan("toner, best sellers, top 10"), rules)
	require.NoError(t, err)
	require.Contains(t, sql, "LIMIT 500) t ORDER BY rank DESC, sim DESC LIMIT 10", "a ranking by a field reorders the engine's wider set")

	sql, args, err = BaselineSQL(plan("tagged deal in stock, cheapest, top 5"), rules)
	require.NoError(t, err)
	require.NotContains(t, sql, "embedding", "no query: no vectors")
	require.Contains(t, sql, "ORDER BY s.price ASC, s.ordinal LIMIT 5")
	require.Len(t, args, 2) // in_stock values, discount bound
}

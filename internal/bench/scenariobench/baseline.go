package scenariobench

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"selection/filter"
	"selection/selection"
	"selection/tagger"
)

// sqlBuilder turns a plan's filter into a WHERE condition over skus s, with numbered arguments.
type sqlBuilder struct {
	args  []any
	rules map[string]*filter.Expr // rule tags by lower-case name
}

func (b *sqlBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return fmt.Sprintf("$%d", len(b.args))
}

// numericSQL is each numeric field of the tag index as an expression over skus, computed the way
// filter.RowFromSKU computes it.
var numericSQL = map[string]string{
	"price":        "s.price",
	"list_price":   "s.list_price",
	"discount":     "(CASE WHEN s.list_price > 0 AND s.price < s.list_price THEN (s.list_price - s.price) * 100 / s.list_price ELSE 0 END)",
	"rating":       "floor(s.rating * 100 + 0.5)::bigint",
	"rating_count": "s.rating_count", "stock": "s.stock",
	"sales_1h": "s.sales_1h", "sales_24h": "s.sales_24h", "sales_7d": "s.sales_7d",
	"gmv_1h": "s.gmv_1h", "gmv_24h": "s.gmv_24h", "gmv_7d": "s.gmv_7d",
	"views_1h": "s.views_1h", "views_24h": "s.views_24h", "views_7d": "s.views_7d",
	"released": releasedSQL,
}

// releasedSQL is filter.ReleasedDay in SQL.
var releasedSQL = filter.ReleasedDaySQL("s.released_at")

// categoricalSQL is each categorical field, case-folded as the index keys it.
var categoricalSQL = map[string]string{
	"market": "lower(s.market)", "brand": "lower(trim(s.brand))", "category": "lower(trim(s.category))",
	"product_type": "lower(trim(s.product_type))", "currency": "lower(s.currency)", "in_stock": "(s.stock > 0)::text",
}

func (b *sqlBuilder) where(e *filter.Expr, depth int) (string, error) {
	if depth > 32 {
		return "", fmt.Errorf("filter nested too deeply")
	}
	join := func(args []filter.Expr, op, empty string) (string, error) {
		if len(args) == 0 {
			return empty, nil
		}
		parts := make([]string, len(args))
		for i := range args {
			p, err := b.where(&args[i], depth+1)
			if err != nil {
				return "", err
			}
			parts[i] = p
		}
		return "(" + strings.Join(parts, " "+op+" ") + ")", nil
	}
	switch e.Op {
	case filter.OpAll:
		return "TRUE", nil
	case filter.OpAnd:
		return join(e.Args, "AND", "TRUE")
	case filter.OpOr:
		return join(e.Args, "OR", "FALSE")
	case filter.OpNot:
		p, err := b.where(&e.Args[0], depth+1)
		return "NOT " + p, err
	case filter.OpTag:
		r, ok := b.rules[strings.ToLower(e.Name)]
		if !ok {
			return "", fmt.Errorf("tag %q is not a rule tag: Postgres alone cannot evaluate it", e.Name)
		}
		return b.where(r, depth+1)
	case filter.OpAttr:
		col, ok := categoricalSQL[e.Field]
		if !ok {
			return "", fmt.Errorf("no SQL for field %q", e.Field)
		}
		vals := make([]string, len(e.Values))
		for i, v := range e.Values {
			vals[i] = strings.ToLower(strings.TrimSpace(v))
		}
		return col + " = ANY(" + b.arg(vals) + ")", nil
	case filter.OpRange:
		col, ok := numericSQL[e.Field]
		if !ok {
			return "", fmt.Errorf("no SQL for field %q", e.Field)
		}
		var c []string
		if e.Lo != math.MinInt64 {
			c = append(c, col+" >= "+b.arg(e.Lo))
		}
		if e.Hi != math.MaxInt64 {
			c = append(c, col+" <= "+b.arg(e.Hi))
		}
		if len(c) == 0 {
			return "TRUE", nil
		}
		return "(" + strings.Join(c, " AND ") + ")", nil
	}
	return "", fmt.Errorf("no SQL for operator %q", e.Op)
}

// filter is a plan's filter as a condition over skus s (TRUE without one).
func (b *sqlBuilder) filter(e *filter.Expr) (string, error) {
	if e == nil {
		return "TRUE", nil
	}
	return b.where(e, 0)
}

// FilterSQL is a filter as a condition over skus s and its arguments ($1...), evaluated the way
// the tag index evaluates it (rule tags expanded into their rules).
func FilterSQL(e *filter.Expr, rules map[string]*filter.Expr) (string, []any, error) {
	b := &sqlBuilder{rules: rules}
	cond, err := b.filter(e)
	return cond, b.args, err
}

// rankSQL is the ORDER BY of a ranking by a field (and the value shown as the score).
var rankSQL = map[string]struct{ expr, dir string }{
	selection.SortSales:     {"s.sales_7d", "DESC"},
	selection.SortPriceAsc:  {"s.price", "ASC"},
	selection.SortPriceDesc: {"s.price", "DESC"},
	selection.SortRating:    {"floor(s.rating * 100 + 0.5)::bigint", "DESC"},
	selection.SortNewest:    {releasedSQL, "DESC"},
}

// BaselineSQL is a plan answered by Postgres alone: the filter as SQL over skus; with a query,
// the k rows nearest to the query embedding by exact pgvector distance (k = the limit, or, for a
// ranking by a field, the same wider set the engine reorders: max(5 x limit, 500)) reordered by
// the ranking's field; without one, the rows ordered by the ranking's field. The first argument
// is the query vector (when there is a query). The HNSW index is absent in the bench schema, so
// the distance is computed for every filtered row.
func BaselineSQL(plan selection.Plan, rules map[string]*filter.Expr) (string, []any, error) {
	b := &sqlBuilder{rules: rules}
	query := strings.TrimSpace(plan.Query) != ""
	if query {
		b.arg(nil) // $1: the query vector, filled by the caller
	}
	cond, err := b.filter(plan.Filter)
	if err != nil {
		return "", nil, err
	}
	for _, t := range plan.ExcludeTerms {
		p := b.arg("%" + t + "%")
		cond += " AND NOT (s.title ILIKE " + p + " OR s.description ILIKE " + p + ")"
	}
	if len(plan.Exclusions) > 0 {
		cond += " AND NOT s.id = ANY(" + b.arg([]int64(plan.Exclusions)) + ")"
	}
	by := plan.Ranking.By
	rk, byField := rankSQL[by]
	if !query {
		if !byField {
			rk = rankSQL[selection.SortSales]
		}
		return fmt.Sprintf(`SELECT s.ordinal, s.id, (%s)::real FROM skus s WHERE s.live AND %s
			ORDER BY %s %s, s.ordinal LIMIT %d`, rk.expr, cond, rk.expr, rk.dir, plan.Limit), b.args, nil
	}
	rank := "0"
	if byField {
		rank = rk.expr
	}
	inner := fmt.Sprintf(`SELECT s.ordinal, s.id, (1 - (v.embedding <=> $1))::real AS sim, %s AS rank
		FROM skus s JOIN sku_vectors v ON v.sku_id = s.id WHERE s.live AND %s
		ORDER BY v.embedding <=> $1, s.ordinal LIMIT `, rank, cond)
	if !byField {
		return fmt.Sprintf(`SELECT ordinal, id, sim FROM (%s%d) t`, inner, plan.Limit), b.args, nil
	}
	k := min(max(plan.Limit*5, 500), selection.MaxLimit)
	return fmt.Sprintf(`SELECT ordinal, id, rank::real FROM (%s%d) t ORDER BY rank %s, sim DESC LIMIT %d`,
		inner, k, rk.dir, plan.Limit), b.args, nil
}

// ruleTags are the rule tags' filters, for the baseline's SQL.
func ruleTags(ctx context.Context, t Target) (map[string]*filter.Expr, error) {
	defs, err := tagger.NewStore(t.DB).Tags(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]*filter.Expr{}
	for _, d := range defs {
		if d.Kind == tagger.KindRule && d.Definition.Rule != nil && len(d.Definition.Words) == 0 {
			out[strings.ToLower(d.Name)] = d.Definition.Rule
		}
	}
	return out, nil
}

// baseline is one scenario-to-pool pass with Postgres alone: the same plan (from the same
// parser) and the same version write; the filter and the ranking are one SQL query, the query
// embedding comes from the same (cached) embedder.
func baseline(ctx context.Context, t Target, s Scenario, poolID int64, timeout time.Duration) (time.Duration, error) {
	rules, err := ruleTags(ctx, t)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	resp, err := t.Service.PlanScenario(ctx, s.Text, selection.PlannerDeterministic)
	if err != nil {
		return 0, err
	}
	seq, err := eventSeq(ctx, t.DB)
	if err != nil {
		return 0, err
	}
	sql, args, err := BaselineSQL(resp.Plan, rules)
	if err != nil {
		return 0, err
	}
	if strings.TrimSpace(resp.Plan.Query) != "" {
		q, err := t.Embedder.EmbedQuery(ctx, resp.Plan.Query)
		if err != nil {
			return 0, err
		}
		args[0] = pgvector.NewVector(q)
	}
	v := &selection.Version{PoolID: poolID, Plan: resp.Plan, Members: roaring64.New(), EventSeq: seq}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rows, err := t.DB.Query(qctx, sql, args...)
	if err != nil {
		return 0, err
	}
	var ord, id int64
	var score float32
	_, err = pgx.ForEachRow(rows, []any{&ord, &id, &score}, func() error {
		v.Members.Add(uint64(ord))
		v.Ranking = append(v.Ranking, id)
		v.Scores = append(v.Scores, score)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := t.Service.Pools.AddVersion(ctx, v); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

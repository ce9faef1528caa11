package selection

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/filter"
)

// Analytics is what a pool version holds, by the catalogue's live data: its size, GMV, units
// and views over 1 h, 24 h and 7 days, views-to-sales conversion, stock coverage, and its mix
// by product type, brand, market and price band. The SKUs are the version's ranking; deleted
// ones count in Size and Deleted only.
type Analytics struct {
	PoolID  int64 `json:"pool_id,string"`
	Version int   `json:"version"`
	Size    int   `json:"size"`
	Deleted int   `json:"deleted"`
	// GMV (minor units), Units and Views by window: "1h", "24h", "7d".
	GMV   map[string]int64 `json:"gmv"`
	Units map[string]int64 `json:"units"`
	Views map[string]int64 `json:"views"`
	// Conversion is units sold per view over 7 days (0 without views).
	Conversion float64 `json:"conversion_7d"`
	// InStock is how many of the live SKUs have stock; StockCoverage their share, and
	// StockUnits the units in stock in all.
	InStock       int     `json:"in_stock"`
	StockCoverage float64 `json:"stock_coverage"`
	StockUnits    int64   `json:"stock_units"`
	// Mix: SKUs and 7-day GMV by product type, brand, market and price band, largest first
	// (at most MixTop per dimension; the rest summed as "other").
	Mix map[string][]MixEntry `json:"mix"`
}

// MixEntry is one value of a mix dimension.
type MixEntry struct {
	Value  string `json:"value"`
	SKUs   int    `json:"skus"`
	GMV7d  int64  `json:"gmv_7d"`
	Units7 int64  `json:"units_7d"`
}

// windows are the sales windows of the analytics, with the index fields they sum.
var windows = []struct {
	name              string
	gmv, units, views int
}{{"1h", filter.NumGMV1h, filter.NumSales1h, filter.NumViews1h}, {"24h", filter.NumGMV24h, filter.NumSales24h, filter.NumViews24h},
	{"7d", filter.NumGMV7d, filter.NumSales7d, filter.NumViews7d}}

// mixDims are the dimensions of the mix, in the order analyticsOf reads their values.
var mixDims = [...]string{"product_type", "brand", "market", "price_band"}

// MixTop bounds the entries of one mix dimension.
const MixTop = 12

// priceBands are the upper bounds (minor units, exclusive) of the price bands, in the
// catalogue currency; the last band is open.
var priceBands = []struct {
	upTo  int64
	label string
}{{1000, "under 10"}, {2500, "10-25"}, {5000, "25-50"}, {10000, "50-100"}, {25000, "100-250"}, {50000, "250-500"}, {0, "500 and over"}}

func priceBand(price int64) string {
	for _, b := range priceBands {
		if b.upTo == 0 || price < b.upTo {
			return b.label
		}
	}
	return ""
}

// Analytics computes a version's analytics (n 0: the current version).
func (s *Service) Analytics(ctx context.Context, poolID int64, n int) (*Analytics, error) {
	v, err := s.Pools.GetVersion(ctx, poolID, n)
	if err != nil {
		return nil, err
	}
	return s.analyticsOf(v), nil
}

func (s *Service) analyticsOf(v *Version) *Analytics {
	a := &Analytics{PoolID: v.PoolID, Version: v.Version, Size: len(v.Ranking),
		GMV: map[string]int64{}, Units: map[string]int64{}, Views: map[string]int64{}, Mix: map[string][]MixEntry{}}
	type acc struct {
		skus       int
		gmv, units int64
		first      int
	}
	dims := map[string]map[string]*acc{}
	for _, d := range mixDims {
		dims[d] = map[string]*acc{}
	}
	live := 0
	for i, id := range v.Ranking {
		o, ok := s.Executor.Index.Ordinal(id)
		var r filter.Row
		if ok {
			r, ok = s.Executor.Index.Row(o)
		}
		if !ok || !r.Live {
			a.Deleted++
			continue
		}
		live++
		for _, w := range windows {
			a.GMV[w.name] += r.Num[w.gmv]
			a.Units[w.name] += r.Num[w.units]
			a.Views[w.name] += r.Num[w.views]
		}
		if r.Num[filter.NumStock] > 0 {
			a.InStock++
			a.StockUnits += r.Num[filter.NumStock]
		}
		for d, val := range [len(mixDims)]string{r.Cat[filter.CatProductType], r.Cat[filter.CatBrand], r.Cat[filter.CatMarket], priceBand(r.Num[filter.NumPrice])} {
			dim := mixDims[d]
			if val == "" {
				val = "(none)"
			}
			e := dims[dim][val]
			if e == nil {
				e = &acc{first: i}
				dims[dim][val] = e
			}
			e.skus++
			e.gmv += r.Num[filter.NumGMV7d]
			e.units += r.Num[filter.NumSales7d]
		}
	}
	if a.Views["7d"] > 0 {
		a.Conversion = float64(a.Units["7d"]) / float64(a.Views["7d"])
	}
	if live > 0 {
		a.StockCoverage = float64(a.InStock) / float64(live)
	}
	for dim, vals := range dims {
		var l []MixEntry
		order := map[string]int{}
		for val, e := range vals {
			l = append(l, MixEntry{Value: val, SKUs: e.skus, GMV7d: e.gmv, Units7: e.units})
			order[val] = e.first
		}
		if dim == "price_band" {
			rank := map[string]int{}
			for i, b := range priceBands {
				rank[b.label] = i
			}
			sort.Slice(l, func(i, j int) bool { return rank[l[i].Value] < rank[l[j].Value] })
		} else {
			sort.Slice(l, func(i, j int) bool {
				if l[i].SKUs != l[j].SKUs {
					return l[i].SKUs > l[j].SKUs
				}
				return order[l[i].Value] < order[l[j].Value]
			})
		}
		if len(l) > MixTop {
			other := MixEntry{Value: fmt.Sprintf("other (%d more)", len(l)-MixTop+1)}
			for _, e := range l[MixTop-1:] {
				other.SKUs += e.SKUs
				other.GMV7d += e.GMV7d
				other.Units7 += e.Units7
			}
			l = append(l[:MixTop-1], other)
		}
		a.Mix[dim] = l
	}
	return a
}

// stamp records on v what its SKUs sold in the last 24 hours (by the index now; a refresh's
// ranking holds live SKUs only). Two bulk reads of the index's columns: about 1 ms for 10,000
// SKUs.
func (s *Service) stamp(v *Version) {
	ords := make([]int64, 0, len(v.Ranking))
	if v.Members != nil && v.Members.GetCardinality() == uint64(len(v.Ranking)) {
		// The members are the ranking's ordinals: no lookup by id (a map of a million).
		it := v.Members.Iterator()
		for it.HasNext() {
			ords = append(ords, int64(it.Next()))
		}
	} else {
		for _, id := range v.Ranking {
			if o, ok := s.Executor.Index.Ordinal(id); ok {
				ords = append(ords, o)
			}
		}
	}
	sum := func(field string) *int64 {
		t, err := s.Executor.Index.NumericSum(field, ords)
		if err != nil {
			return nil // not recorded (an index without the field)
		}
		return &t
	}
	v.GMV24h, v.Units24h = sum("gmv_24h"), sum("sales_24h")
}

// ExplainRemoved is explainRemoved for a diff the caller computed (a held refresh's).
func (s *Service) ExplainRemoved(ctx context.Context, plan Plan, removed []Moved) {
	s.explainRemoved(ctx, plan, removed)
}

// explainRemoved says, by the index now, why each SKU a refresh removed left the pool: it was
// deleted; it is excluded; a clause of the plan's filter no longer holds for it (named: "stock
// >= 1", "price <= 5000"); it is no longer of the plan's product types; or it still qualifies
// and better-ranked SKUs filled the pool.
func (s *Service) explainRemoved(ctx context.Context, plan Plan, removed []Moved) {
	if len(removed) == 0 {
		return
	}
	ix := s.Executor.Index
	ords := roaring64.New()
	ordOf := make([]int64, len(removed))
	for i, m := range removed {
		ordOf[i] = -1
		if o, ok := ix.Ordinal(m.SKUID); ok {
			if ix.IsLive(o) {
				ordOf[i] = o
				ords.Add(uint64(o))
			}
		}
	}
	// The filter's top-level clauses (of an and), each evaluated over the removed SKUs.
	type clause struct {
		text string
		pass *roaring64.Bitmap
	}
	var clauses []clause
	if plan.Filter != nil {
		parts := []filter.Expr{*plan.Filter}
		if plan.Filter.Op == filter.OpAnd {
			parts = plan.Filter.Args
		}
		for _, e := range parts {
			if pass, err := ix.EvalWithinContext(ctx, e, ords); err == nil {
				clauses = append(clauses, clause{e.String(), pass})
			}
		}
	}
	var types *roaring64.Bitmap
	if plan.Intent != nil && len(plan.Intent.Types) > 0 {
		if t, err := s.Executor.typeSet(ctx, plan.Intent, &Result{}); err == nil {
			types = t
		}
	}
	for i := range removed {
		o := ordOf[i]
		switch {
		case o < 0:
			removed[i].Reason = "deleted"
			continue
		case slices.Contains(plan.Exclusions, removed[i].SKUID):
			removed[i].Reason = "excluded"
			continue
		}
		for _, c := range clauses {
			if !c.pass.Contains(uint64(o)) {
				removed[i].Reason = "no longer passes the filter: " + c.text
				break
			}
		}
		if removed[i].Reason != "" {
			continue
		}
		if types != nil && !types.Contains(uint64(o)) {
			removed[i].Reason = "no longer of the plan's product types"
			continue
		}
		removed[i].Reason = "still qualifies; better-ranked SKUs filled the pool"
	}
}

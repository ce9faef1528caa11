package api

import (
	"strconv"

	"github.com/gin-gonic/gin"

	"selection/catalog"
	"selection/selection"
)

// ItemView is one SKU of a pool or a preview, with the catalogue data a planner needs.
type ItemView struct {
	Rank      int     `json:"rank"`
	SKUID     string  `json:"sku_id"`
	Title     string  `json:"title"`
	Brand     string  `json:"brand"`
	Market    string  `json:"market"`
	Currency  string  `json:"currency"`
	Price     int64   `json:"price"`
	ListPrice int64   `json:"list_price"`
	Discount  int64   `json:"discount_pct"`
	Stock     int64   `json:"stock"`
	Rating    float32 `json:"rating"`
	Sales7d   int64   `json:"sales_7d"`
	Score     float32 `json:"score"`
	Pinned    bool    `json:"pinned,omitempty"`
	// Rules: the boost and bury rules that moved it; Slot: the slot that placed it.
	Rules []string `json:"rules,omitempty"`
	Slot  string   `json:"slot,omitempty"`
	Live  bool     `json:"live"`
	Tags  []string `json:"tags"`
	Why   string   `json:"why,omitempty"`
}

// itemRow is one ranked SKU to show: what the ranking says of it, before the catalogue's data.
type itemRow struct {
	SKUID  int64
	Rank   int
	Score  float32
	Why    string
	Pinned bool
	Rules  []string
	Slot   string
}

// versionRows is the rows of v's ranking from start to end (ranks start+1 on) with their
// scores; pins marks the pinned SKUs (nil: none is marked).
func versionRows(v *selection.Version, start, end int, pins map[int64]bool) []itemRow {
	ids := v.Ranking[start:end]
	rows := make([]itemRow, len(ids))
	for i, id := range ids {
		rows[i] = itemRow{SKUID: id, Rank: start + i + 1, Pinned: pins[id]}
		if start+i < len(v.Scores) {
			rows[i].Score = v.Scores[start+i]
		}
	}
	return rows
}

// views joins ranked rows with their SKUs' current catalogue rows (deleted ones show
// live=false).
func (s *Server) views(c *gin.Context, rows []itemRow) ([]ItemView, error) {
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.SKUID
	}
	skus, err := s.deps.Catalog.GetMany(c.Request.Context(), ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*catalog.SKU, len(skus))
	for i := range skus {
		byID[skus[i].ID] = &skus[i]
	}
	out := make([]ItemView, len(rows))
	for i, r := range rows {
		v := ItemView{Rank: r.Rank, SKUID: strconv.FormatInt(r.SKUID, 10), Score: r.Score, Why: r.Why, Pinned: r.Pinned, Rules: r.Rules, Slot: r.Slot, Tags: []string{}}
		if k := byID[r.SKUID]; k != nil {
			v.Title, v.Brand, v.Market, v.Currency = k.Title, k.Brand, k.Market, k.Currency
			v.Price, v.ListPrice, v.Discount, v.Stock = k.Price, k.ListPrice, k.DiscountPercent(), k.Stock
			v.Rating, v.Sales7d, v.Live = k.Rating, k.Sales7d, k.Live
			if s.deps.Index != nil {
				v.Tags = s.tagsOf(k.Ordinal)
			}
		}
		out[i] = v
	}
	return out, nil
}

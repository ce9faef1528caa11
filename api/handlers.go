package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"selection/catalog"
	"selection/search"
	"selection/selection"
)

// decode reads a JSON body strictly: unknown fields and trailing data are errors.
func decode(c *gin.Context, v any) error {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: at most %d bytes", errBodyTooLarge, mbe.Limit)
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty body, want a JSON object", errBadRequest)
		}
		return fmt.Errorf("%w: body: %v", errBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: body: data after the JSON object", errBadRequest)
	}
	return nil
}

func pathID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: id %q is not an integer", errBadRequest, c.Param("id"))
	}
	return id, nil
}

func queryInt(c *gin.Context, name string, def, lo, hi int) (int, error) {
	s := c.Query(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%w: %s=%q, want an integer in %d..%d", errBadRequest, name, s, lo, hi)
	}
	return v, nil
}

type planRequest struct {
	Scenario string `json:"scenario"`
	Planner  string `json:"planner,omitempty"`
}

func (s *Server) plan(c *gin.Context) {
	var req planRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if strings.TrimSpace(req.Scenario) == "" {
		s.fail(c, fmt.Errorf("%w: scenario is empty", errBadRequest))
		return
	}
	resp, err := s.deps.Service.PlanScenario(c.Request.Context(), req.Scenario, req.Planner)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

// ItemView is one SKU of a pool or a preview, with the catalogue data a planner needs.
type ItemView struct {
	Rank      int      `json:"rank"`
	SKUID     string   `json:"sku_id"`
	Title     string   `json:"title"`
	Brand     string   `json:"brand"`
	Market    string   `json:"market"`
	Currency  string   `json:"currency"`
	Price     int64    `json:"price"`
	ListPrice int64    `json:"list_price"`
	Discount  int64    `json:"discount_pct"`
	Stock     int64    `json:"stock"`
	Rating    float32  `json:"rating"`
	Sales7d   int64    `json:"sales_7d"`
	Score     float32  `json:"score"`
	Pinned    bool     `json:"pinned,omitempty"`
	Live      bool     `json:"live"`
	Tags      []string `json:"tags"`
	Why       string   `json:"why,omitempty"`
}

// views joins ranked SKU ids with their current catalogue rows (deleted ones show live=false).
func (s *Server) views(c *gin.Context, ids []int64, ranks []int, scores []float32, why []string, pinned []bool) ([]ItemView, error) {
	skus, err := s.deps.Catalog.GetMany(c.Request.Context(), ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*catalog.SKU, len(skus))
	for i := range skus {
		byID[skus[i].ID] = &skus[i]
	}
	out := make([]ItemView, len(ids))
	for i, id := range ids {
		v := ItemView{Rank: ranks[i], SKUID: strconv.FormatInt(id, 10), Tags: []string{}}
		if scores != nil {
			v.Score = scores[i]
		}
		if why != nil {
			v.Why = why[i]
		}
		if pinned != nil {
			v.Pinned = pinned[i]
		}
		if k := byID[id]; k != nil {
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

type searchRequest struct {
	Scenario string          `json:"scenario,omitempty"`
	Plan     *selection.Plan `json:"plan,omitempty"`
	Limit    int             `json:"limit,omitempty"`
}

type searchResponse struct {
	Plan       selection.Plan `json:"plan"`
	Items      []ItemView     `json:"items"`
	Candidates uint64         `json:"candidates"`
	// Matched is how many SKUs pass the filter and are of the intent's types (plus those of
	// other types holding every word of the query); Stop says why the list ends where it does.
	Matched    uint64             `json:"matched"`
	Stop       string             `json:"stop"`
	Confidence float32            `json:"confidence"`
	Method     string             `json:"method"`
	Warnings   []string           `json:"warnings,omitempty"`
	Timings    map[string]float64 `json:"timings_ms"`
}

// search previews a scenario or a plan without saving it.
func (s *Server) search(c *gin.Context) {
	// One request: the intent's and the ranking's query embedding are one.
	c.Request = c.Request.WithContext(search.WithQueryMemo(c.Request.Context()))
	var req searchRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	var plan selection.Plan
	var warnings []string
	switch {
	case req.Plan != nil:
		plan = *req.Plan
	case strings.TrimSpace(req.Scenario) != "":
		pr, err := s.deps.Service.PlanScenario(c.Request.Context(), req.Scenario, "")
		if err != nil {
			s.fail(c, err)
			return
		}
		plan, warnings = pr.Plan, pr.Warnings
	default:
		s.fail(c, fmt.Errorf("%w: give a scenario or a plan", errBadRequest))
		return
	}
	if req.Limit > 0 {
		plan.Limit = req.Limit
	}
	res, err := s.deps.Service.Preview(c.Request.Context(), plan)
	if err != nil {
		s.fail(c, err)
		return
	}
	n := len(res.Items)
	ids, ranks, scores, why, pinned := make([]int64, n), make([]int, n), make([]float32, n), make([]string, n), make([]bool, n)
	for i, it := range res.Items {
		ids[i], ranks[i], scores[i], why[i], pinned[i] = it.SKUID, it.Rank, it.Score, it.Why, it.Pinned
	}
	items, err := s.views(c, ids, ranks, scores, why, pinned)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, searchResponse{Plan: res.Plan, Items: items, Candidates: res.Candidates, Matched: res.Matched, Stop: res.Stop,
		Confidence: res.Confidence, Method: res.Method, Warnings: append(warnings, res.Warnings...), Timings: res.Timings})
}

func (s *Server) getSKU(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	k, err := s.deps.Catalog.Get(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, skuView(k, s.tagsOf(k.Ordinal)))
}

type skuResponse struct {
	catalog.SKU
	Discount int64    `json:"discount_pct"`
	Tags     []string `json:"tags"`
}

func skuView(k catalog.SKU, tags []string) skuResponse {
	return skuResponse{SKU: k, Discount: k.DiscountPercent(), Tags: tags}
}

func (s *Server) getSKUs(c *gin.Context) {
	raw := c.Query("ids")
	if raw == "" {
		s.fail(c, fmt.Errorf("%w: give ids=1,2,3", errBadRequest))
		return
	}
	parts := strings.Split(raw, ",")
	if len(parts) > 1000 {
		s.fail(c, fmt.Errorf("%w: at most 1,000 ids", errBadRequest))
		return
	}
	ids := make([]int64, 0, len(parts))
	for _, p := range parts {
		v, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil {
			s.fail(c, fmt.Errorf("%w: id %q is not an integer", errBadRequest, p))
			return
		}
		ids = append(ids, v)
	}
	skus, err := s.deps.Catalog.GetMany(c.Request.Context(), ids)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]skuResponse, len(skus))
	for i, k := range skus {
		out[i] = skuView(k, s.tagsOf(k.Ordinal))
	}
	c.JSON(http.StatusOK, gin.H{"skus": out})
}

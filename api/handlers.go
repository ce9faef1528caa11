package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"selection/catalog"
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
	Plan       selection.Plan     `json:"plan"`
	Items      []ItemView         `json:"items"`
	Candidates uint64             `json:"candidates"`
	Confidence float32            `json:"confidence"`
	Method     string             `json:"method"`
	Warnings   []string           `json:"warnings,omitempty"`
	Timings    map[string]float64 `json:"timings_ms"`
}

// search previews a scenario or a plan without saving it.
func (s *Server) search(c *gin.Context) {
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
	c.JSON(http.StatusOK, searchResponse{Plan: res.Plan, Items: items, Candidates: res.Candidates,
		Confidence: res.Confidence, Method: res.Method, Warnings: append(warnings, res.Warnings...), Timings: res.Timings})
}

type poolRequest struct {
	Name       string          `json:"name"`
	Scenario   string          `json:"scenario,omitempty"`
	Plan       *selection.Plan `json:"plan,omitempty"`
	ValidFrom  *time.Time      `json:"valid_from,omitempty"`
	ValidUntil *time.Time      `json:"valid_until,omitempty"`
}

func (s *Server) poolInput(c *gin.Context) (selection.PoolInput, []string, error) {
	var req poolRequest
	if err := decode(c, &req); err != nil {
		return selection.PoolInput{}, nil, err
	}
	in := selection.PoolInput{Name: req.Name, Scenario: req.Scenario, ValidFrom: req.ValidFrom, ValidUntil: req.ValidUntil}
	if k, ok := c.Get(keyCtx); ok {
		in.CreatedBy = k.(Key).Name
	}
	var warnings []string
	switch {
	case req.Plan != nil:
		in.Plan = *req.Plan
	case strings.TrimSpace(req.Scenario) != "":
		pr, err := s.deps.Service.PlanScenario(c.Request.Context(), req.Scenario, "")
		if err != nil {
			return in, nil, err
		}
		in.Plan, warnings = pr.Plan, pr.Warnings
	default:
		return in, nil, fmt.Errorf("%w: a pool needs a scenario or a plan", errBadRequest)
	}
	return in, warnings, nil
}

type poolResponse struct {
	selection.Pool
	Warnings []string `json:"warnings,omitempty"`
}

func (s *Server) createPool(c *gin.Context) {
	in, warnings, err := s.poolInput(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	p, _, err := s.deps.Service.CreatePool(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", fmt.Sprintf("/v1/pools/%d", p.ID))
	c.JSON(http.StatusCreated, poolResponse{Pool: p, Warnings: warnings})
}

func (s *Server) updatePool(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	in, warnings, err := s.poolInput(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	// Check the edited plan runs before saving it.
	if _, err := s.deps.Service.Preview(c.Request.Context(), in.Plan); err != nil {
		s.fail(c, err)
		return
	}
	p, err := s.deps.Service.Pools.Update(c.Request.Context(), id, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, poolResponse{Pool: p, Warnings: warnings})
}

func (s *Server) deletePool(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.deps.Service.Pools.Delete(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) getPool(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	p, err := s.deps.Service.Pools.Get(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (s *Server) listPools(c *gin.Context) {
	limit, err := queryInt(c, "limit", 100, 1, 500)
	if err != nil {
		s.fail(c, err)
		return
	}
	var before int64
	if b := c.Query("before"); b != "" {
		if before, err = strconv.ParseInt(b, 10, 64); err != nil {
			s.fail(c, fmt.Errorf("%w: before=%q is not an id", errBadRequest, b))
			return
		}
	}
	pools, err := s.deps.Service.Pools.List(c.Request.Context(), before, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	resp := gin.H{"pools": pools}
	if len(pools) == limit {
		resp["next_before"] = strconv.FormatInt(pools[len(pools)-1].ID, 10)
	}
	if pools == nil {
		resp["pools"] = []selection.Pool{}
	}
	c.JSON(http.StatusOK, resp)
}

func (s *Server) refreshPool(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.deps.Service.Refresh(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) listVersions(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if _, err := s.deps.Service.Pools.Get(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	vs, err := s.deps.Service.Pools.Versions(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"versions": vs})
}

// cursor addresses a position in one version's ranking, so paging stays stable while new
// versions are written.
type cursor struct {
	Version int `json:"v"`
	Offset  int `json:"o"`
}

func encodeCursor(cur cursor) string {
	b, _ := json.Marshal(cur)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var cur cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &cur)
	}
	if err != nil || cur.Version < 1 || cur.Offset < 0 {
		return cur, fmt.Errorf("%w: cursor %q is not one this API gave out", errBadRequest, s)
	}
	return cur, nil
}

type itemsResponse struct {
	PoolID     string     `json:"pool_id"`
	Version    int        `json:"version"`
	Total      int        `json:"total"`
	Items      []ItemView `json:"items"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// version resolves ?version= (default: current) or a cursor's version.
func (s *Server) version(c *gin.Context, id int64, n int) (*selection.Version, error) {
	return s.deps.Service.Pools.GetVersion(c.Request.Context(), id, n)
}

func (s *Server) poolItems(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	limit, err := queryInt(c, "limit", 50, 1, 1000)
	if err != nil {
		s.fail(c, err)
		return
	}
	vn, err := queryInt(c, "version", 0, 1, 1<<30)
	if err != nil {
		s.fail(c, err)
		return
	}
	offset := 0
	if cs := c.Query("cursor"); cs != "" {
		cur, err := decodeCursor(cs)
		if err != nil {
			s.fail(c, err)
			return
		}
		vn, offset = cur.Version, cur.Offset
	}
	v, err := s.version(c, id, vn)
	if err != nil {
		s.fail(c, err)
		return
	}
	start := min(offset, len(v.Ranking)) // offset+limit could overflow: a cursor is client input
	end := start + min(limit, len(v.Ranking)-start)
	ids := v.Ranking[start:end]
	ranks := make([]int, len(ids))
	scores := make([]float32, len(ids))
	pinned := make([]bool, len(ids))
	pins := map[int64]bool{}
	for _, p := range v.Plan.Pins {
		pins[p] = true
	}
	for i := range ids {
		ranks[i] = start + i + 1
		if start+i < len(v.Scores) {
			scores[i] = v.Scores[start+i]
		}
		pinned[i] = pins[ids[i]]
	}
	items, err := s.views(c, ids, ranks, scores, nil, pinned)
	if err != nil {
		s.fail(c, err)
		return
	}
	resp := itemsResponse{PoolID: strconv.FormatInt(id, 10), Version: v.Version, Total: len(v.Ranking), Items: items}
	if end < len(v.Ranking) {
		resp.NextCursor = encodeCursor(cursor{Version: v.Version, Offset: end})
	}
	body, err := json.Marshal(resp)
	if err != nil {
		s.fail(c, err)
		return
	}
	// The ETag covers the body: the version's ranking and the SKUs' current data.
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	c.Header("ETag", etag)
	c.Header("Cache-Control", "no-cache")
	if inm := c.GetHeader("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

func etagMatch(header, etag string) bool {
	for _, part := range strings.Split(header, ",") {
		p := strings.TrimSpace(part)
		if p == "*" || p == etag || strings.TrimPrefix(p, "W/") == etag {
			return true
		}
	}
	return false
}

func (s *Server) diff(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	to, err := queryInt(c, "to", 0, 1, 1<<30)
	if err != nil {
		s.fail(c, err)
		return
	}
	b, err := s.version(c, id, to)
	if err != nil {
		s.fail(c, err)
		return
	}
	from, err := queryInt(c, "from", b.Version-1, 1, 1<<30)
	if err != nil || from < 1 {
		if err == nil {
			err = fmt.Errorf("%w: version %d is the first; give from=", errBadRequest, b.Version)
		}
		s.fail(c, err)
		return
	}
	a, err := s.version(c, id, from)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, selection.DiffVersions(a, b))
}

// export streams a version as CSV or JSONL (one object per SKU, in rank order).
func (s *Server) export(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	format := c.DefaultQuery("format", "csv")
	if format != "csv" && format != "jsonl" {
		s.fail(c, fmt.Errorf("%w: format %q, want csv or jsonl", errBadRequest, format))
		return
	}
	vn, err := queryInt(c, "version", 0, 1, 1<<30)
	if err != nil {
		s.fail(c, err)
		return
	}
	v, err := s.version(c, id, vn)
	if err != nil {
		s.fail(c, err)
		return
	}
	var buf bytes.Buffer
	var cw *csv.Writer
	if format == "csv" {
		cw = csv.NewWriter(&buf)
		_ = cw.Write([]string{"rank", "sku_id", "title", "brand", "market", "currency", "price", "list_price", "stock", "score", "live"})
	}
	const chunk = 500
	for start := 0; start < len(v.Ranking); start += chunk {
		end := min(start+chunk, len(v.Ranking))
		ids := v.Ranking[start:end]
		ranks := make([]int, len(ids))
		scores := make([]float32, len(ids))
		for i := range ids {
			ranks[i] = start + i + 1
			if start+i < len(v.Scores) {
				scores[i] = v.Scores[start+i]
			}
		}
		items, err := s.views(c, ids, ranks, scores, nil, nil)
		if err != nil {
			s.fail(c, err)
			return
		}
		for _, it := range items {
			if cw != nil {
				_ = cw.Write([]string{strconv.Itoa(it.Rank), it.SKUID, it.Title, it.Brand, it.Market, it.Currency,
					strconv.FormatInt(it.Price, 10), strconv.FormatInt(it.ListPrice, 10), strconv.FormatInt(it.Stock, 10),
					strconv.FormatFloat(float64(it.Score), 'g', 6, 32), strconv.FormatBool(it.Live)})
			} else {
				b, _ := json.Marshal(it)
				buf.Write(b)
				buf.WriteByte('\n')
			}
		}
	}
	ct := "application/x-ndjson"
	if cw != nil {
		cw.Flush()
		ct = "text/csv; charset=utf-8"
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="pool-%d-v%d.%s"`, id, v.Version, format))
	c.Data(http.StatusOK, ct, buf.Bytes())
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

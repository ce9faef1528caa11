package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"selection/catalog"
)

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
	if n := strings.Count(raw, ",") + 1; n > s.cfg.MaxLookupIDs {
		s.fail(c, fmt.Errorf("%w: %d ids, at most %d per lookup", errBadRequest, n, s.cfg.MaxLookupIDs))
		return
	}
	parts := strings.Split(raw, ",")
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

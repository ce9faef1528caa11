package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

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

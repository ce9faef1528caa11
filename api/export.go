package api

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// exportPage is how many SKUs an export reads from the catalogue at a time; each page is
// written and flushed to the client before the next is read, so an export holds one page (and
// the version's ranking, a plan's limit of ids at most), never the whole file.
var exportPage = 500

var exportHeader = []string{"rank", "sku_id", "title", "brand", "market", "currency", "price", "list_price", "stock", "score", "live"}

// export streams a version as CSV or JSONL (one object per SKU, in rank order), page by page.
// A failure before the first page is written is a problem answer; a later one aborts the
// response, so the client sees a broken transfer rather than a short file that looks whole.
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
	page := func(start int) ([]ItemView, error) {
		return s.views(c, versionRows(v, start, min(start+exportPage, len(v.Ranking)), nil))
	}
	items, err := page(0)
	if err != nil {
		s.fail(c, err)
		return
	}
	ct := "application/x-ndjson"
	if format == "csv" {
		ct = "text/csv; charset=utf-8"
	}
	c.Header("Content-Type", ct)
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="pool-%d-v%d.%s"`, id, v.Version, format))
	c.Status(http.StatusOK)
	rw := newRowWriter(format, c.Writer)
	for start := 0; ; {
		for _, it := range items {
			rw.write(it)
		}
		if err := rw.flush(); err != nil {
			return // the client went away
		}
		c.Writer.Flush()
		if start += exportPage; start >= len(v.Ranking) {
			return
		}
		if items, err = page(start); err != nil {
			s.log.Error("export: read a page", "pool", id, "version", v.Version, "rank", start+1, "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// rowWriter writes export rows in one format, buffered until flush.
type rowWriter struct {
	csv  *csv.Writer
	buf  *bufio.Writer
	json *json.Encoder
}

func newRowWriter(format string, w io.Writer) *rowWriter {
	if format == "csv" {
		rw := &rowWriter{csv: csv.NewWriter(w)}
		_ = rw.csv.Write(exportHeader) // a write error shows at flush
		return rw
	}
	buf := bufio.NewWriter(w)
	return &rowWriter{buf: buf, json: json.NewEncoder(buf)}
}

func (rw *rowWriter) write(it ItemView) {
	if rw.csv != nil {
		_ = rw.csv.Write([]string{strconv.Itoa(it.Rank), it.SKUID, csvText(it.Title), csvText(it.Brand),
			csvText(it.Market), csvText(it.Currency), strconv.FormatInt(it.Price, 10), strconv.FormatInt(it.ListPrice, 10),
			strconv.FormatInt(it.Stock, 10), strconv.FormatFloat(float64(it.Score), 'g', 6, 32), strconv.FormatBool(it.Live)})
		return
	}
	_ = rw.json.Encode(it) // a write error shows at flush; ItemView always encodes
}

func (rw *rowWriter) flush() error {
	if rw.csv != nil {
		rw.csv.Flush()
		return rw.csv.Error()
	}
	return rw.buf.Flush()
}

// csvText neutralises a text cell that a spreadsheet would evaluate as a formula: one starting
// with = + - or @ (or a tab or carriage return, which spreadsheets may skip before one) gets a
// leading apostrophe, which spreadsheets show as text and do not display. Numeric columns are
// written by the service itself and left as they are.
func csvText(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

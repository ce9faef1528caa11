package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// Request helpers shared by the handlers (one file per resource: search.go, skus.go, pools.go,
// export.go, tags.go).

// requireJSON refuses (415, body unread) a request to a route that reads a JSON body when its
// Content-Type is another: curl -d sends application/x-www-form-urlencoded, and a form's
// fields are not the JSON object the route reads. application/json and the +json types pass,
// in UTF-8 (JSON's only encoding: a charset parameter other than utf-8 is refused). A request
// without a Content-Type passes, its body read as JSON (clients that send none mean JSON).
func (s *Server) requireJSON(c *gin.Context) {
	ct := c.GetHeader("Content-Type")
	if ct == "" {
		c.Next()
		return
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		if cs, ok := params["charset"]; !ok || strings.EqualFold(cs, "utf-8") {
			c.Next()
			return
		}
	}
	s.refuse(c, fmt.Errorf("%w: Content-Type %.60q; this route reads application/json (UTF-8)", errUnsupportedMediaType, ct))
}

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

package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgconn"

	"selection/catalog"
	"selection/selection"
	"selection/tagger"
)

// Problem is an RFC 9457 problem detail, the body of every error response.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// errBodyTooLarge marks a request body over the limit.
var errBodyTooLarge = errors.New("request body too large")

// errUnsupportedMediaType marks a request body whose Content-Type is not JSON (415).
var errUnsupportedMediaType = errors.New("unsupported media type")

// errBadRequest marks malformed input found by the HTTP layer itself (bad JSON, bad parameter).
var errBadRequest = errors.New("bad request")

// statusOf maps an error to its HTTP status: the only place where errors meet status codes.
func statusOf(err error) (int, string) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests, "too-many-requests"
	case errors.As(err, &mbe), errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge, "request-too-large"
	case errors.Is(err, errUnsupportedMediaType):
		return http.StatusUnsupportedMediaType, "unsupported-media-type"
	case errors.Is(err, errBadRequest), errors.Is(err, selection.ErrInvalid):
		return http.StatusBadRequest, "invalid-request"
	case errors.Is(err, selection.ErrNotFound), errors.Is(err, catalog.ErrNotFound), errors.Is(err, tagger.ErrNotFound):
		return http.StatusNotFound, "not-found"
	case errors.Is(err, selection.ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, tagger.ErrInUse), errors.Is(err, selection.ErrConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, selection.ErrStale):
		return http.StatusPreconditionFailed, "precondition-failed"
	case errors.Is(err, selection.ErrRevisionRequired):
		return http.StatusPreconditionRequired, "precondition-required"
	case errors.As(err, new(*pgconn.ConnectError)): // before timeout: it names hosts and users
		return http.StatusServiceUnavailable, "unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "timeout"
	case dbUnavailable(err):
		return http.StatusServiceUnavailable, "unavailable"
	case errors.Is(err, context.Canceled):
		return 499, "client-closed-request"
	}
	return http.StatusInternalServerError, "internal"
}

// fail writes err as application/problem+json.
func (s *Server) fail(c *gin.Context, err error) {
	status, kind := statusOf(err)
	p := Problem{Type: "/problems/" + kind, Title: http.StatusText(status), Status: status, Instance: c.Request.URL.Path}
	if status == 499 {
		p.Title = "Client Closed Request"
	}
	if status >= 500 && status != http.StatusServiceUnavailable {
		s.log.Error("request failed", "method", c.Request.Method, "path", c.FullPath(), "err", err)
		p.Detail = "internal error; see the service log"
	} else if kind == "unavailable" {
		s.log.Warn("request failed: database unavailable", "method", c.Request.Method, "path", c.FullPath(), "err", err)
		p.Detail = errUnavailableDetail
		c.Header("Retry-After", unavailableRetryAfter)
	} else {
		p.Detail = boundDetail(err.Error())
	}
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="selection"`)
	}
	var rle *RateLimitError
	if errors.As(err, &rle) {
		c.Header("Retry-After", retryAfterSeconds(rle.RetryAfter))
		s.limited.WithLabelValues(rle.Scope).Inc()
	}
	c.Header("Content-Type", "application/problem+json")
	c.AbortWithStatusJSON(status, p)
}

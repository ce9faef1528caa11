package api

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// ErrRateLimited means a client, a key or the server's budget of key lookups is over its rate:
// 429 with Retry-After.
var ErrRateLimited = errors.New("too many requests")

// RateLimitError says which limit refused a request and when a retry may pass.
type RateLimitError struct {
	Scope      string // "address", "key" or "key lookups"
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%v: the %s rate limit is reached; retry after %s", ErrRateLimited, e.Scope, e.RetryAfter.Round(time.Millisecond))
}

func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// retryAfterSeconds is the Retry-After header's value: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// take takes one token from l at now, or returns how long until one is there (and takes none).
// Callers serialise their calls with now read under their lock: rate.Limiter moves its clock
// back to an earlier now and then counts the refill since then twice.
func take(l *rate.Limiter, now time.Time) time.Duration {
	r := l.ReserveN(now, 1)
	if !r.OK() {
		return time.Minute // burst 0: never; limiters here always have a burst
	}
	d := r.DelayFrom(now)
	if d > 0 {
		r.CancelAt(now)
	}
	return d
}

// limiterSet is a token bucket per name (client address, API key), at most capacity of them:
// the least recently seen name's bucket is forgotten first (it starts full when it comes back).
type limiterSet struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	m     *lru[string, *rate.Limiter]
}

// newLimiterSet returns nil (no limit) when perSecond is not positive; the burst is twice the
// rate, at least 1.
func newLimiterSet(perSecond float64, capacity int) *limiterSet {
	if perSecond <= 0 {
		return nil
	}
	return &limiterSet{limit: rate.Limit(perSecond), burst: max(1, int(math.Ceil(2*perSecond))), m: newLRU[string, *rate.Limiter](capacity)}
}

// wait takes a token from name's bucket, or says how long until there is one.
func (s *limiterSet) wait(name string) time.Duration {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now() // under the lock: a bucket given times out of order grants too much
	l, ok := s.m.get(name)
	if !ok {
		l = rate.NewLimiter(s.limit, s.burst)
		s.m.put(name, l)
	}
	return take(l, now)
}

// clientAddress is the request's peer address (the X-Forwarded-For header is not trusted): the
// IP for IPv4, its /64 network for IPv6 (one host usually holds a whole /64).
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() != nil {
		return ip.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// limitAddress refuses a client address over its rate (every route: /readyz pings the
// database, and the key check is behind it).
func (s *Server) limitAddress(c *gin.Context) {
	if d := s.perAddress.wait(clientAddress(c.Request)); d > 0 {
		s.refuse(c, &RateLimitError{Scope: "address", RetryAfter: d})
		return
	}
	c.Next()
}

// refuse answers err without reading the request body and closes the connection when there is
// one: a client that drips a body after a refusal must not hold the connection's goroutine
// (net/http would otherwise read up to 256 KiB of it, for as long as ReadTimeout allows, to
// keep the connection alive).
func (s *Server) refuse(c *gin.Context, err error) {
	if c.Request.ContentLength != 0 {
		c.Header("Connection", "close")
		// Reading the rest of the body now fails at once, so the server closes the connection
		// as soon as the answer is out. Not every ResponseWriter can (httptest's cannot).
		_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now())
	}
	s.fail(c, err)
}

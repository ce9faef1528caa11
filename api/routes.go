package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"selection/selection"
)

// Content-Security-Policy of the web page: its own scripts, styles, fetches and images only.
// The page has no inline script; its markup carries style attributes (style-src-attr), and it
// saves exports through blob: URLs it creates itself, which are downloads, not loads.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; " +
	"img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// apiCSP is every other answer's policy: JSON, CSV and metrics load nothing.
const apiCSP = "default-src 'none'; frame-ancestors 'none'"

// handlers are the /v1 operations' handlers by "METHOD path" as the route table (ops, in
// openapi.go) writes them; the role each needs comes from the table, so a route cannot be
// registered without one.
func (s *Server) handlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"POST /v1/plan":                          s.plan,
		"POST /v1/search":                        s.search,
		"GET /v1/pools":                          s.listPools,
		"POST /v1/pools":                         s.createPool,
		"GET /v1/pools/{id}":                     s.getPool,
		"PUT /v1/pools/{id}":                     s.updatePool,
		"DELETE /v1/pools/{id}":                  s.deletePool,
		"POST /v1/pools/{id}/refresh":            s.refreshPool,
		"GET /v1/pools/{id}/versions":            s.listVersions,
		"GET /v1/pools/{id}/pending":             s.getPending,
		"POST /v1/pools/{id}/pending/accept":     s.acceptPending,
		"POST /v1/pools/{id}/pending/reject":     s.rejectPending,
		"POST /v1/pools/{id}/state":              s.setState,
		"POST /v1/pools/{id}/rollback":           s.rollback,
		"GET /v1/pools/{id}/audit":               s.audit,
		"GET /v1/pools/{id}/analytics":           s.analytics,
		"GET /v1/slots":                          s.calendar,
		"PUT /v1/slots/{slot}":                   s.putSlot,
		"DELETE /v1/slots/{slot}":                s.deleteSlot,
		"POST /v1/slots/{slot}/schedules":        s.addSchedule,
		"DELETE /v1/slots/{slot}/schedules/{id}": s.deleteSchedule,
		"GET /v1/slots/{slot}/items":             s.slotItems,
		"GET /v1/pools/{id}/items":               s.poolItems,
		"GET /v1/pools/{id}/diff":                s.diff,
		"GET /v1/pools/{id}/export":              s.export,
		"GET /v1/tags":                           s.listTags,
		"POST /v1/tags":                          s.defineTag,
		"DELETE /v1/tags/{name}":                 s.deleteTag, // discovered tags are named family/topic
		"GET /v1/fields":                         s.listFields,
		"POST /v1/filters/parse":                 s.parseFilter,
		"GET /v1/skus":                           s.getSKUs,
		"GET /v1/skus/{id}":                      s.getSKU,
	}
}

func (s *Server) routes() {
	r := s.engine
	r.Use(s.recover, s.observe, s.limitAddress)
	r.NoRoute(func(c *gin.Context) {
		s.fail(c, fmt.Errorf("%w: no route %s %s", selection.ErrNotFound, c.Request.Method, c.Request.URL.Path))
	})
	r.HandleMethodNotAllowed = true
	r.NoMethod(func(c *gin.Context) {
		c.Header("Content-Type", "application/problem+json")
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, Problem{Type: "/problems/method-not-allowed",
			Title: "Method Not Allowed", Status: 405, Instance: c.Request.URL.Path})
	})
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.readyz)
	if s.deps.Registry != nil {
		r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.deps.Registry, promhttp.HandlerOpts{})))
	}
	r.GET("/v1/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", OpenAPI()) })

	hs := s.handlers()
	for _, o := range ops {
		name := o.method + " " + o.path
		h, ok := hs[name]
		if !ok {
			panic("api: route table entry without a handler: " + name)
		}
		delete(hs, name)
		chain := []gin.HandlerFunc{s.auth(o.role)}
		if o.request != "" {
			chain = append(chain, s.requireJSON)
		}
		r.Handle(o.method, ginPath(o), append(chain, h)...)
	}
	for name := range hs {
		panic("api: handler missing from the route table (give it a role there): " + name)
	}

	if s.deps.Web != nil {
		fileServer := http.FileServer(http.FS(s.deps.Web))
		page := func(h http.Handler) gin.HandlerFunc {
			return func(c *gin.Context) {
				c.Header("Content-Security-Policy", pageCSP)
				h.ServeHTTP(c.Writer, c.Request)
			}
		}
		r.GET("/", page(fileServer))
		r.GET("/ui/*path", page(http.StripPrefix("/ui", fileServer)))
	}
}

// methodLabel is the method as a metric label: the standard ones, everything else OTHER (a
// client may send any token as a method, and each would be a new series).
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			s.fail(c, fmt.Errorf("panic: %v", v))
		}
	}()
	c.Next()
}

func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Header("Content-Security-Policy", apiCSP) // the page's routes set their own
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.RequestTimeout)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
	route := c.FullPath() // the pattern, not the path
	if route == "" {
		route = "unmatched"
	}
	d := time.Since(start)
	s.latency.WithLabelValues(methodLabel(c.Request.Method), route, fmt.Sprint(c.Writer.Status())).Observe(d.Seconds())
	if route != "/metrics" && route != "/healthz" {
		s.log.Debug("http", "method", c.Request.Method, "route", route, "status", c.Writer.Status(), "ms", float64(d.Microseconds())/1000)
	}
}

const keyCtx = "apikey"

// auth requires a key whose role is at least role, within the key's rate.
func (s *Server) auth(role string) gin.HandlerFunc {
	return func(c *gin.Context) {
		presented := c.GetHeader("X-API-Key")
		if presented == "" {
			if h := c.GetHeader("Authorization"); strings.HasPrefix(h, "Bearer ") {
				presented = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
			}
		}
		key, err := s.keys.Check(c.Request.Context(), presented)
		if err == nil {
			if d := s.perKey.wait(key.limitName()); d > 0 {
				err = &RateLimitError{Scope: "key", RetryAfter: d}
			}
		}
		if err == nil && !atLeast(key.Role, role) {
			err = fmt.Errorf("%w: %s needs the %s role, key %q is a %s", ErrForbidden, c.Request.Method+" "+c.FullPath(), role, key.Name, key.Role)
		}
		if err != nil {
			s.refuse(c, err)
			return
		}
		c.Set(keyCtx, key)
		c.Next()
	}
}

// readyz answers whether the service takes traffic. The reason says which part is not ready;
// the error itself goes to the log only (it may name hosts, users and databases).
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.deps.DB.Ping(ctx); err != nil {
		s.log.Warn("not ready: database", "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready", "reason": "database unavailable"})
		return
	}
	if s.deps.Ready != nil {
		if err := s.deps.Ready(ctx); err != nil {
			s.log.Warn("not ready", "err", err)
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready", "reason": "service not ready; see the service log"})
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

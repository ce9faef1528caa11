package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"selection/catalog"
	"selection/selection"
	"selection/tagger"
)

// Config is the HTTP server's configuration.
type Config struct {
	// Addr to listen on. Default 127.0.0.1:8080.
	Addr string
	// MaxBodyBytes bounds request bodies. Default 1 MiB.
	MaxBodyBytes int64
	// RequestTimeout bounds each API request. Default 30s.
	RequestTimeout time.Duration
	// StaticKeys are "name:role:key" API keys from the configuration (besides api_keys).
	StaticKeys []string
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	return c
}

// Deps are the parts the API serves.
type Deps struct {
	DB       *pgxpool.Pool
	Service  *selection.Service
	Catalog  *catalog.Store
	Index    *tagger.Index
	Registry *prometheus.Registry // /metrics; the server registers its own collectors here
	Web      fs.FS                // the web page's assets (nil: no page)
	// Ready reports whether the service is ready for traffic (index loaded, consumers running).
	Ready func(ctx context.Context) error
	// Tags, when set, lets planners define and delete tags over the API (POST /v1/tags,
	// DELETE /v1/tags/{name}); TaggerService is the tagger's.
	Tags TagService
	// Events, when set, is told about each served query's latency.
	Log *slog.Logger
}

// TagService defines and deletes tags (TaggerService over the tagger).
type TagService interface {
	DefineTag(ctx context.Context, req json.RawMessage) (any, error)
	DeleteTag(ctx context.Context, name string) error
}

// Server is the REST API (gin, under /v1), the health endpoints, /metrics and the web page.
type Server struct {
	cfg     Config
	deps    Deps
	keys    *Keys
	log     *slog.Logger
	engine  *gin.Engine
	http    *http.Server
	started atomic.Bool
	latency *prometheus.HistogramVec
}

// New builds the server and its routes.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg = cfg.WithDefaults()
	keys, err := NewKeys(deps.DB, cfg.StaticKeys)
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, deps: deps, keys: keys, log: log, engine: gin.New()}
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "selection_http_request_duration_seconds",
		Help:    "API request latency by route and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"method", "route", "status"})
	if deps.Registry != nil {
		if err := deps.Registry.Register(s.latency); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	s.routes()
	return s, nil
}

// Routes lists the registered /v1 API routes as "METHOD path" (the OpenAPI document itself
// excluded), sorted.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.engine.Routes() {
		if strings.HasPrefix(r.Path, "/v1/") && r.Path != "/v1/openapi.json" {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	sort.Strings(out)
	return out
}

// Handler is the server's http.Handler (for tests).
func (s *Server) Handler() http.Handler { return s.engine }

func (s *Server) routes() {
	r := s.engine
	r.Use(s.recover, s.observe)
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

	read := r.Group("/v1", s.auth(RoleReader))
	write := r.Group("/v1", s.auth(RolePlanner))
	write.POST("/plan", s.plan)
	read.POST("/search", s.search)
	read.GET("/pools", s.listPools)
	write.POST("/pools", s.createPool)
	read.GET("/pools/:id", s.getPool)
	write.PUT("/pools/:id", s.updatePool)
	write.DELETE("/pools/:id", s.deletePool)
	write.POST("/pools/:id/refresh", s.refreshPool)
	read.GET("/pools/:id/versions", s.listVersions)
	read.GET("/pools/:id/items", s.poolItems)
	read.GET("/pools/:id/diff", s.diff)
	read.GET("/pools/:id/export", s.export)
	read.GET("/tags", s.listTags)
	write.POST("/tags", s.defineTag)
	write.DELETE("/tags/*name", s.deleteTag) // discovered tags are named family/topic
	read.GET("/fields", s.listFields)
	read.POST("/filters/parse", s.parseFilter)
	read.GET("/skus", s.getSKUs)
	read.GET("/skus/:id", s.getSKU)

	if s.deps.Web != nil {
		fileServer := http.FileServer(http.FS(s.deps.Web))
		r.GET("/", gin.WrapH(fileServer))
		r.GET("/ui/*path", func(c *gin.Context) {
			http.StripPrefix("/ui", fileServer).ServeHTTP(c.Writer, c.Request)
		})
	}
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
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.RequestTimeout)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	d := time.Since(start)
	s.latency.WithLabelValues(c.Request.Method, route, fmt.Sprint(c.Writer.Status())).Observe(d.Seconds())
	if route != "/metrics" && route != "/healthz" {
		s.log.Debug("http", "method", c.Request.Method, "route", route, "status", c.Writer.Status(), "ms", float64(d.Microseconds())/1000)
	}
}

const keyCtx = "apikey"

// auth requires a key whose role is at least role.
func (s *Server) auth(role string) gin.HandlerFunc {
	return func(c *gin.Context) {
		presented := c.GetHeader("X-API-Key")
		if presented == "" {
			if h := c.GetHeader("Authorization"); strings.HasPrefix(h, "Bearer ") {
				presented = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
			}
		}
		key, err := s.keys.Check(c.Request.Context(), presented)
		if err != nil {
			s.fail(c, err)
			return
		}
		if role == RolePlanner && key.Role != RolePlanner {
			s.fail(c, fmt.Errorf("%w: %s needs the planner role, key %q is a %s", ErrForbidden, c.Request.Method+" "+c.FullPath(), key.Name, key.Role))
			return
		}
		c.Set(keyCtx, key)
		c.Next()
	}
}

func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.deps.DB.Ping(ctx); err != nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready", "reason": "database: " + err.Error()})
		return
	}
	if s.deps.Ready != nil {
		if err := s.deps.Ready(ctx); err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready", "reason": err.Error()})
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// Start listens and serves in the background; Stop shuts down gracefully. Both are idempotent.
func (s *Server) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		s.started.Store(false)
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.http = &http.Server{Handler: s.engine, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	s.cfg.Addr = ln.Addr().String()
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "err", err)
		}
	}()
	s.log.Info("listening", "addr", s.cfg.Addr)
	return nil
}

// Addr is the address the server listens on (after Start).
func (s *Server) Addr() string { return s.cfg.Addr }

// Stop shuts the server down, waiting for requests in flight until ctx ends.
func (s *Server) Stop(ctx context.Context) error {
	if !s.started.CompareAndSwap(true, false) || s.http == nil {
		return nil
	}
	return s.http.Shutdown(ctx)
}

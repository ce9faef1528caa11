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

	"selection/catalog"
	"selection/filter"
	"selection/selection"
)

// Config is the HTTP server's configuration.
type Config struct {
	// Addr to listen on. Default 127.0.0.1:8080.
	Addr string
	// MaxBodyBytes bounds request bodies (413 past it). Default 1 MiB.
	MaxBodyBytes int64
	// MaxLookupIDs bounds the ids of one GET /v1/skus?ids= lookup (400 past it). Default 1000.
	MaxLookupIDs int
	// RequestTimeout bounds each API request's work. Default 30s.
	RequestTimeout time.Duration
	// StaticKeys are "name:role:key" API keys from the configuration (besides api_keys).
	StaticKeys []string

	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included. Default 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end of its answer; keep
	// it above RequestTimeout. Default 60s.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle for this long. Default 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (431 past it). Default 32 KiB.
	MaxHeaderBytes int

	// RatePerAddress bounds the requests of one client address (IPv6: one /64), per second,
	// burst twice that, on every route; past it 429 with Retry-After. Negative: no bound.
	// Default 100.
	RatePerAddress float64
	// RatePerKey bounds the requests of one API key per second, burst twice that. Negative:
	// no bound. Default 50.
	RatePerKey float64
	// Keys tunes the key checker (revocation delay, caches, the budget of key lookups).
	Keys KeysConfig
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxLookupIDs == 0 {
		c.MaxLookupIDs = 1000
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 60 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 32 << 10
	}
	if c.RatePerAddress == 0 {
		c.RatePerAddress = 100
	}
	if c.RatePerKey == 0 {
		c.RatePerKey = 50
	}
	c.Keys = c.Keys.WithDefaults()
	return c
}

// limiterCapacity bounds the client addresses and keys whose buckets are remembered.
const limiterCapacity = 10000

// Deps are the parts the API serves.
type Deps struct {
	DB       *pgxpool.Pool
	Service  *selection.Service
	Catalog  *catalog.Store
	Index    *filter.Index
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
	limited *prometheus.CounterVec

	perAddress *limiterSet // nil: no bound
	perKey     *limiterSet
}

// New builds the server and its routes.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg = cfg.WithDefaults()
	keys, err := NewKeys(deps.DB, cfg.StaticKeys, cfg.Keys)
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, deps: deps, keys: keys, log: log, engine: gin.New(),
		perAddress: newLimiterSet(cfg.RatePerAddress, limiterCapacity), perKey: newLimiterSet(cfg.RatePerKey, limiterCapacity)}
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "selection_http_request_duration_seconds",
		Help:    "API request latency by route and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"method", "route", "status"})
	s.limited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "selection_http_rate_limited_total",
		Help: "Requests answered 429, by the limit that refused them (address, key, key lookups)."}, []string{"scope"})
	lookups := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "selection_api_key_lookups_total",
		Help: "Database lookups of API keys (cache misses and rechecks)."}, func() float64 { return float64(keys.Lookups()) })
	if deps.Registry != nil {
		for _, c := range []prometheus.Collector{s.latency, s.limited, lookups} {
			if err := deps.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("register metrics: %w", err)
			}
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
	s.http = &http.Server{Handler: s.engine, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, ReadTimeout: s.cfg.ReadTimeout,
		WriteTimeout: s.cfg.WriteTimeout, IdleTimeout: s.cfg.IdleTimeout, MaxHeaderBytes: s.cfg.MaxHeaderBytes,
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

package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/api"
)

// apiSettings are the HTTP server's limits (timeouts, header size, rate limits, how soon a
// revoked key stops working) and the ingest consumer's own share of database connections.
var apiSettings struct {
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	MaxHeaderBytes int
	RatePerAddress float64
	RatePerKey     float64
	KeyLookupRate  float64
	KeyRecheck     time.Duration
	IngestDBConns  int
}

func init() {
	settings = append(settings,
		setting{"SELECTION_HTTP_READ_TIMEOUT", "30s", "how long a client may take to send a whole request, body included",
			positiveDuration(func(d time.Duration) { apiSettings.ReadTimeout = d })},
		setting{"SELECTION_HTTP_WRITE_TIMEOUT", "60s", "how long a request may take from the end of its headers to the end of its answer (above the 30 s an API request may work)",
			positiveDuration(func(d time.Duration) { apiSettings.WriteTimeout = d })},
		setting{"SELECTION_HTTP_IDLE_TIMEOUT", "120s", "how long an idle keep-alive connection stays open",
			positiveDuration(func(d time.Duration) { apiSettings.IdleTimeout = d })},
		setting{"SELECTION_HTTP_MAX_HEADER_BYTES", "32768", "largest request header block, in bytes (431 past it)",
			intSetting(1024, 1<<20, func(v int) { apiSettings.MaxHeaderBytes = v })},
		setting{"SELECTION_API_RATE_PER_ADDRESS", "100", "requests per second from one client address (IPv6: one /64), burst twice that, on every route; past it 429 with Retry-After (0 turns it off)",
			rateSetting(func(v float64) { apiSettings.RatePerAddress = v })},
		setting{"SELECTION_API_RATE_PER_KEY", "50", "requests per second with one API key, burst twice that; past it 429 with Retry-After (0 turns it off)",
			rateSetting(func(v float64) { apiSettings.RatePerKey = v })},
		setting{"SELECTION_API_KEY_LOOKUP_RATE", "20", "database lookups per second of API keys the server has not seen (or has forgotten), all clients together, burst twice that; past it such keys get 429 (0 turns it off)",
			rateSetting(func(v float64) { apiSettings.KeyLookupRate = v })},
		setting{"SELECTION_API_KEY_RECHECK", "5s", "how long a valid API key is trusted before api_keys is read again: a revoked key stops working within it",
			positiveDuration(func(d time.Duration) { apiSettings.KeyRecheck = d })},
		setting{"SELECTION_INGEST_DB_CONNS", "8", "Postgres connections of the ingest consumer, a pool apart from the API's (one transaction per partition at a time: keep it above SELECTION_KAFKA_PARTITIONS)",
			intSetting(1, 1000, func(v int) { apiSettings.IngestDBConns = v })},
	)
}

func positiveDuration(set func(time.Duration)) func(*Config, string) error {
	return func(_ *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("not a positive duration")
		}
		set(d)
		return nil
	}
}

func rateSetting(set func(float64)) func(*Config, string) error {
	return func(_ *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1e6 {
			return errors.New("want a number of requests per second, 0 to 1000000")
		}
		set(f)
		return nil
	}
}

// offIfZero maps a setting's 0 (off) to api.Config's negative (no bound; its 0 is the default).
func offIfZero(v float64) float64 {
	if v == 0 {
		return -1
	}
	return v
}

// apiConfig is the HTTP server's configuration from the settings.
func apiConfig(env *Env) api.Config {
	return api.Config{Addr: env.Config.HTTPAddr, StaticKeys: serveSettings.APIKeys,
		ReadTimeout: apiSettings.ReadTimeout, WriteTimeout: apiSettings.WriteTimeout, IdleTimeout: apiSettings.IdleTimeout,
		MaxHeaderBytes: apiSettings.MaxHeaderBytes,
		RatePerAddress: offIfZero(apiSettings.RatePerAddress), RatePerKey: offIfZero(apiSettings.RatePerKey),
		Keys: api.KeysConfig{Recheck: apiSettings.KeyRecheck, LookupRate: offIfZero(apiSettings.KeyLookupRate)}}
}

// siblingPool opens a pool to the same database as pool (same settings, search path and
// connection hooks) with its own maxConns connections: ingest writes through one so that API
// traffic never waits for its connections, nor it for the API's.
func siblingPool(ctx context.Context, pool *pgxpool.Pool, maxConns int) (*pgxpool.Pool, error) {
	pc := pool.Config()
	pc.MaxConns = int32(maxConns)
	pc.MinConns = min(pc.MinConns, pc.MaxConns)
	p, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("ingest database pool: %w", err)
	}
	if err := p.Ping(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("ingest database pool: %w", err)
	}
	return p, nil
}

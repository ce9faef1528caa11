package cli

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/api"
)

// apiConfig is the HTTP server's configuration from the settings.
func apiConfig(env *Env) api.Config {
	a := env.Config.API
	// The rates' negative (off) is api.Config's own; their zero would be its default.
	return api.Config{Addr: env.Config.HTTPAddr, StaticKeys: env.Config.Serve.APIKeys,
		ReadTimeout: a.ReadTimeout, WriteTimeout: a.WriteTimeout, IdleTimeout: a.IdleTimeout, MaxHeaderBytes: a.MaxHeaderBytes,
		MaxBodyBytes:   int64(a.MaxBodyBytes),
		RatePerAddress: a.RatePerAddress, RatePerKey: a.RatePerKey,
		Keys: api.KeysConfig{Recheck: a.KeyRecheck, LookupRate: a.KeyLookupRate}}
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

package pg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
)

// SetupHint is the command that installs and starts what the database needs.
const SetupHint = "make setup"

// Config says how to reach Postgres.
type Config struct {
	// URL is a libpq connection string or URL.
	// Default: postgres://selection:selection@127.0.0.1:5432/selection?sslmode=disable
	URL string
	// MaxConns bounds the pool. Default: 4 x GOMAXPROCS, at least 8.
	MaxConns int32
	// ConnectTimeout bounds the first connection. Default: 5s.
	ConnectTimeout time.Duration
	// SearchPath, when set, is the schema search path of every connection (tests use it).
	SearchPath string
}

// DefaultURL is where scripts/setup.sh puts the database.
const DefaultURL = "postgres://selection:selection@127.0.0.1:5432/selection?sslmode=disable"

// WithDefaults fills zero fields with their defaults.
func (c Config) WithDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	return c
}

// Connect opens a pool, registers the pgvector types and checks that the server answers. A
// failure is one line naming host, port, database and user (never the password) and the setup
// command.
func Connect(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	cfg = cfg.WithDefaults()
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("database URL is not valid (%s); see DATABASE_URL in README.md", redactParseError(err))
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	} else if pc.MaxConns < 8 {
		pc.MaxConns = 8
	}
	if cfg.SearchPath != "" {
		pc.ConnConfig.RuntimeParams["search_path"] = cfg.SearchPath
	}
	pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	pc.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		// The vector type may not exist yet (before the first migration); register when it does.
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'vector')").Scan(&ok); err != nil {
			return err
		}
		if ok {
			return pgxvec.RegisterTypes(ctx, conn)
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, describe(pc.ConnConfig, err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, describe(pc.ConnConfig, err)
	}
	return pool, nil
}

// ConnectError is a failure to reach the database, described without secrets.
type ConnectError struct {
	Host, Database, User string
	Port                 uint16
	Err                  error
}

func (e *ConnectError) Error() string {
	var pgErr *pgconn.PgError
	if errors.As(e.Err, &pgErr) && strings.HasPrefix(pgErr.Code, "28") {
		// The server is there and said no: installing or starting it is not the cure.
		return fmt.Sprintf("Postgres at %s port %d refused user %q for database %q: %s; check the user and password in DATABASE_URL",
			e.Host, e.Port, e.User, e.Database, reason(e.Err))
	}
	return fmt.Sprintf("cannot reach Postgres at %s port %d, database %q as user %q: %s; run `%s` to install and start it, or set DATABASE_URL",
		e.Host, e.Port, e.Database, e.User, reason(e.Err), SetupHint)
}

func (e *ConnectError) Unwrap() error { return e.Err }

func describe(cc *pgx.ConnConfig, err error) error {
	return &ConnectError{Host: cc.Host, Port: cc.Port, Database: cc.Database, User: cc.User, Err: err}
}

// reason reduces a connection error to its cause, without the connection string.
func reason(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Err.Error()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "host not found"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// redactParseError never repeats the URL (it may hold a password).
func redactParseError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "cannot parse `"); i >= 0 {
		if j := strings.Index(msg[i+14:], "`"); j >= 0 {
			msg = msg[:i] + "cannot parse the URL" + msg[i+14+j+1:]
		}
	}
	return msg
}

package pg

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// LeaseClass is the first key of every Lease's advisory lock (pg_try_advisory_lock(int4,
// int4)): "sel\x00", so that the service's locks do not meet another application's.
const LeaseClass int32 = 0x73656c00

// A Lease elects one holder among the replicas that share a database, for a job that must run
// once at a time (the pool refresher): a Postgres session-level advisory lock, held on a
// connection of its own (not one of the pool's). When the holder's process dies its
// connection closes and the server releases the lock, so another replica's next Hold takes
// it.
//
// The lock's second key is hashtext(name || current_schema()): the same name in two schemas of
// one database (the tests' per-test schemas) names two leases.
//
// Hold is called by one goroutine at a time (a poll loop); Held may be called from any.
type Lease struct {
	name string
	cfg  *pgx.ConnConfig

	mu   sync.Mutex // serializes Hold and Release
	conn *pgx.Conn  // the lock's connection, nil when not connected
	held atomic.Bool
}

// NewLease returns a lease named name over the database of pool (the connection settings of
// pool, search path included). It connects at the first Hold.
func NewLease(pool *pgxpool.Pool, name string) *Lease {
	return &Lease{name: name, cfg: pool.Config().ConnConfig.Copy()}
}

// Name is the lease's name.
func (l *Lease) Name() string { return l.name }

// Held reports whether the last Hold held the lock.
func (l *Lease) Held() bool { return l.held.Load() }

// Hold makes sure of the lock: it tries to take it when not held (connecting first when not
// connected), and checks that the lock's connection is alive when held. It returns whether the
// lock is held now and whether that changed (taken or lost) with this call; an error means the
// lock is not held (a broken connection is closed, the next Hold reconnects).
func (l *Lease) Hold(ctx context.Context) (held, changed bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	was := l.held.Load()
	held, err = l.hold(ctx)
	if err != nil {
		held = false
		if l.conn != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = l.conn.Close(cctx)
			cancel()
			l.conn = nil
		}
	}
	l.held.Store(held)
	return held, held != was, err
}

func (l *Lease) hold(ctx context.Context) (bool, error) {
	if l.conn == nil {
		c, err := pgx.ConnectConfig(ctx, l.cfg)
		if err != nil {
			return false, fmt.Errorf("lease %s: connect: %w", l.name, err)
		}
		l.conn = c
	}
	if l.held.Load() {
		// Alive and still ours: a connection the server ended (pg_terminate_backend, a restart)
		// fails here.
		var ours bool
		err := l.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE `+leaseGranted+`
			AND pid = pg_backend_pid())`, LeaseClass, l.name).Scan(&ours)
		if err != nil {
			return false, fmt.Errorf("lease %s: check: %w", l.name, err)
		}
		return ours, nil
	}
	var got bool
	if err := l.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2::text || current_schema()))`,
		LeaseClass, l.name).Scan(&got); err != nil {
		return false, fmt.Errorf("lease %s: try: %w", l.name, err)
	}
	return got, nil
}

// Release gives the lock up and closes its connection (the lock goes with the session; an
// explicit unlock first makes the hand-over immediate even if closing is slow).
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		l.held.Store(false)
		return nil
	}
	var err error
	if l.held.Load() {
		_, err = l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext($2::text || current_schema()))`, LeaseClass, l.name)
	}
	l.held.Store(false)
	err = errors.Join(err, l.conn.Close(ctx))
	l.conn = nil
	if err != nil {
		return fmt.Errorf("lease %s: release: %w", l.name, err)
	}
	return nil
}

// leaseGranted is the pg_locks condition of a granted lease lock ($1 LeaseClass, $2 the name):
// a two-key advisory lock (objsubid 2) keyed as Hold takes it.
const leaseGranted = `locktype = 'advisory' AND classid = $1::int4::oid
	AND objid = hashtext($2::text || current_schema())::oid AND objsubid = 2 AND granted`

// LeaseHeld reports whether some session holds the lease named name over the database of pool
// (without taking it): a command that runs beside the service asks it to know whether a
// replica leads.
func LeaseHeld(ctx context.Context, pool *pgxpool.Pool, name string) (bool, error) {
	var held bool
	err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE `+leaseGranted+`)`, LeaseClass, name).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	return held, nil
}

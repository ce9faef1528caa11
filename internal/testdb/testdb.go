// Package testdb gives each test a freshly migrated schema of its own in the test database.
//
// The database comes from TEST_DATABASE_URL, by default the selection_test database that
// scripts/setup.sh creates. Each call to New makes a schema named after the test, runs every
// migration in it, returns a pool whose connections use it (search_path = schema, public; the
// vector extension lives in public), and drops the schema when the test ends. Proxy stands
// between a test's client and the server to cut, stall or restore its connections.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/internal/pg"
	"selection/migrations"
)

// DefaultURL is the test database scripts/setup.sh creates.
const DefaultURL = "postgres://selection:selection@127.0.0.1:5432/selection_test?sslmode=disable"

// URL is the test database URL: TEST_DATABASE_URL, or DefaultURL.
func URL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// DB is one test's schema.
type DB struct {
	Pool   *pgxpool.Pool
	Schema string
	// Config connects to the same schema (for code under test that opens its own pool).
	Config pg.Config
}

var unsafe = regexp.MustCompile(`[^a-z0-9_]+`)

// New makes, migrates and returns a schema for t; it is dropped in t.Cleanup.
func New(t testing.TB) *DB {
	t.Helper()
	return newDB(t, true)
}

// NewEmpty makes a schema for t without running the migrations.
func NewEmpty(t testing.TB) *DB {
	t.Helper()
	return newDB(t, false)
}

func newDB(t testing.TB, migrate bool) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.ToLower(t.Name())
	name = unsafe.ReplaceAllString(name, "_")
	if len(name) > 40 {
		name = name[:40]
	}
	schema := "t_" + name + "_" + hex.EncodeToString(b[:])

	admin, err := pg.Connect(ctx, pg.Config{URL: URL(), MaxConns: 2})
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE SCHEMA %q", schema)); err != nil {
		admin.Close()
		t.Fatalf("testdb: create schema: %v", err)
	}
	cfg := pg.Config{URL: URL(), SearchPath: fmt.Sprintf("%q, public", schema)}
	pool, err := pg.Connect(ctx, cfg)
	if err != nil {
		admin.Close()
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, fmt.Sprintf("DROP SCHEMA %q CASCADE", schema)); err != nil {
			t.Errorf("testdb: drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	if migrate {
		if _, err := migrations.Apply(ctx, pool); err != nil {
			t.Fatalf("testdb: %v", err)
		}
		// Connections opened before the migration lack the vector type registration.
		pool.Reset()
	}
	return &DB{Pool: pool, Schema: schema, Config: cfg}
}

// URL is the test database URL with this test's schema first on the search path, for code
// under test that reads DATABASE_URL (commands run in process).
func (d *DB) URL() string {
	u := URL()
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "options=-csearch_path%3D" + d.Schema + ",public"
}

package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Roles. A planner may do everything a reader may, and write.
const (
	RolePlanner = "planner"
	RoleReader  = "reader"
)

// ErrUnauthorized means no key or an unknown key; ErrForbidden a key whose role may not.
var (
	ErrUnauthorized = errors.New("a valid API key is required (header X-API-Key or Authorization: Bearer)")
	ErrForbidden    = errors.New("this API key's role may not do that")
)

// Key is an API key's identity.
type Key struct {
	ID   int64
	Name string
	Role string
}

// Keys checks API keys against the api_keys table (SHA-256 of the key) and against static keys
// from the configuration. Lookups are cached for a minute.
type Keys struct {
	db     *pgxpool.Pool
	static map[[32]byte]Key
	mu     sync.Mutex
	cache  map[[32]byte]cached
}

type cached struct {
	key Key
	ok  bool
	at  time.Time
}

// NewKeys returns a key checker over db (may be nil) and static "name:role:key" entries.
func NewKeys(db *pgxpool.Pool, static []string) (*Keys, error) {
	k := &Keys{db: db, static: map[[32]byte]Key{}, cache: map[[32]byte]cached{}}
	for _, s := range static {
		parts := strings.SplitN(strings.TrimSpace(s), ":", 3)
		if len(parts) != 3 || parts[2] == "" || (parts[1] != RolePlanner && parts[1] != RoleReader) {
			return nil, fmt.Errorf("static API key %q: want name:role:key with role planner or reader", redactKeySpec(s))
		}
		k.static[sha256.Sum256([]byte(parts[2]))] = Key{Name: parts[0], Role: parts[1]}
	}
	return k, nil
}

func redactKeySpec(s string) string {
	if i := strings.LastIndex(s, ":"); i >= 0 {
		return s[:i+1] + "***"
	}
	return "***"
}

// Check returns the key's identity or ErrUnauthorized.
func (k *Keys) Check(ctx context.Context, presented string) (Key, error) {
	if presented == "" || len(presented) > 200 {
		return Key{}, ErrUnauthorized
	}
	h := sha256.Sum256([]byte(presented))
	for sh, key := range k.static {
		if subtle.ConstantTimeCompare(sh[:], h[:]) == 1 {
			return key, nil
		}
	}
	if k.db == nil {
		return Key{}, ErrUnauthorized
	}
	k.mu.Lock()
	c, ok := k.cache[h]
	k.mu.Unlock()
	if ok && time.Since(c.at) < time.Minute {
		if !c.ok {
			return Key{}, ErrUnauthorized
		}
		return c.key, nil
	}
	var key Key
	err := k.db.QueryRow(ctx, `UPDATE api_keys SET last_used_at = now() WHERE key_hash = $1 AND revoked_at IS NULL
		RETURNING id, name, role`, h[:]).Scan(&key.ID, &key.Name, &key.Role)
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Key{}, fmt.Errorf("check api key: %w", err)
	}
	k.mu.Lock()
	if len(k.cache) > 10000 {
		k.cache = map[[32]byte]cached{}
	}
	k.cache[h] = cached{key: key, ok: found, at: time.Now()}
	k.mu.Unlock()
	if !found {
		return Key{}, ErrUnauthorized
	}
	return key, nil
}

// CreateKey makes a new random key with a role and stores its hash; the key is returned once.
func CreateKey(ctx context.Context, db *pgxpool.Pool, name, role string) (string, error) {
	if role != RolePlanner && role != RoleReader {
		return "", fmt.Errorf("role %q: want planner or reader", role)
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	key := "sk_" + role[:1] + "_" + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(key))
	if _, err := db.Exec(ctx, `INSERT INTO api_keys (name, role, key_hash) VALUES ($1, $2, $3)`, name, role, h[:]); err != nil {
		return "", fmt.Errorf("create api key: %w", err)
	}
	return key, nil
}

package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/time/rate"
)

// Roles. A planner may do everything a reader may, and write; an approver everything a planner
// may, and publish (selection.Service.Approval).
const (
	RolePlanner  = "planner"
	RoleReader   = "reader"
	RoleApprover = "approver"
)

// roleRank orders the roles by what they may do.
var roleRank = map[string]int{RoleReader: 1, RolePlanner: 2, RoleApprover: 3}

// atLeast reports whether a key's role may do what role may.
func atLeast(have, role string) bool { return roleRank[have] >= roleRank[role] }

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

// KeysConfig tunes the key checker.
type KeysConfig struct {
	// Recheck is how long a key found in api_keys is trusted before it is read again: a
	// revoked key stops working within it. Default 5s.
	Recheck time.Duration
	// UnknownTTL is how long a key that api_keys does not hold is refused without asking the
	// database again (a key created later is new random bytes, never one that was tried).
	// Default 1m.
	UnknownTTL time.Duration
	// CacheSize bounds the known keys and, separately, the unknown keys remembered; each
	// forgets its least recently used entry first, so a flood of wrong keys never pushes out
	// the valid ones. Default 10,000.
	CacheSize int
	// LookupRate bounds the database lookups of keys that are in neither cache, per second,
	// all clients together (burst twice that); past it such a key is answered 429 without a
	// lookup. Keys already known are rechecked outside this budget. Negative: no bound.
	// Default 20.
	LookupRate float64
}

// WithDefaults fills zero fields.
func (c KeysConfig) WithDefaults() KeysConfig {
	if c.Recheck <= 0 {
		c.Recheck = 5 * time.Second
	}
	if c.UnknownTTL <= 0 {
		c.UnknownTTL = time.Minute
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 10000
	}
	if c.LookupRate == 0 {
		c.LookupRate = 20
	}
	return c
}

// Keys checks API keys against the api_keys table (SHA-256 of the key) and against static keys
// from the configuration. A key found is trusted for KeysConfig.Recheck, a key not found is
// refused for KeysConfig.UnknownTTL without another lookup, and lookups of keys in neither
// cache are rate-limited.
type Keys struct {
	db      *pgxpool.Pool
	cfg     KeysConfig
	static  map[[32]byte]Key
	lookup  *rate.Limiter // nil: unbounded
	lookups atomic.Int64
	now     func() time.Time

	mu      sync.Mutex
	known   *lru[[32]byte, knownKey]
	unknown *lru[[32]byte, time.Time] // when the database last said no
}

type knownKey struct {
	key Key
	at  time.Time // when the database last said yes
}

// NewKeys returns a key checker over db (may be nil) and static "name:role:key" entries.
func NewKeys(db *pgxpool.Pool, static []string, cfg KeysConfig) (*Keys, error) {
	cfg = cfg.WithDefaults()
	k := &Keys{db: db, cfg: cfg, static: map[[32]byte]Key{}, now: time.Now,
		known: newLRU[[32]byte, knownKey](cfg.CacheSize), unknown: newLRU[[32]byte, time.Time](cfg.CacheSize)}
	if cfg.LookupRate > 0 {
		k.lookup = rate.NewLimiter(rate.Limit(cfg.LookupRate), max(1, int(math.Ceil(2*cfg.LookupRate))))
	}
	for i, s := range static {
		parts := strings.SplitN(strings.TrimSpace(s), ":", 3)
		if len(parts) != 3 || parts[2] == "" || roleRank[parts[1]] == 0 {
			return nil, fmt.Errorf("static API key %d of %d (%s): want name:role:key with role planner or reader", i+1, len(static), redactKeySpec(s))
		}
		k.static[sha256.Sum256([]byte(parts[2]))] = Key{Name: parts[0], Role: parts[1]}
	}
	return k, nil
}

// redactKeySpec shows a malformed "name:role:key" entry without anything that may be the key:
// the name and role when the entry has three parts, else nothing.
func redactKeySpec(s string) string {
	parts := strings.SplitN(strings.TrimSpace(s), ":", 3)
	if len(parts) == 3 {
		return fmt.Sprintf("%q", parts[0]+":"+parts[1]+":***")
	}
	return fmt.Sprintf("%d parts, want 3", len(parts))
}

// Lookups is how many times the database was asked about a key.
func (k *Keys) Lookups() int64 { return k.lookups.Load() }

// Check returns the key's identity, ErrUnauthorized, or a *RateLimitError when the key is in
// neither cache and the lookup budget is spent.
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
	now := k.now()
	k.mu.Lock()
	c, known := k.known.get(h)
	if known && now.Sub(c.at) < k.cfg.Recheck {
		k.mu.Unlock()
		return c.key, nil
	}
	if !known {
		if at, ok := k.unknown.get(h); ok && now.Sub(at) < k.cfg.UnknownTTL {
			k.mu.Unlock()
			return Key{}, ErrUnauthorized
		}
	}
	if !known && k.lookup != nil {
		if d := take(k.lookup, k.now()); d > 0 {
			k.mu.Unlock()
			return Key{}, &RateLimitError{Scope: "key lookups", RetryAfter: d}
		}
	}
	k.mu.Unlock()
	k.lookups.Add(1)
	// last_used_at is written at most once a minute per key, not on every lookup.
	var key Key
	err := k.db.QueryRow(ctx, `WITH k AS (
			SELECT id, name, role, last_used_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL),
		touch AS (
			UPDATE api_keys a SET last_used_at = now() FROM k
			WHERE a.id = k.id AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute'))
		SELECT id, name, role FROM k`, h[:]).Scan(&key.ID, &key.Name, &key.Role)
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Key{}, fmt.Errorf("check api key: %w", err)
	}
	k.mu.Lock()
	if found {
		k.known.put(h, knownKey{key: key, at: now})
	} else {
		k.known.remove(h)
		k.unknown.put(h, now)
	}
	k.mu.Unlock()
	if !found {
		return Key{}, ErrUnauthorized
	}
	return key, nil
}

// CreateKey makes a new random key with a role and stores its hash; the key is returned once.
func CreateKey(ctx context.Context, db *pgxpool.Pool, name, role string) (string, error) {
	if roleRank[role] == 0 {
		return "", fmt.Errorf("role %q: want reader, planner or approver", role)
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

// limitName is the key's name for the per-key rate limit.
func (k Key) limitName() string {
	if k.ID != 0 {
		return fmt.Sprintf("id:%d", k.ID)
	}
	return "static:" + k.Name
}

package api

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/internal/testdb"
)

// fakeClock is a settable clock for Keys.now.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newKeysAt(t *testing.T, cfg KeysConfig) (*Keys, *fakeClock, *testdb.DB) {
	t.Helper()
	db := testdb.New(t)
	k, err := NewKeys(db.Pool, nil, cfg)
	require.NoError(t, err)
	clock := &fakeClock{t: time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)}
	k.now = clock.now
	return k, clock, db
}

// Finding 4: unknown keys cost one lookup each up to the budget's burst, then 429 without a
// lookup; a refused key is refused again from the negative cache; a flood of unknown keys far
// past the cache size does not push the valid key out (it needs no lookup afterwards).
func TestFinding4UnknownKeysCostBoundedLookups(t *testing.T) {
	ctx := context.Background()
	k, clock, db := newKeysAt(t, KeysConfig{LookupRate: 5, CacheSize: 100}) // burst 10
	valid, err := CreateKey(ctx, db.Pool, "valid", RoleReader)
	require.NoError(t, err)
	_, err = k.Check(ctx, valid)
	require.NoError(t, err)
	require.Equal(t, int64(1), k.Lookups())

	limited := 0
	for i := range 20000 {
		_, err := k.Check(ctx, fmt.Sprintf("sk_r_random_%d", i))
		var rle *RateLimitError
		switch {
		case errors.As(err, &rle):
			require.Greater(t, rle.RetryAfter, time.Duration(0))
			limited++
		default:
			require.ErrorIs(t, err, ErrUnauthorized)
		}
	}
	require.Equal(t, int64(10), k.Lookups(), "the burst, and not one lookup more, at a standing clock")
	require.Equal(t, 20000-9, limited)
	// The refused keys are remembered: no lookup, no budget.
	for i := range 9 { // the valid key took the first token
		_, err := k.Check(ctx, fmt.Sprintf("sk_r_random_%d", i))
		require.ErrorIs(t, err, ErrUnauthorized)
	}
	require.Equal(t, int64(10), k.Lookups())
	// The valid key is still known, though 20,000 unknown keys went by (the old cache was
	// cleared whole past 10,000 entries).
	key, err := k.Check(ctx, valid)
	require.NoError(t, err)
	require.Equal(t, "valid", key.Name)
	require.Equal(t, int64(10), k.Lookups())
	require.LessOrEqual(t, k.unknown.len(), 100)

	// A second later the budget has 5 more lookups.
	clock.advance(time.Second)
	for i := range 100 {
		_, _ = k.Check(ctx, fmt.Sprintf("sk_r_second_%d", i))
	}
	require.Equal(t, int64(15), k.Lookups())
}

// Finding 4: a revoked key stops working once Recheck has passed (5 s by default), even while
// the lookup budget is spent: known keys are rechecked outside it.
func TestFinding4RevokedKeyStopsWithinSeconds(t *testing.T) {
	require.LessOrEqual(t, KeysConfig{}.WithDefaults().Recheck, 5*time.Second)
	ctx := context.Background()
	k, clock, db := newKeysAt(t, KeysConfig{LookupRate: 0.001}) // burst 1
	key, err := CreateKey(ctx, db.Pool, "soon revoked", RolePlanner)
	require.NoError(t, err)
	_, err = k.Check(ctx, key)
	require.NoError(t, err)
	_, err = k.Check(ctx, "sk_p_unknown") // the budget is spent
	require.ErrorIs(t, err, ErrRateLimited)

	_, err = db.Pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE name = 'soon revoked'`)
	require.NoError(t, err)
	clock.advance(k.cfg.Recheck - time.Millisecond)
	_, err = k.Check(ctx, key)
	require.NoError(t, err, "trusted until Recheck has passed")
	clock.advance(time.Millisecond)
	_, err = k.Check(ctx, key)
	require.ErrorIs(t, err, ErrUnauthorized)
	_, err = k.Check(ctx, key) // and from the negative cache now
	require.ErrorIs(t, err, ErrUnauthorized)
	require.Equal(t, int64(2), k.Lookups())
}

// Finding 4: last_used_at is written at most once a minute per key, not on every lookup.
func TestFinding4LastUsedWrittenAtMostOncePerMinute(t *testing.T) {
	ctx := context.Background()
	k, clock, db := newKeysAt(t, KeysConfig{})
	key, err := CreateKey(ctx, db.Pool, "k", RoleReader)
	require.NoError(t, err)
	_, err = k.Check(ctx, key)
	require.NoError(t, err)
	var first time.Time
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT last_used_at FROM api_keys`).Scan(&first))
	clock.advance(k.cfg.Recheck)
	_, err = k.Check(ctx, key)
	require.NoError(t, err)
	require.Equal(t, int64(2), k.Lookups())
	var second time.Time
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT last_used_at FROM api_keys`).Scan(&second))
	require.Equal(t, first, second)
	_, err = db.Pool.Exec(ctx, `UPDATE api_keys SET last_used_at = now() - interval '2 minutes'`)
	require.NoError(t, err)
	clock.advance(k.cfg.Recheck)
	_, err = k.Check(ctx, key)
	require.NoError(t, err)
	var third time.Time
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT last_used_at FROM api_keys`).Scan(&third))
	require.True(t, third.After(second), "%v %v", second, third)
}

func TestLRUForgetsLeastRecentlyUsed(t *testing.T) {
	c := newLRU[int, string](2)
	c.put(1, "a")
	c.put(2, "b")
	_, _ = c.get(1)
	c.put(3, "c")
	_, ok := c.get(2)
	require.False(t, ok)
	v, ok := c.get(1)
	require.True(t, ok)
	require.Equal(t, "a", v)
	c.remove(1)
	require.Equal(t, 1, c.len())
}

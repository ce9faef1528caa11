package selection

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"selection/internal/testdb"
)

// Versions before the current one are stored as reverse deltas: every version reads back as it
// was written, the current one is a full row, the store holds a small share of full copies at
// 1% churn, and retention drops the oldest versions, keeping the newest Keep and every version
// younger than KeepFor, every kept one still readable.
func TestVersionDeltasAndRetention(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	store := NewPoolStore(db.Pool)
	plan := Plan{Version: PlanVersion, Ranking: Ranking{By: SortSales}, Limit: 2000}
	p, err := store.Create(ctx, PoolInput{Name: "deltas", Plan: plan})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(5, 6))
	cur := randomVersion(rng, 2000, true)
	var written []*Version
	const n = 30
	for i := 0; i < n; i++ {
		if i > 0 {
			cur = churn(rng, cur, 0.01)
		}
		vp := plan
		if i >= 10 && i < 20 { // versions 11-20 ran another plan (a delta keeps its own plan then)
			vp.Limit = 1999 + i
		}
		v := &Version{PoolID: p.ID, Members: cur.Members.Clone(), Ranking: append(IDs(nil), cur.Ranking...),
			Scores: append([]float32(nil), cur.Scores...), Plan: vp, EventSeq: int64(i)}
		require.NoError(t, store.AddVersion(ctx, v))
		written = append(written, v)
	}
	check := func(from int) {
		t.Helper()
		for _, w := range written[from-1:] {
			got, err := store.GetVersion(ctx, p.ID, w.Version)
			require.NoError(t, err, "version %d", w.Version)
			require.Equal(t, []int64(w.Ranking), []int64(got.Ranking), "version %d", w.Version)
			require.Equal(t, w.Scores, got.Scores, "version %d", w.Version)
			require.True(t, w.Members.Equals(got.Members), "version %d", w.Version)
			require.Equal(t, w.EventSeq, got.EventSeq)
			require.Equal(t, w.Plan.Limit, got.Plan.Limit, "version %d", w.Version)
		}
	}
	check(1)
	cur0, err := store.GetVersion(ctx, p.ID, 0)
	require.NoError(t, err)
	require.Equal(t, n, cur0.Version)

	var full, deltas, stored int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE delta IS NULL), count(*) FILTER (WHERE delta IS NOT NULL),
		sum(octet_length(members) + 8 * cardinality(ranking) + 4 * cardinality(scores) + coalesce(octet_length(delta), 0))
		FROM pool_versions WHERE pool_id = $1`, p.ID).Scan(&full, &deltas, &stored))
	require.EqualValues(t, 1, full, "only the current version is a full row")
	require.EqualValues(t, n-1, deltas)
	raw, _ := cur0.Members.ToBytes()
	one := int64(len(raw) + 8*len(cur0.Ranking) + 4*len(cur0.Scores))
	share := float64(stored-one) / float64((n-1)*one)
	t.Logf("%d versions of 2,000 SKUs at 1%% churn: %d bytes stored, full copies %d (the older versions %.1f%% of full copies)", n, stored, int64(n)*one, 100*share)
	require.Less(t, share, 0.10)

	// Retention: young versions all stay; old ones go down to the newest Keep.
	deleted, err := store.Prune(ctx, Retention{Keep: 5, KeepFor: time.Hour})
	require.NoError(t, err)
	require.Zero(t, deleted, "every version is younger than an hour")
	vacuums := func() (n int64) {
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT vacuum_count FROM pg_stat_user_tables
			WHERE relname = 'pool_versions' AND schemaname = current_schema()`).Scan(&n))
		return n
	}
	before := vacuums()
	_, err = db.Pool.Exec(ctx, `UPDATE pool_versions SET created_at = created_at - interval '2 hours' WHERE pool_id = $1 AND version <= 20`, p.ID)
	require.NoError(t, err)
	deleted, err = store.Prune(ctx, Retention{Keep: 5, KeepFor: time.Hour})
	require.NoError(t, err)
	require.EqualValues(t, 20, deleted, "versions 1-20 are old; 21-30 are young")
	require.Greater(t, vacuums(), before, "a prune that deleted vacuums the table, so new versions reuse the space")
	_, err = db.Pool.Exec(ctx, `UPDATE pool_versions SET created_at = created_at - interval '2 hours' WHERE pool_id = $1`, p.ID)
	require.NoError(t, err)
	deleted, err = store.Prune(ctx, Retention{Keep: 5, KeepFor: time.Hour})
	require.NoError(t, err)
	require.EqualValues(t, 5, deleted, "all old: the newest 5 stay")
	_, err = store.GetVersion(ctx, p.ID, 25)
	require.ErrorIs(t, err, ErrNotFound)
	check(26)
	page, more, err := store.VersionPage(ctx, p.ID, 0, 100)
	require.NoError(t, err)
	require.False(t, more)
	require.Len(t, page, 5)

	// The next version still compacts the one before it, and a diff across the deltas is right.
	next := churn(rng, cur, 0.01)
	v := &Version{PoolID: p.ID, Members: next.Members, Ranking: next.Ranking, Scores: next.Scores, Plan: plan}
	require.NoError(t, store.AddVersion(ctx, v))
	a, err := store.GetVersion(ctx, p.ID, 26)
	require.NoError(t, err)
	d := DiffVersions(a, v)
	require.Equal(t, DiffVersions(written[25], v), d)
}

// A pass writes a version on top of the one it read in one statement (writeOn): the base
// becomes a reverse delta and every version reads back; a lazy write commits as one
// transaction with its setting; a pool that moved on, or whose plan changed, is a conflict; a
// pool deleted meanwhile is not found; and a stored plan that is the same Plan in another JSON
// form is written by the transaction it falls back to.
func TestAddVersionOnInOneStatement(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	store := NewPoolStore(db.Pool)
	plan := Plan{Version: PlanVersion, Ranking: Ranking{By: SortSales}, Limit: 500, Guard: &Guard{MinSize: 1}}
	p, err := store.Create(ctx, PoolInput{Name: "one statement", Plan: plan})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(7, 8))
	at := func(r *Version) *Version {
		return &Version{PoolID: p.ID, Members: r.Members.Clone(), Ranking: append(IDs(nil), r.Ranking...),
			Scores: append([]float32(nil), r.Scores...), Plan: plan, EventSeq: 3}
	}
	var written []*Version
	base := &Version{PoolID: p.ID}
	r := randomVersion(rng, 500, true)
	for i := range 6 {
		if i > 0 {
			r = churn(rng, r, 0.02)
		}
		v := at(r)
		ok, err := store.writeOn(ctx, v, base, i%2 == 0)
		require.NoError(t, err)
		require.True(t, ok, "version %d", i+1)
		require.Equal(t, i+1, v.Version)
		require.Equal(t, 500, v.MemberCount)
		require.False(t, v.CreatedAt.IsZero())
		written = append(written, v)
		base = v
	}
	var full, deltas int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE delta IS NULL), count(*) FILTER (WHERE delta IS NOT NULL)
		FROM pool_versions WHERE pool_id = $1`, p.ID).Scan(&full, &deltas))
	require.Equal(t, []int{1, 5}, []int{full, deltas}, "each write turned the version it was on into a delta")
	for _, w := range written {
		got, err := store.GetVersion(ctx, p.ID, w.Version)
		require.NoError(t, err)
		require.Equal(t, []int64(w.Ranking), []int64(got.Ranking), "version %d", w.Version)
		require.Equal(t, w.Scores, got.Scores, "version %d", w.Version)
		require.True(t, w.Members.Equals(got.Members), "version %d", w.Version)
	}

	// A held version goes when one is published.
	_, err = db.Pool.Exec(ctx, `INSERT INTO pool_pending (pool_id, based_on, reason, members, ranking, scores, plan, event_seq)
		VALUES ($1, 6, 'test', '', '{}', '{}', '{}', 0)`, p.ID)
	require.NoError(t, err)
	r = churn(rng, r, 0.02)
	require.NoError(t, store.addVersionOn(ctx, at(r), base, true))
	var pending int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM pool_pending WHERE pool_id = $1`, p.ID).Scan(&pending))
	require.Zero(t, pending)

	// On a version that is no longer current: nothing written, a conflict.
	v := at(churn(rng, r, 0.02))
	ok, err := store.writeOn(ctx, v, base, true)
	require.NoError(t, err)
	require.False(t, ok)
	require.Zero(t, v.Version)
	require.ErrorIs(t, store.addVersionOn(ctx, v, base, true), ErrConflict)
	cur, err := store.GetVersion(ctx, p.ID, 0)
	require.NoError(t, err)
	require.Equal(t, 7, cur.Version)

	// The plan edited meanwhile: a conflict too.
	edited := plan
	edited.Limit = 400
	_, err = db.Pool.Exec(ctx, `UPDATE pools SET plan = $2 WHERE id = $1`, p.ID, edited)
	require.NoError(t, err)
	require.ErrorIs(t, store.addVersionOn(ctx, at(r), cur, true), ErrConflict)

	// The same plan stored in another form (a key the Plan does not know): the statement
	// misses it, the transaction writes.
	raw, err := json.Marshal(plan)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	m["note_from_an_older_release"] = "x"
	_, err = db.Pool.Exec(ctx, `UPDATE pools SET plan = $2 WHERE id = $1`, p.ID, m)
	require.NoError(t, err)
	v = at(r)
	ok, err = store.writeOn(ctx, v, cur, false)
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, store.addVersionOn(ctx, v, cur, false))
	require.Equal(t, 8, v.Version)

	// The pool deleted meanwhile: not found.
	_, err = db.Pool.Exec(ctx, `DELETE FROM pools WHERE id = $1`, p.ID)
	require.NoError(t, err)
	require.ErrorIs(t, store.addVersionOn(ctx, at(r), v, true), ErrNotFound)
}

// A lazy write's setting holds for the statement sent with it and ends with the batch's
// implicit transaction (what writeOn relies on).
func TestBatchSettingIsLocalToItsTransaction(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	conn, err := db.Pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	var inside, after string
	b.Queue(`SELECT current_setting('synchronous_commit')`).QueryRow(func(r pgx.Row) error { return r.Scan(&inside) })
	require.NoError(t, conn.SendBatch(ctx, b).Close())
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&after))
	require.Equal(t, "off", inside)
	require.Equal(t, "on", after)
}

// A pass reads each pool's current version without the body this process already holds
// (versionBodies): the kept body is used while it is the current version's, and a version
// another writer added, a version number reused after a lost commit, or a confirmed position
// is read as stored.
func TestCurrentVersionsKeepBodies(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	store, other := NewPoolStore(db.Pool), NewPoolStore(db.Pool)
	plan := Plan{Version: PlanVersion, Ranking: Ranking{By: SortSales}, Limit: 300}
	p, err := store.Create(ctx, PoolInput{Name: "kept bodies", Plan: plan})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(9, 10))
	r := randomVersion(rng, 300, true)
	at := func(r *Version) *Version {
		return &Version{PoolID: p.ID, Members: r.Members.Clone(), Ranking: append(IDs(nil), r.Ranking...),
			Scores: append([]float32(nil), r.Scores...), Plan: plan}
	}
	same := func(want, got *Version) {
		t.Helper()
		require.Equal(t, want.Version, got.Version)
		require.Equal(t, []int64(want.Ranking), []int64(got.Ranking))
		require.Equal(t, want.Scores, got.Scores)
		require.True(t, want.Members.Equals(got.Members))
		require.Equal(t, want.Plan.Limit, got.Plan.Limit)
	}
	v1 := at(r)
	require.NoError(t, store.addVersionOn(ctx, v1, &Version{PoolID: p.ID}, true))
	got, err := store.currentVersions(ctx, []int64{p.ID})
	require.NoError(t, err)
	same(v1, got[p.ID])
	require.Same(t, &v1.Ranking[0], &got[p.ID].Ranking[0], "the body written is the one kept")

	// A fresh store reads it whole, then keeps it.
	got, err = other.currentVersions(ctx, []int64{p.ID})
	require.NoError(t, err)
	same(v1, got[p.ID])
	again, err := other.currentVersions(ctx, []int64{p.ID})
	require.NoError(t, err)
	require.Same(t, &got[p.ID].Ranking[0], &again[p.ID].Ranking[0])

	// Another writer's version: read as stored.
	r = churn(rng, r, 0.05)
	v2 := at(r)
	require.NoError(t, other.addVersionOn(ctx, v2, got[p.ID], true))
	got, err = store.currentVersions(ctx, []int64{p.ID})
	require.NoError(t, err)
	same(v2, got[p.ID])

	// A position confirmed: the body kept, the position as stored.
	pos := Position{EventSnapshot: "10:10:", SKUsFrom: time.Now().UTC().Truncate(time.Microsecond)}
	require.NoError(t, other.confirm(ctx, []*Version{v2}, pos))
	got, err = store.currentVersions(ctx, []int64{p.ID})
	require.NoError(t, err)
	same(v2, got[p.ID])
	require.Equal(t, pos.EventSnapshot, got[p.ID].Position.EventSnapshot)
	require.True(t, pos.SKUsFrom.Equal(got[p.ID].Position.SKUsFrom))

	// Version 2 lost (as a crash loses a lazy commit) and its number written again by
	// another, with another ranking: the kept body of version 2 is not this one.
	v2b := &Version{Version: 2, Members: v2.Members, Ranking: slices.Clone(v2.Ranking), Scores: slices.Clone(v2.Scores), Plan: plan}
	slices.Reverse(v2b.Ranking)
	slices.Reverse(v2b.Scores)
	_, err = db.Pool.Exec(ctx, `UPDATE pool_versions SET created_at = created_at + interval '1 second', ranking = $2, scores = $3
		WHERE pool_id = $1 AND version = 2`, p.ID, v2b.Ranking, v2b.Scores)
	require.NoError(t, err)
	got, err = store.currentVersions(ctx, []int64{p.ID})
	require.NoError(t, err)
	same(v2b, got[p.ID])

	// A deleted pool's body goes.
	require.NoError(t, store.Delete(ctx, p.ID))
	require.Zero(t, store.bodies.len())
}

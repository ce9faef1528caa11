package selection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/tagger"
)

// ErrNotFound is returned for a pool or version that does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a refresh keeps losing the race to other writers of a pool's
// versions or plan (other refreshes, edits).
var ErrConflict = errors.New("conflict")

// ErrInvalid wraps every validation failure of a request (a bad plan, a bad window).
var ErrInvalid = errors.New("invalid")

// Pool is a saved selection: a scenario, its plan, pins and exclusions, a validity window and
// the number of its newest version.
type Pool struct {
	ID             int64      `json:"id,string"`
	Name           string     `json:"name"`
	Scenario       string     `json:"scenario"`
	Plan           Plan       `json:"plan"`
	ValidFrom      *time.Time `json:"valid_from,omitempty"`
	ValidUntil     *time.Time `json:"valid_until,omitempty"`
	CurrentVersion int        `json:"current_version"`
	// Revision counts edits: 1 when created, one more on every Update (refreshes leave it).
	Revision int `json:"revision"`
	// UpdatedBy names the API key that wrote the current revision ("" unknown).
	UpdatedBy string    `json:"updated_by,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// RefreshedAt is when a refresh last wrote the current version or found it still right
	// (nil: no version yet), and EventsBehind how many catalogue events were accepted after
	// the last one it reflects (sku_events seqs; about, as sequences may skip).
	RefreshedAt  *time.Time `json:"refreshed_at,omitempty"`
	EventsBehind int64      `json:"events_behind"`
	// State is draft, in_review, published or archived (governance.go): REST readers see
	// published pools only, and archived ones are not refreshed.
	State string `json:"state"`
	// planJSON is the stored text Plan was decoded from (nil: not known): see plansMatch.
	planJSON []byte
}

// Active reports whether the pool's validity window holds at t.
func (p *Pool) Active(t time.Time) bool {
	return p.State != StateArchived && (p.ValidFrom == nil || !t.Before(*p.ValidFrom)) && (p.ValidUntil == nil || t.Before(*p.ValidUntil))
}

// Version is one refresh of a pool: its members (ordinals) and their ranking.
type Version struct {
	PoolID      int64             `json:"pool_id,string"`
	Version     int               `json:"version"`
	Members     *roaring64.Bitmap `json:"-"`
	Ranking     IDs               `json:"-"` // SKU ids, best first
	Scores      []float32         `json:"-"`
	MemberCount int               `json:"member_count"`
	Plan        Plan              `json:"plan"`
	EventSeq    int64             `json:"event_seq"`
	CreatedAt   time.Time         `json:"created_at"`
	// CheckedAt is when a refresh last wrote the version or found its ranking still right.
	CheckedAt time.Time `json:"checked_at"`
	// Position is where the engine's indexes stood when the version was ranked (or last
	// confirmed unchanged); incremental refreshes look for changes after it.
	Position Position `json:"-"`
	// GMV24h and Units24h are what its SKUs had sold in the 24 hours before it was written
	// (nil: not recorded, versions written before migration 00018).
	GMV24h   *int64 `json:"gmv_24h,omitempty"`
	Units24h *int64 `json:"units_24h,omitempty"`
	// delta, when set, is the version as a reverse delta against the next one (its members,
	// ranking and scores are not filled in until GetVersion rebuilds them).
	delta []byte
	// samePlan: the row stores no plan of its own (JSON null): a delta's plan is the next
	// version's.
	samePlan bool
	// planJSON is a JSON text Plan decodes from (nil: not known): see plansMatch.
	planJSON []byte
}

// Position is where the engine's in-memory indexes stand in the tables they follow.
type Position struct {
	// EventSnapshot is a pg_snapshot: every sku_events row of a transaction visible in it is
	// reflected. Empty: unknown (versions written before it was recorded; EventSeq is used).
	EventSnapshot string
	// VectorsFrom: every sku_vectors row stamped before it is reflected (zero: not followed).
	VectorsFrom time.Time
	// SKUsFrom: every skus row stamped before it is reflected by the followers of skus that
	// are not driven by sku_events (the text index; zero: none).
	SKUsFrom time.Time
	// EventSeq is the newest sku_events seq reflected (for display: seqs are taken at insert,
	// not in commit order, so it does not bound what is reflected).
	EventSeq int64
}

// PoolStore keeps pools and their versions in Postgres.
type PoolStore struct {
	pool *pgxpool.Pool
	// bodies keeps the current versions' bodies a pass reads (currentVersions) and writes
	// (writeOn).
	bodies versionBodies
}

// NewPoolStore returns a store over pool.
func NewPoolStore(pool *pgxpool.Pool) *PoolStore { return &PoolStore{pool: pool} }

// PoolInput is what creating or editing a pool takes.
type PoolInput struct {
	Name       string     `json:"name"`
	Scenario   string     `json:"scenario"`
	Plan       Plan       `json:"plan"`
	ValidFrom  *time.Time `json:"valid_from,omitempty"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	CreatedBy  string     `json:"-"`
	// State a new pool starts in: draft or published (""). Edits leave it (SetState moves it).
	State string `json:"state,omitempty"`
}

func (in *PoolInput) validate() error {
	if in.Name == "" {
		return fmt.Errorf("%w: a pool needs a name", ErrInvalid)
	}
	if len(in.Name) > 200 {
		return fmt.Errorf("%w: name longer than 200 bytes", ErrInvalid)
	}
	if len(in.Scenario) > MaxScenarioBytes {
		return fmt.Errorf("%w: scenario longer than %d bytes", ErrInvalid, MaxScenarioBytes)
	}
	if in.State != "" && in.State != StateDraft && in.State != StatePublished {
		return fmt.Errorf("%w: a pool starts as draft or published, not %q", ErrInvalid, in.State)
	}
	if in.ValidFrom != nil && in.ValidUntil != nil && !in.ValidUntil.After(*in.ValidFrom) {
		return fmt.Errorf("%w: valid_until must be after valid_from", ErrInvalid)
	}
	return in.Plan.Validate()
}

const poolCols = `id, name, scenario, plan, pins, exclusions, valid_from, valid_until, current_version,
	revision, updated_by, created_by, created_at, updated_at,
	(SELECT v.checked_at FROM pool_versions v WHERE v.pool_id = pools.id AND v.version = pools.current_version),
	greatest((SELECT coalesce(max(seq), 0) FROM sku_events) -
		coalesce((SELECT v.event_seq FROM pool_versions v WHERE v.pool_id = pools.id AND v.version = pools.current_version), 0), 0),
	state`

func scanPool(row pgx.Row) (Pool, error) {
	return scanPoolKnowing(row, nil)
}

// scanPoolKnowing is scanPool that takes the plan of the version body kept for the pool
// (bodies, nil: none) when the stored plan is the text that body's was read from, instead of
// decoding it again: a pass lists every pool, and decoding thousands of plans (filters through a
// strict decoder) cost more than their comparison.
func scanPoolKnowing(row pgx.Row, bodies *versionBodies) (Pool, error) {
	var p Pool
	var plan []byte
	var pins, excl []int64
	err := row.Scan(&p.ID, &p.Name, &p.Scenario, &plan, &pins, &excl, &p.ValidFrom,
		&p.ValidUntil, &p.CurrentVersion, &p.Revision, &p.UpdatedBy, &p.CreatedBy, &p.CreatedAt, &p.UpdatedAt,
		&p.RefreshedAt, &p.EventsBehind, &p.State)
	if err != nil {
		return p, err
	}
	p.planJSON = plan
	if bodies != nil {
		if known, ok := bodies.planOf(p.ID, plan); ok {
			p.Plan = known
			return p, nil
		}
	}
	if err := json.Unmarshal(plan, &p.Plan); err != nil {
		return p, fmt.Errorf("pool %d: stored plan: %w", p.ID, err)
	}
	return p, nil
}

// Create saves a new pool (without versions; Service.Refresh writes the first).
func (s *PoolStore) Create(ctx context.Context, in PoolInput) (Pool, error) {
	return s.CreateWithVersion(ctx, in, nil)
}

// CreateWithVersion saves a new pool and, when first is not nil, its first version in the same
// transaction, so no reader (the refresher, a GET) ever sees the pool without a version. first's
// PoolID, Version, MemberCount and CreatedAt are set.
func (s *PoolStore) CreateWithVersion(ctx context.Context, in PoolInput, first *Version) (Pool, error) {
	if err := in.validate(); err != nil {
		return Pool{}, err
	}
	plan, err := json.Marshal(in.Plan)
	if err != nil {
		return Pool{}, fmt.Errorf("encode plan: %w", err)
	}
	state := in.State
	if state == "" {
		state = StatePublished
	}
	then := func(tx pgx.Tx, p *Pool) error {
		if err := writeAudit(ctx, tx, p.ID, in.CreatedBy, "created", fmt.Sprintf("as %s; %s", state, planSummary(in.Plan))); err != nil {
			return err
		}
		if first == nil {
			return nil
		}
		first.PoolID = p.ID
		if err := s.addVersion(ctx, tx, first, -1, nil); err != nil {
			return err
		}
		p.CurrentVersion = first.Version
		return nil
	}
	p, err := s.write(ctx, in.Plan, then, `INSERT INTO pools (name, scenario, plan, pins, exclusions,
		valid_from, valid_until, created_by, updated_by, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) RETURNING `+poolCols,
		in.Name, in.Scenario, plan, nonNil(in.Plan.Pins), nonNil(in.Plan.Exclusions), in.ValidFrom, in.ValidUntil, in.CreatedBy, state)
	if errors.Is(err, ErrInvalid) {
		return p, err
	}
	if err != nil {
		return p, fmt.Errorf("create pool: %w", err)
	}
	return p, nil
}

// write runs one pool statement (returning poolCols) in a transaction that first share-locks
// the tags the plan's filter names (tagger.LockTags), so a tag delete either sees the pool or
// runs first and the pool fails here, naming the tag. then, when not nil, runs in the same
// transaction after the statement.
func (s *PoolStore) write(ctx context.Context, plan Plan, then func(pgx.Tx, *Pool) error, sql string, args ...any) (Pool, error) {
	return s.writeIf(ctx, plan, nil, then, sql, args...)
}

// writeIf is write with a check that runs in the transaction after the tag locks and before the
// statement (nil: none); an error from it ends the transaction.
func (s *PoolStore) writeIf(ctx context.Context, plan Plan, check func(pgx.Tx) error, then func(pgx.Tx, *Pool) error, sql string, args ...any) (Pool, error) {
	var p Pool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		missing, err := tagger.LockTags(ctx, tx, plan.Tags())
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			return fmt.Errorf("%w: the plan's filter, rules or slots name tag %q, which does not exist", ErrInvalid, missing[0])
		}
		if check != nil {
			if err := check(tx); err != nil {
				return err
			}
		}
		p, err = scanPool(tx.QueryRow(ctx, sql, args...))
		if err != nil || then == nil {
			return err
		}
		return then(tx, &p)
	})
	return p, err
}

// Delete removes a pool and its versions.
func (s *PoolStore) Delete(ctx context.Context, id int64) error {
	return s.deleteBy(ctx, id, Actor{})
}

// deleteBy deletes a pool and notes who in its audit log (which outlives it).
func (s *PoolStore) deleteBy(ctx context.Context, id int64, who Actor) error {
	defer s.bodies.drop(id)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var name string
		err := tx.QueryRow(ctx, `DELETE FROM pools WHERE id = $1 RETURNING name`, id).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("pool %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("delete pool %d: %w", id, err)
		}
		return writeAudit(ctx, tx, id, who.Name, "deleted", fmt.Sprintf("pool %q and its versions", name))
	})
}

// Get returns one pool.
func (s *PoolStore) Get(ctx context.Context, id int64) (Pool, error) {
	p, err := scanPool(s.pool.QueryRow(ctx, `SELECT `+poolCols+` FROM pools WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("pool %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("get pool %d: %w", id, err)
	}
	return p, nil
}

// List returns pools by id, newest first, after the cursor id (0: from the newest).
func (s *PoolStore) List(ctx context.Context, before int64, limit int) ([]Pool, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT `+poolCols+` FROM pools WHERE ($1 = 0 OR id < $1)
		ORDER BY id DESC LIMIT $2`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("list pools: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Pool, error) { return scanPoolKnowing(r, &s.bodies) })
}

// ReferringTo lists the pools whose plan filter names the tag (in any case), as
// `pool "NAME" (id N)`, reading through q (nil: the store's pool): the tagger refuses to delete a
// tag they use (tagger.Config.Referrers).
func (s *PoolStore) ReferringTo(ctx context.Context, q tagger.Querier, tag string) ([]string, error) {
	if q == nil {
		q = s.pool
	}
	rows, err := q.Query(ctx, `SELECT `+poolCols+` FROM pools ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("pools referring to tag %q: %w", tag, err)
	}
	pools, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Pool, error) { return scanPool(r) })
	if err != nil {
		return nil, fmt.Errorf("pools referring to tag %q: %w", tag, err)
	}
	var out []string
	for _, p := range pools {
		for _, n := range p.Plan.Tags() {
			if strings.EqualFold(n, tag) {
				out = append(out, fmt.Sprintf("pool %q (id %d)", p.Name, p.ID))
				break
			}
		}
	}
	return out, nil
}

// AddVersion writes the next version of a pool and makes it current, in one transaction. The
// version number is allocated under the pool's row lock, so concurrent refreshes get distinct
// numbers.
func (s *PoolStore) AddVersion(ctx context.Context, v *Version) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.addVersion(ctx, tx, v, -1, nil) })
}

// addVersionOn adds v only while the pool's current version is base.Version and its plan is
// v.Plan; otherwise it returns ErrConflict (or ErrNotFound for a pool deleted meanwhile). base,
// as read, becomes the reverse delta against v without being read again.
//
// lazy commits without waiting for the write-ahead log to reach the disk (synchronous_commit
// off): a refresh pass's versions, each of which a crash could lose only in the last few
// hundred milliseconds before it, whole and with the pool's current version (the next pass
// ranks the pool again). Waiting was about 10 ms a commit under a pass's load, most of a
// written version's time.
//
// It is first tried as one statement (writeOn): one round trip instead of the transaction's
// seven, which under a pass's load were most of a written version's time. When that writes
// nothing (the pool moved, was deleted, or its stored plan is not byte-for-byte as jsonb the
// plan v ran), the transaction below decides, comparing plans as Plans.
func (s *PoolStore) addVersionOn(ctx context.Context, v *Version, base *Version, lazy bool) error {
	if ok, err := s.writeOn(ctx, v, base, lazy); ok || err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if lazy {
			if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
				return fmt.Errorf("pool %d: %w", v.PoolID, err)
			}
		}
		return s.addVersion(ctx, tx, v, base.Version, base)
	})
}

// writeOn is addVersionOn in one statement, sent with the setting of a lazy commit as one
// implicit transaction: the pool's version number moves on only while it is base.Version and
// its plan is v's (as jsonb), v is written as the next version, base (a full row, as read)
// becomes its reverse delta when that is smaller, and a held version is dropped. ok is false
// when nothing was written (v is left as it was).
func (s *PoolStore) writeOn(ctx context.Context, v *Version, base *Version, lazy bool) (ok bool, err error) {
	members, err := v.Members.ToBytes()
	if err != nil {
		return false, fmt.Errorf("serialize members: %w", err)
	}
	plan, err := json.Marshal(v.Plan)
	if err != nil {
		return false, fmt.Errorf("encode plan: %w", err)
	}
	var delta []byte // base as a reverse delta against v (nil: kept whole)
	if base.Version >= 1 && base.Members != nil && base.PoolID == v.PoolID {
		if delta, err = reverseDelta(base, v); err != nil {
			return false, err
		}
	}
	b := &pgx.Batch{}
	if lazy {
		// Local to the batch's implicit transaction, which commits at its end.
		b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	}
	memberCount := int(v.Members.GetCardinality())
	var version int
	var created, checked time.Time
	b.Queue(`WITH next AS (
			UPDATE pools SET current_version = current_version + 1, updated_at = now()
			WHERE id = $1 AND current_version = $2 AND plan = $3::jsonb RETURNING current_version),
		written AS (
			INSERT INTO pool_versions (pool_id, version, members, ranking, scores, member_count, plan, event_seq,
				event_snapshot, vectors_from, skus_from, gmv_24h, units_24h)
			SELECT $1, current_version, $4, $5, $6, $7, $3::jsonb, $8, $9::pg_snapshot, $10, $11, $12, $13 FROM next
			RETURNING version, created_at, checked_at),
		compacted AS (
			UPDATE pool_versions SET delta = $14, members = '', ranking = '{}', scores = '{}',
				plan = CASE WHEN $15 THEN 'null'::jsonb ELSE plan END
			WHERE $14::bytea IS NOT NULL AND pool_id = $1 AND version = $2 AND delta IS NULL AND EXISTS (SELECT FROM next)),
		unheld AS (
			DELETE FROM pool_pending WHERE $16 AND pool_id = $1 AND EXISTS (SELECT FROM next))
		SELECT version, created_at, checked_at FROM written`,
		v.PoolID, base.Version, plan, members, nonNil(v.Ranking), nonNilF(v.Scores), memberCount, v.EventSeq,
		nullString(v.Position.EventSnapshot), nullTime(v.Position.VectorsFrom), nullTime(v.Position.SKUsFrom),
		v.GMV24h, v.Units24h, delta, delta != nil && plansMatch(base.Plan, base.planJSON, v.Plan, v.planJSON), v.Plan.Guard != nil).
		QueryRow(func(row pgx.Row) error { return row.Scan(&version, &created, &checked) })
	err = s.pool.SendBatch(ctx, b).Close()
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pool %d: write version: %w", v.PoolID, err)
	}
	v.Version, v.MemberCount, v.CreatedAt, v.CheckedAt = version, memberCount, created, checked
	if v.planJSON == nil {
		v.planJSON = plan
	}
	s.bodies.put(v)
	return true, nil
}

// confirm records that each version's ranking still holds at pos (nothing that changed since
// its position alters it), so later incremental refreshes look for changes after pos only. A
// part pos does not know (zero) keeps what the version has.
func (s *PoolStore) confirm(ctx context.Context, versions []*Version, pos Position) error {
	if len(versions) == 0 {
		return nil
	}
	ids := make([]int64, len(versions))
	ns := make([]int32, len(versions))
	for i, v := range versions {
		ids[i], ns[i] = v.PoolID, int32(v.Version)
	}
	// The event seq moves with a snapshot only (for display: events_behind); alone, it is what
	// changedSince reads, and a transaction with an older seq may commit later.
	seq := int64(0)
	if pos.EventSnapshot != "" {
		seq = pos.EventSeq
	}
	_, err := s.pool.Exec(ctx, `UPDATE pool_versions v SET checked_at = now(), event_snapshot = coalesce($3::pg_snapshot, v.event_snapshot),
		vectors_from = coalesce($4, v.vectors_from), skus_from = coalesce($5, v.skus_from), event_seq = greatest(v.event_seq, $6)
		FROM unnest($1::bigint[], $2::int[]) AS c(pool_id, version)
		WHERE v.pool_id = c.pool_id AND v.version = c.version`,
		ids, ns, nullString(pos.EventSnapshot), nullTime(pos.VectorsFrom), nullTime(pos.SKUsFrom), seq)
	if err != nil {
		return fmt.Errorf("confirm %d pool versions: %w", len(versions), err)
	}
	return nil
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// addVersion writes v as the pool's next version; base >= 0 makes it conditional (addVersionOn),
// and prev, when it is the version before v as stored, spares compactPrevious reading it.
func (s *PoolStore) addVersion(ctx context.Context, tx pgx.Tx, v *Version, base int, prev *Version) error {
	members, err := v.Members.ToBytes()
	if err != nil {
		return fmt.Errorf("serialize members: %w", err)
	}
	plan, err := json.Marshal(v.Plan)
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	var next int
	if base >= 0 {
		// Only on top of the version the caller started from, and for the plan it ran: another
		// refresh (a replica's, a manual one) or an edit that got there first wins.
		var cur int
		var curPlan []byte
		err := tx.QueryRow(ctx, `SELECT current_version, plan FROM pools WHERE id = $1 FOR UPDATE`, v.PoolID).Scan(&cur, &curPlan)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("pool %d: %w", v.PoolID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("pool %d: %w", v.PoolID, err)
		}
		var p Plan
		if err := json.Unmarshal(curPlan, &p); err != nil {
			return fmt.Errorf("pool %d: plan: %w", v.PoolID, err)
		}
		if cur != base || !planEqual(p, v.Plan) {
			return fmt.Errorf("pool %d moved past version %d or its plan changed: %w", v.PoolID, base, ErrConflict)
		}
	}
	err = tx.QueryRow(ctx, `UPDATE pools SET current_version = current_version + 1, updated_at = now()
		WHERE id = $1 RETURNING current_version`, v.PoolID).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("pool %d: %w", v.PoolID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("pool %d: next version: %w", v.PoolID, err)
	}
	v.Version = next
	v.MemberCount = int(v.Members.GetCardinality())
	err = tx.QueryRow(ctx, `INSERT INTO pool_versions (pool_id, version, members, ranking, scores,
		member_count, plan, event_seq, event_snapshot, vectors_from, skus_from, gmv_24h, units_24h)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::pg_snapshot, $10, $11, $12, $13) RETURNING created_at, checked_at`,
		v.PoolID, v.Version, members, nonNil(v.Ranking), nonNilF(v.Scores), v.MemberCount, plan, v.EventSeq,
		nullString(v.Position.EventSnapshot), nullTime(v.Position.VectorsFrom), nullTime(v.Position.SKUsFrom),
		v.GMV24h, v.Units24h).Scan(&v.CreatedAt, &v.CheckedAt)
	if err != nil {
		return fmt.Errorf("pool %d: write version: %w", v.PoolID, err)
	}
	if v.Plan.Guard != nil {
		// A published version supersedes a held one.
		if _, err := tx.Exec(ctx, `DELETE FROM pool_pending WHERE pool_id = $1`, v.PoolID); err != nil {
			return fmt.Errorf("pool %d: drop pending version: %w", v.PoolID, err)
		}
	}
	return s.compactPrevious(ctx, tx, v, prev)
}

// compactPrevious rewrites the version before v, when it is a full row, as a reverse delta
// against v, if that is smaller.
func (s *PoolStore) compactPrevious(ctx context.Context, tx pgx.Tx, v, prev *Version) error {
	if v.Version <= 1 {
		return nil
	}
	if prev == nil || prev.PoolID != v.PoolID || prev.Version != v.Version-1 || prev.Members == nil {
		var err error
		prev, err = scanVersion(tx.QueryRow(ctx, `SELECT `+versionCols+` FROM pool_versions v
			WHERE pool_id = $1 AND version = $2 AND delta IS NULL`, v.PoolID, v.Version-1))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // already a delta, or dropped by retention
		}
		if err != nil {
			return fmt.Errorf("pool %d version %d: %w", v.PoolID, v.Version-1, err)
		}
	}
	d, err := reverseDelta(prev, v)
	if err != nil || d == nil {
		return err
	}
	// The plan too, when the next version has the same: most refreshes keep it.
	_, err = tx.Exec(ctx, `UPDATE pool_versions SET delta = $3, members = '', ranking = '{}', scores = '{}',
		plan = CASE WHEN $4 THEN 'null'::jsonb ELSE plan END
		WHERE pool_id = $1 AND version = $2`, v.PoolID, prev.Version, d, planEqual(prev.Plan, v.Plan))
	if err != nil {
		return fmt.Errorf("pool %d version %d: store as delta: %w", v.PoolID, prev.Version, err)
	}
	return nil
}

// reverseDelta is prev as a reverse delta against v, its next version, when that is smaller
// than prev's full row (nil: nothing in common, the full row is as small).
func reverseDelta(prev, v *Version) ([]byte, error) {
	d, err := encodeDelta(prev, v)
	if err != nil {
		return nil, fmt.Errorf("pool %d version %d: %w", v.PoolID, prev.Version, err)
	}
	raw, _ := prev.Members.ToBytes()
	if len(d) >= len(raw)+8*len(prev.Ranking)+4*len(prev.Scores) {
		return nil, nil
	}
	return d, nil
}

// GetVersion returns version n of a pool (0: the current one). A version stored as a delta is
// rebuilt from the nearest full version after it, through the deltas between.
func (s *PoolStore) GetVersion(ctx context.Context, poolID int64, n int) (*Version, error) {
	v, err := scanVersion(s.pool.QueryRow(ctx, `SELECT `+versionCols+` FROM pool_versions v WHERE pool_id = $1
		  AND version = CASE WHEN $2 = 0 THEN (SELECT current_version FROM pools WHERE id = $1) ELSE $2 END`,
		poolID, n))
	if errors.Is(err, pgx.ErrNoRows) {
		if n == 0 {
			return nil, fmt.Errorf("pool %d has no version yet: %w", poolID, ErrNotFound)
		}
		return nil, fmt.Errorf("pool %d version %d: %w", poolID, n, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pool %d version %d: %w", poolID, n, err)
	}
	if v.delta == nil {
		return v, nil
	}
	// The chain: this version up to the first full one after it, newest first.
	rows, err := s.pool.Query(ctx, `SELECT `+versionCols+` FROM pool_versions v WHERE pool_id = $1 AND version > $2
		AND version <= (SELECT min(version) FROM pool_versions WHERE pool_id = $1 AND version > $2 AND delta IS NULL)
		ORDER BY version DESC`, poolID, v.Version)
	if err != nil {
		return nil, fmt.Errorf("pool %d version %d: %w", poolID, v.Version, err)
	}
	chain, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Version, error) { return scanVersion(r) })
	if err != nil {
		return nil, fmt.Errorf("pool %d version %d: %w", poolID, v.Version, err)
	}
	if len(chain) == 0 || chain[0].delta != nil || chain[len(chain)-1].Version != v.Version+1 {
		return nil, fmt.Errorf("pool %d version %d: %w: no full version after it", poolID, v.Version, errDelta)
	}
	newer := chain[0]
	for _, c := range append(chain[1:], v) {
		if err := applyDelta(c, newer, c.delta); err != nil {
			return nil, err
		}
		if c.samePlan {
			c.Plan, c.planJSON, c.samePlan = newer.Plan, newer.planJSON, false
		}
		c.delta, newer = nil, c
	}
	return v, nil
}

// currentVersions returns the current versions of the pools named (pools without one are left
// out), in one query.
func (s *PoolStore) currentVersions(ctx context.Context, ids []int64) (map[int64]*Version, error) {
	// The bodies kept (versionBodies) are named by pool, version and creation: a row that is
	// one of them comes without its members, ranking, scores and plan.
	var kp []int64
	var kv []int32
	var kc []time.Time
	for _, id := range ids {
		if b, ok := s.bodies.get(id); ok {
			kp, kv, kc = append(kp, id), append(kv, int32(b.version)), append(kc, b.created)
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT k.pool_id IS NOT NULL, v.pool_id, v.version,
			CASE WHEN k.pool_id IS NULL THEN v.members END, CASE WHEN k.pool_id IS NULL THEN v.ranking END,
			CASE WHEN k.pool_id IS NULL THEN v.scores END, v.member_count, CASE WHEN k.pool_id IS NULL THEN v.plan END,
			v.event_seq, v.created_at, v.event_snapshot::text, v.vectors_from, v.skus_from,
			CASE WHEN k.pool_id IS NULL THEN v.delta END, v.checked_at
		FROM pool_versions v
		LEFT JOIN unnest($2::bigint[], $3::int[], $4::timestamptz[]) AS k(pool_id, version, created_at)
			ON k.pool_id = v.pool_id AND k.version = v.version AND k.created_at = v.created_at
		WHERE (v.pool_id, v.version) IN (SELECT id, current_version FROM pools WHERE id = ANY($1))`, ids, kp, kv, kc)
	if err != nil {
		return nil, fmt.Errorf("current versions: %w", err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Version, error) {
		var kept bool
		v, members, plan, err := scanVersionCols(r, &kept)
		if err != nil {
			return nil, err
		}
		if kept {
			if !s.bodies.fill(v) {
				// Replaced meanwhile (by this process's write of a newer one): read it whole.
				v.delta = []byte{}
			}
			return v, nil
		}
		if err := v.decode(members, plan); err != nil {
			return nil, err
		}
		return v, nil
	})
	if err != nil {
		return nil, fmt.Errorf("current versions: %w", err)
	}
	out := make(map[int64]*Version, len(vs))
	for _, v := range vs {
		// A delta is not written so (the current version is a full row), but readable; an
		// empty one is a kept body replaced while the rows were read.
		if v.delta != nil {
			if v, err = s.GetVersion(ctx, v.PoolID, v.Version); err != nil {
				return nil, err
			}
		}
		s.bodies.put(v)
		out[v.PoolID] = v
	}
	return out, nil
}

// Retention says which versions of a pool Prune keeps: the newest Keep (the current one among
// them) and every one younger than KeepFor. Zero fields take the defaults.
type Retention struct {
	// Keep is how many of a pool's newest versions stay whatever their age. Default 100.
	Keep int
	// KeepFor is the age below which a version stays: at least as long as an items cursor or
	// an export names a version in use. Default 7 days.
	KeepFor time.Duration
}

// WithDefaults fills zero fields.
func (r Retention) WithDefaults() Retention {
	if r.Keep <= 0 {
		r.Keep = 100
	}
	if r.KeepFor <= 0 {
		r.KeepFor = 7 * 24 * time.Hour
	}
	return r
}

// Prune deletes the versions retention lets go: for each pool, its oldest versions up to the
// newest one that is both older than KeepFor and not among its Keep newest. What it deletes is
// always a run of a pool's oldest versions, so every version kept can still be rebuilt (a delta
// leans on the version after it). It returns how many it deleted. When it deleted any, it
// vacuums the table, so that new versions reuse the space instead of growing the file:
// autovacuum waits until a fifth of the rows are dead, and a pruned table that keeps growing
// is not flat.
func (s *PoolStore) Prune(ctx context.Context, r Retention) (int64, error) {
	r = r.WithDefaults()
	tag, err := s.pool.Exec(ctx, `DELETE FROM pool_versions v USING pools p
		WHERE v.pool_id = p.id AND v.version <= p.current_version - $1
		  AND v.version <= (SELECT coalesce(max(o.version), 0) FROM pool_versions o
		                    WHERE o.pool_id = v.pool_id AND o.created_at < now() - $2::interval)`,
		r.Keep, r.KeepFor.String())
	if err != nil {
		return 0, fmt.Errorf("prune pool versions: %w", err)
	}
	if tag.RowsAffected() > 0 {
		if _, err := s.pool.Exec(ctx, `VACUUM pool_versions`); err != nil {
			return tag.RowsAffected(), fmt.Errorf("prune pool versions: vacuum: %w", err)
		}
	}
	return tag.RowsAffected(), nil
}

const versionCols = `v.pool_id, v.version, v.members, v.ranking, v.scores, v.member_count, v.plan, v.event_seq,
	v.created_at, v.event_snapshot::text, v.vectors_from, v.skus_from, v.delta, v.checked_at`

func scanVersion(row pgx.Row) (*Version, error) {
	v, members, plan, err := scanVersionCols(row)
	if err != nil {
		return nil, err
	}
	if err := v.decode(members, plan); err != nil {
		return nil, err
	}
	return v, nil
}

// scanVersionCols scans versionCols, after the columns of lead, leaving the members and plan
// columns undecoded (Version.decode).
func scanVersionCols(row pgx.Row, lead ...any) (v *Version, members, plan []byte, err error) {
	v = &Version{}
	var snap *string
	var vecFrom, skusFrom *time.Time
	err = row.Scan(append(lead, &v.PoolID, &v.Version, &members, &v.Ranking, &v.Scores, &v.MemberCount, &plan, &v.EventSeq,
		&v.CreatedAt, &snap, &vecFrom, &skusFrom, &v.delta, &v.CheckedAt)...)
	if err != nil {
		return nil, nil, nil, err
	}
	v.Position = positionOf(snap, vecFrom, skusFrom)
	return v, members, plan, nil
}

// decode sets a scanned version's members and plan from their columns.
func (v *Version) decode(members, plan []byte) error {
	if v.delta == nil {
		var err error
		if v.Members, err = readBitmap(members); err != nil {
			return fmt.Errorf("pool %d version %d: members: %w", v.PoolID, v.Version, err)
		}
	}
	if v.samePlan = v.delta != nil && bytes.Equal(plan, []byte("null")); !v.samePlan {
		if err := json.Unmarshal(plan, &v.Plan); err != nil {
			return fmt.Errorf("pool %d version %d: plan: %w", v.PoolID, v.Version, err)
		}
		v.planJSON = plan
	}
	return nil
}

// positionOf is a stored position's nullable columns as a Position (NULL: unknown, zero).
func positionOf(snap *string, vecFrom, skusFrom *time.Time) Position {
	var pos Position
	if snap != nil {
		pos.EventSnapshot = *snap
	}
	if vecFrom != nil {
		pos.VectorsFrom = *vecFrom
	}
	if skusFrom != nil {
		pos.SKUsFrom = *skusFrom
	}
	return pos
}

// VersionInfo is a version without its members, for listings.
type VersionInfo struct {
	Version     int       `json:"version"`
	MemberCount int       `json:"member_count"`
	EventSeq    int64     `json:"event_seq"`
	CreatedAt   time.Time `json:"created_at"`
	// GMV24h and Units24h: what its SKUs had sold in the 24 hours before it was written
	// (absent: not recorded).
	GMV24h   *int64 `json:"gmv_24h,omitempty"`
	Units24h *int64 `json:"units_24h,omitempty"`
}

// Versions lists a pool's versions, newest first.
func (s *PoolStore) Versions(ctx context.Context, poolID int64) ([]VersionInfo, error) {
	var out []VersionInfo
	before := 0
	for {
		page, more, err := s.VersionPage(ctx, poolID, before, MaxVersionPage)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if !more {
			return out, nil
		}
		before = page[len(page)-1].Version
	}
}

// MaxVersionPage bounds a page of a pool's versions.
const MaxVersionPage = 500

// VersionPage returns a page of a pool's versions, newest first, below the version before (0:
// from the newest), and whether older versions follow. limit is clamped to 1..MaxVersionPage.
func (s *PoolStore) VersionPage(ctx context.Context, poolID int64, before, limit int) ([]VersionInfo, bool, error) {
	limit = min(max(limit, 1), MaxVersionPage)
	rows, err := s.pool.Query(ctx, `SELECT version, member_count, event_seq, created_at, gmv_24h, units_24h FROM pool_versions
		WHERE pool_id = $1 AND ($2 = 0 OR version < $2) ORDER BY version DESC LIMIT $3`, poolID, before, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("pool %d versions: %w", poolID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[VersionInfo])
	if err != nil {
		return nil, false, fmt.Errorf("pool %d versions: %w", poolID, err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

func nonNil(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}

func nonNilF(s []float32) []float32 {
	if s == nil {
		return []float32{}
	}
	return s
}

// Diff is what changed between two versions of a pool.
type Diff struct {
	From    int     `json:"from"`
	To      int     `json:"to"`
	Added   []Moved `json:"added"`
	Removed []Moved `json:"removed"`
	Moved   []Moved `json:"moved"`
	Same    int     `json:"unchanged"`
}

// Moved is one SKU's rank in the two versions (1-based; 0 = absent).
type Moved struct {
	SKUID    int64 `json:"sku_id,string"`
	FromRank int   `json:"from_rank,omitempty"`
	ToRank   int   `json:"to_rank,omitempty"`
	// Reason, for a SKU a refresh removed, says why it left (Service.explainRemoved).
	Reason string `json:"reason,omitempty"`
}

// DiffVersions compares two rankings: SKUs added, removed, and moved (rank changed).
func DiffVersions(a, b *Version) Diff {
	d := Diff{From: a.Version, To: b.Version, Added: []Moved{}, Removed: []Moved{}, Moved: []Moved{}}
	// One map: a's rank by SKU, negated once b holds the SKU too (what is left positive was
	// removed). A refresh pass diffs every version it writes.
	ra := make(map[int64]int, len(a.Ranking))
	for i, id := range a.Ranking {
		ra[id] = i + 1
	}
	for i, id := range b.Ranking {
		switch r := ra[id]; {
		case r <= 0: // not in a (or b repeats it)
			d.Added = append(d.Added, Moved{SKUID: id, ToRank: i + 1})
		case r != i+1:
			d.Moved = append(d.Moved, Moved{SKUID: id, FromRank: r, ToRank: i + 1})
			ra[id] = -r
		default:
			d.Same++
			ra[id] = -r
		}
	}
	for i, id := range a.Ranking {
		if ra[id] > 0 {
			d.Removed = append(d.Removed, Moved{SKUID: id, FromRank: i + 1})
		}
	}
	return d
}

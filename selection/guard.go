package selection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Guard is a pool's safety net on refresh: a refresh whose ranking would leave the pool below
// MinSize SKUs, or remove more than MaxDropPct percent of the published version's members, is
// held as the pool's pending version instead of published. REST clients keep reading the
// published version; a planner accepts the pending one (it becomes the next version) or
// rejects it. Only refreshes the data caused are held: an edit of the plan publishes at once,
// as its planner sees the preview first. Zero fields are off.
type Guard struct {
	MinSize    int `json:"min_size,omitempty"`
	MaxDropPct int `json:"max_drop_pct,omitempty"`
}

func (g *Guard) validate(limit int) error {
	if g == nil {
		return nil
	}
	if g.MinSize < 0 || g.MinSize > limit {
		return fmt.Errorf("%w: guard min_size %d outside 0..limit (%d)", ErrInvalid, g.MinSize, limit)
	}
	if g.MaxDropPct < 0 || g.MaxDropPct > 100 {
		return fmt.Errorf("%w: guard max_drop_pct %d outside 0..100", ErrInvalid, g.MaxDropPct)
	}
	return nil
}

// breaks says how next breaks the guard against the published version cur ("" when it does
// not): a pool that shrinks below the floor, or loses more than the largest drop of cur's
// members. A pool below its floor that grows is not held.
func (g *Guard) breaks(cur, next *Version) string {
	if g == nil || cur == nil || cur.Version == 0 {
		return ""
	}
	if g.MinSize > 0 && len(next.Ranking) < g.MinSize && len(next.Ranking) < len(cur.Ranking) {
		return fmt.Sprintf("the pool would hold %d SKUs, below its floor of %d (it holds %d)", len(next.Ranking), g.MinSize, len(cur.Ranking))
	}
	if g.MaxDropPct > 0 && len(cur.Ranking) > 0 {
		in := make(map[int64]bool, len(next.Ranking))
		for _, id := range next.Ranking {
			in[id] = true
		}
		gone := 0
		for _, id := range cur.Ranking {
			if !in[id] {
				gone++
			}
		}
		if pct := 100 * gone / len(cur.Ranking); gone*100 > g.MaxDropPct*len(cur.Ranking) {
			return fmt.Sprintf("%d of its %d SKUs (%d%%) would leave, more than its largest drop of %d%%", gone, len(cur.Ranking), pct, g.MaxDropPct)
		}
	}
	return ""
}

// Pending is a held refresh: the version it would publish, the published version it was
// compared with, and why it was held.
type Pending struct {
	PoolID    int64     `json:"pool_id,string"`
	BasedOn   int       `json:"based_on"`
	Reason    string    `json:"reason"`
	Size      int       `json:"size"`
	CreatedAt time.Time `json:"created_at"`
	// Version holds the ranking, scores, members, plan and position (Version.Version is 0).
	Version *Version `json:"-"`
}

// ErrNoPending is returned when a pool has no pending version (it is an ErrNotFound).
var ErrNoPending = fmt.Errorf("no pending version: %w", ErrNotFound)

// hold stores next as the pool's pending version, held against base.
func (s *PoolStore) hold(ctx context.Context, next *Version, base int, reason string) error {
	members, err := next.Members.ToBytes()
	if err != nil {
		return fmt.Errorf("serialize members: %w", err)
	}
	plan, err := json.Marshal(next.Plan)
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO pool_pending (pool_id, based_on, reason, members, ranking, scores, plan,
		event_seq, event_snapshot, vectors_from, skus_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::pg_snapshot, $10, $11)
		ON CONFLICT (pool_id) DO UPDATE SET based_on = $2, reason = $3, members = $4, ranking = $5, scores = $6, plan = $7,
		event_seq = $8, event_snapshot = $9::pg_snapshot, vectors_from = $10, skus_from = $11, created_at = now()`,
		next.PoolID, base, reason, members, nonNil(next.Ranking), nonNilF(next.Scores), plan, next.EventSeq,
		nullString(next.Position.EventSnapshot), nullTime(next.Position.VectorsFrom), nullTime(next.Position.SKUsFrom))
	if err != nil {
		return fmt.Errorf("pool %d: hold refresh: %w", next.PoolID, err)
	}
	return nil
}

// Pending returns a pool's pending version (ErrNoPending when it has none).
func (s *PoolStore) Pending(ctx context.Context, poolID int64) (*Pending, error) {
	p := &Pending{PoolID: poolID}
	v := &Version{PoolID: poolID}
	var members, plan []byte
	var snap *string
	var vf, sf *time.Time
	err := s.pool.QueryRow(ctx, `SELECT based_on, reason, members, ranking, scores, plan, event_seq, event_snapshot::text,
		vectors_from, skus_from, created_at FROM pool_pending WHERE pool_id = $1`, poolID).
		Scan(&p.BasedOn, &p.Reason, &members, &v.Ranking, &v.Scores, &plan, &v.EventSeq, &snap, &vf, &sf, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pool %d: %w", poolID, ErrNoPending)
	}
	if err != nil {
		return nil, fmt.Errorf("pool %d: pending version: %w", poolID, err)
	}
	if v.Members, err = readBitmap(members); err != nil {
		return nil, fmt.Errorf("pool %d: pending members: %w", poolID, err)
	}
	if err := json.Unmarshal(plan, &v.Plan); err != nil {
		return nil, fmt.Errorf("pool %d: pending plan: %w", poolID, err)
	}
	v.Position = positionOf(snap, vf, sf)
	v.MemberCount = int(v.Members.GetCardinality())
	p.Size, p.Version = len(v.Ranking), v
	return p, nil
}

// Reject deletes a pool's pending version: the published one stands (ErrNoPending when there
// was none). The audit log names who.
func (s *PoolStore) Reject(ctx context.Context, poolID int64, who Actor) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var reason string
		err := tx.QueryRow(ctx, `DELETE FROM pool_pending WHERE pool_id = $1 RETURNING reason`, poolID).Scan(&reason)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("pool %d: %w", poolID, ErrNoPending)
		}
		if err != nil {
			return fmt.Errorf("pool %d: reject pending version: %w", poolID, err)
		}
		return writeAudit(ctx, tx, poolID, who.Name, "pending rejected", "held refresh ("+reason+") dropped")
	})
}

// AcceptPending publishes a pool's pending version as its next version, in one transaction
// with the pending row's deletion. When the pool was published past the version the held
// refresh was compared with, or its plan was edited, the pending version is stale: it is
// dropped and ErrConflict returned (refresh again).
func (s *Service) AcceptPending(ctx context.Context, id int64, who Actor) (RefreshOutcome, error) {
	out := RefreshOutcome{PoolID: id}
	if err := s.mayChangePublished(ctx, id, who, "publishing a held refresh"); err != nil {
		return out, err
	}
	pend, err := s.Pools.Pending(ctx, id)
	if err != nil {
		return out, err
	}
	cur, err := s.Pools.GetVersion(ctx, id, 0)
	if err != nil {
		return out, err
	}
	next := pend.Version
	s.stamp(next)
	err = pgx.BeginFunc(ctx, s.Pools.pool, func(tx pgx.Tx) error {
		if err := s.Pools.addVersion(ctx, tx, next, pend.BasedOn, cur); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM pool_pending WHERE pool_id = $1`, id); err != nil {
			return err
		}
		return writeAudit(ctx, tx, id, who.Name, "pending accepted", fmt.Sprintf("held refresh (%s) published as version %d", pend.Reason, next.Version))
	})
	if errors.Is(err, ErrConflict) {
		_ = s.Pools.Reject(ctx, id, Actor{Name: "selection (stale)"})
		return out, fmt.Errorf("pool %d: the held refresh was compared with version %d, which is no longer current (or the plan changed): %w", id, pend.BasedOn, ErrConflict)
	}
	if err != nil {
		return out, err
	}
	out.Version, out.Changed, out.Trigger = next.Version, true, "pending accepted"
	d := DiffVersions(cur, next)
	s.explainRemoved(ctx, next.Plan, d.Removed)
	out.Diff = &d
	return out, nil
}

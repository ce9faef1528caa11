package selection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Governance: a pool is a draft, in review, published or archived. Planners draft and submit;
// with approval required (Service.Approval) only an approver publishes, unpublishes, archives
// or rolls a published pool back; REST readers see published pools only; archived pools are
// not refreshed. Every change a person makes is in the pool's audit log: creation, edits (what
// changed: query, filter, pins, rules ...), state changes, held refreshes accepted or rejected,
// rollbacks.

// Pool states.
const (
	StateDraft     = "draft"
	StateInReview  = "in_review"
	StatePublished = "published"
	StateArchived  = "archived"
)

// ErrForbidden is returned when an actor's role may not make a change (an approver's).
var ErrForbidden = errors.New("forbidden")

// Actor is who makes a change: an API key's name, and whether it is an approver's.
type Actor struct {
	Name     string
	Approver bool
}

// transitions are the legal state changes, and whether each needs an approver when approval
// is required.
var transitions = map[[2]string]bool{
	{StateDraft, StateInReview}:     false, // submit
	{StateInReview, StateDraft}:     false, // withdraw, or send back
	{StateDraft, StatePublished}:    true,
	{StateInReview, StatePublished}: true,
	{StatePublished, StateDraft}:    true, // unpublish
	{StatePublished, StateArchived}: true,
	{StateDraft, StateArchived}:     false,
	{StateInReview, StateArchived}:  false,
	{StateArchived, StateDraft}:     false, // reopen
}

// AuditEntry is one change of a pool.
type AuditEntry struct {
	ID     int64     `json:"id,string"`
	PoolID int64     `json:"pool_id,string"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
}

// MaxAuditPage bounds a page of the audit log.
const MaxAuditPage = 500

func writeAudit(ctx context.Context, tx pgx.Tx, poolID int64, actor, action, detail string) error {
	if actor == "" {
		actor = "unknown"
	}
	if _, err := tx.Exec(ctx, `INSERT INTO pool_audit (pool_id, actor, action, detail) VALUES ($1, $2, $3, $4)`,
		poolID, actor, action, detail); err != nil {
		return fmt.Errorf("pool %d: audit: %w", poolID, err)
	}
	return nil
}

// State returns a pool's state.
func (s *PoolStore) State(ctx context.Context, id int64) (string, error) {
	var state string
	err := s.pool.QueryRow(ctx, `SELECT state FROM pools WHERE id = $1`, id).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("pool %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("pool %d: state: %w", id, err)
	}
	return state, nil
}

// Audit returns a page of a pool's audit log, newest first: entries with ids below before (0:
// from the newest), and whether older ones remain.
func (s *PoolStore) Audit(ctx context.Context, poolID, before int64, limit int) ([]AuditEntry, bool, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `SELECT id, pool_id, at, actor, action, detail FROM pool_audit
		WHERE pool_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, poolID, before, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("pool %d: audit: %w", poolID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[AuditEntry])
	if err != nil {
		return nil, false, fmt.Errorf("pool %d: audit: %w", poolID, err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// SetState moves a pool to another state when the move is legal and the actor may make it;
// note, when given, goes to the audit log with it.
func (s *Service) SetState(ctx context.Context, id int64, to string, who Actor, note string) (Pool, error) {
	var p Pool
	err := pgx.BeginFunc(ctx, s.Pools.pool, func(tx pgx.Tx) error {
		var from string
		err := tx.QueryRow(ctx, `SELECT state FROM pools WHERE id = $1 FOR UPDATE`, id).Scan(&from)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("pool %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		needsApprover, ok := transitions[[2]string{from, to}]
		if !ok {
			return fmt.Errorf("%w: a pool %s cannot become %s (%s)", ErrInvalid, from, to, legalFrom(from))
		}
		if needsApprover && s.Approval && !who.Approver {
			return fmt.Errorf("%w: moving a pool from %s to %s needs an approver", ErrForbidden, from, to)
		}
		if p, err = scanPool(tx.QueryRow(ctx, `UPDATE pools SET state = $2, updated_at = now() WHERE id = $1 RETURNING `+poolCols, id, to)); err != nil {
			return err
		}
		detail := from + " -> " + to
		if note != "" {
			detail += ": " + note
		}
		return writeAudit(ctx, tx, id, who.Name, "state", detail)
	})
	return p, err
}

// legalFrom lists the states a pool in state from may move to.
func legalFrom(from string) string {
	var to []string
	for t := range transitions {
		if t[0] == from {
			to = append(to, t[1])
		}
	}
	slices.Sort(to)
	if len(to) == 0 {
		return "no state " + from + " exists"
	}
	return "it may become " + strings.Join(to, ", ")
}

// mayChangePublished checks that who may change what readers of a published pool see.
func (s *Service) mayChangePublished(ctx context.Context, id int64, who Actor, what string) error {
	if !s.Approval || who.Approver {
		return nil
	}
	state, err := s.Pools.State(ctx, id)
	if err != nil {
		return err
	}
	if state == StatePublished {
		return fmt.Errorf("%w: %s of a published pool needs an approver", ErrForbidden, what)
	}
	return nil
}

// DeletePool deletes a pool (with approval required, an approver's key for a published one).
func (s *Service) DeletePool(ctx context.Context, id int64, who Actor) error {
	if err := s.mayChangePublished(ctx, id, who, "deleting"); err != nil {
		return err
	}
	return s.Pools.deleteBy(ctx, id, who)
}

// Rollback makes an earlier version of a pool current again, as a new version: its ranking,
// members and scores, and its plan, which becomes the pool's plan (so refreshes go on from it,
// not from the plan that was rolled back). A held refresh is dropped.
func (s *Service) Rollback(ctx context.Context, id int64, version int, who Actor) (RefreshOutcome, error) {
	out := RefreshOutcome{PoolID: id}
	if err := s.mayChangePublished(ctx, id, who, "a rollback"); err != nil {
		return out, err
	}
	old, err := s.Pools.GetVersion(ctx, id, version)
	if err != nil {
		return out, err
	}
	cur, err := s.Pools.GetVersion(ctx, id, 0)
	if err != nil {
		return out, err
	}
	if old.Version == cur.Version {
		return out, fmt.Errorf("%w: version %d is the current version", ErrInvalid, version)
	}
	next := &Version{PoolID: id, Members: old.Members.Clone(), Ranking: slices.Clone(old.Ranking), Scores: slices.Clone(old.Scores),
		Plan: old.Plan, EventSeq: cur.EventSeq, Position: cur.Position}
	s.stamp(next)
	plan, err := json.Marshal(old.Plan)
	if err != nil {
		return out, err
	}
	err = pgx.BeginFunc(ctx, s.Pools.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE pools SET plan = $2, pins = $3, exclusions = $4, revision = revision + 1,
			updated_by = $5, updated_at = now() WHERE id = $1 AND current_version = $6`,
			id, plan, nonNil(old.Plan.Pins), nonNil(old.Plan.Exclusions), who.Name, cur.Version)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("pool %d moved past version %d: %w", id, cur.Version, ErrConflict)
		}
		if err := s.Pools.addVersion(ctx, tx, next, -1, cur); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM pool_pending WHERE pool_id = $1`, id); err != nil {
			return err
		}
		return writeAudit(ctx, tx, id, who.Name, "rollback", fmt.Sprintf("to version %d, as version %d", version, next.Version))
	})
	if err != nil {
		return out, fmt.Errorf("pool %d: rollback: %w", id, err)
	}
	out.Version, out.Changed, out.Trigger = next.Version, true, "rollback"
	d := DiffVersions(cur, next)
	out.Diff = &d
	return out, nil
}

// planSummary says what a plan holds, for the audit log.
func planSummary(p Plan) string {
	parts := []string{fmt.Sprintf("ranking %s, limit %d", p.Ranking.By, p.Limit)}
	if p.Query != "" {
		parts = append(parts, fmt.Sprintf("query %q", p.Query))
	}
	if p.Filter != nil {
		parts = append(parts, "filter "+p.Filter.String())
	}
	if n := len(p.Pins); n > 0 {
		parts = append(parts, fmt.Sprintf("%d pins", n))
	}
	if n := len(p.Rules); n > 0 {
		parts = append(parts, fmt.Sprintf("%d rules", n))
	}
	if n := len(p.Slots); n > 0 {
		parts = append(parts, fmt.Sprintf("%d slots", n))
	}
	return strings.Join(parts, "; ")
}

// editSummary says what an edit changed.
func editSummary(before Pool, in PoolInput) string {
	var parts []string
	if before.Name != in.Name {
		parts = append(parts, fmt.Sprintf("name %q -> %q", before.Name, in.Name))
	}
	a, b := before.Plan, in.Plan
	if a.Query != b.Query {
		parts = append(parts, fmt.Sprintf("query %q -> %q", a.Query, b.Query))
	}
	fa, fb := "", ""
	if a.Filter != nil {
		fa = a.Filter.String()
	}
	if b.Filter != nil {
		fb = b.Filter.String()
	}
	if fa != fb {
		parts = append(parts, fmt.Sprintf("filter %q -> %q", fa, fb))
	}
	if a.Ranking.By != b.Ranking.By {
		parts = append(parts, "ranking "+a.Ranking.By+" -> "+b.Ranking.By)
	}
	if a.Limit != b.Limit {
		parts = append(parts, fmt.Sprintf("limit %d -> %d", a.Limit, b.Limit))
	}
	if added, removed := idDiff(a.Pins, b.Pins); added+removed > 0 || !slices.Equal(a.Pins, b.Pins) {
		parts = append(parts, fmt.Sprintf("pins +%d -%d (%d now)", added, removed, len(b.Pins)))
	}
	if added, removed := idDiff(a.Exclusions, b.Exclusions); added+removed > 0 {
		parts = append(parts, fmt.Sprintf("exclusions +%d -%d (%d now)", added, removed, len(b.Exclusions)))
	}
	for _, part := range []struct {
		name string
		a, b any
	}{{"product types", a.Intent, b.Intent}, {"rules", a.Rules, b.Rules}, {"slots", a.Slots, b.Slots},
		{"guard", a.Guard, b.Guard}, {"excluded words", a.ExcludeTerms, b.ExcludeTerms}, {"ranking weights", a.Ranking.Weights, b.Ranking.Weights}} {
		ja, _ := json.Marshal(part.a)
		jb, _ := json.Marshal(part.b)
		if string(ja) != string(jb) {
			parts = append(parts, part.name)
		}
	}
	if !sameTime(before.ValidFrom, in.ValidFrom) || !sameTime(before.ValidUntil, in.ValidUntil) {
		parts = append(parts, "validity")
	}
	if len(parts) == 0 {
		return "nothing changed"
	}
	return strings.Join(parts, "; ")
}

func idDiff(a, b IDs) (added, removed int) {
	in := map[int64]bool{}
	for _, id := range a {
		in[id] = true
	}
	for _, id := range b {
		if !in[id] {
			added++
		}
		delete(in, id)
	}
	return added, len(in)
}

func sameTime(a, b *time.Time) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Equal(*b))
}

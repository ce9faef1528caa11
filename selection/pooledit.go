package selection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// ErrStale is returned for an edit that started from a revision of a pool that is no longer
// current: someone else's edit came first (HTTP 412).
var ErrStale = errors.New("the pool changed since that revision")

// ErrRevisionRequired is returned for an edit of a shared pool that names no revision (HTTP 428).
var ErrRevisionRequired = errors.New("the pool is shared: an edit must name the revision it started from")

// Edit is who edits a pool and on top of which revision of it.
//
// A pool is shared, for an editor, unless its current revision was written by that same editor
// (the API key, by name): created by another key, last edited by another key, or written
// without a known key (pools from before revisions were tracked, pools made outside the API).
// An edit of a shared pool must name the revision it started from; an unconditional edit can
// therefore only overwrite the editor's own last write. Identity is the key's name: two people
// sharing one key are one editor.
type Edit struct {
	// Editor names the API key that edits ("": unknown, every pool is shared).
	Editor string
	// IfMatch lists the revisions the editor started from (the HTTP If-Match); the edit applies
	// only while one of them is current. Nil: none given; empty and not nil: none that could
	// match (a weak or foreign ETag), so the edit fails as stale.
	IfMatch []int
	// Any is If-Match "*": apply on top of whatever revision is current (an explicit overwrite).
	Any bool
}

// Shared reports whether the pool is shared for editor (see Edit).
func (p *Pool) Shared(editor string) bool {
	return editor == "" || p.UpdatedBy == "" || p.UpdatedBy != editor
}

// Check tells whether e may replace p as it stands: nil, ErrStale or ErrRevisionRequired.
func (e Edit) Check(p *Pool) error {
	switch {
	case e.Any:
		return nil
	case e.IfMatch != nil:
		if slices.Contains(e.IfMatch, p.Revision) {
			return nil
		}
		return fmt.Errorf("pool %d is at revision %d, not the one this edit started from: %w", p.ID, p.Revision, ErrStale)
	case p.Shared(e.Editor):
		who := p.UpdatedBy
		if who == "" {
			who = "an unknown key"
		} else {
			who = fmt.Sprintf("key %q", who)
		}
		return fmt.Errorf("pool %d: revision %d was written by %s: %w", p.ID, p.Revision, who, ErrRevisionRequired)
	}
	return nil
}

// Update replaces a pool's editable parts when e allows it (Edit.Check, under the pool's row
// lock, so of two edits from the same revision exactly one applies), moves its revision on by
// one and records e.Editor as the writer.
func (s *PoolStore) Update(ctx context.Context, id int64, in PoolInput, e Edit) (Pool, error) {
	if err := in.validate(); err != nil {
		return Pool{}, err
	}
	plan, err := json.Marshal(in.Plan)
	if err != nil {
		return Pool{}, fmt.Errorf("encode plan: %w", err)
	}
	var before Pool
	check := func(tx pgx.Tx) error {
		before = Pool{ID: id}
		var plan []byte
		err := tx.QueryRow(ctx, `SELECT revision, updated_by, name, plan, valid_from, valid_until FROM pools WHERE id = $1 FOR UPDATE`, id).
			Scan(&before.Revision, &before.UpdatedBy, &before.Name, &plan, &before.ValidFrom, &before.ValidUntil)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(plan, &before.Plan); err != nil {
			return fmt.Errorf("pool %d: stored plan: %w", id, err)
		}
		return e.Check(&before)
	}
	// An edit makes a held refresh stale: the next refresh runs the edited plan. The audit
	// log says what changed.
	dropPending := func(tx pgx.Tx, p *Pool) error {
		if _, err := tx.Exec(ctx, `DELETE FROM pool_pending WHERE pool_id = $1`, p.ID); err != nil {
			return err
		}
		return writeAudit(ctx, tx, p.ID, e.Editor, "edited", editSummary(before, in))
	}
	p, err := s.writeIf(ctx, in.Plan, check, dropPending, `UPDATE pools SET name = $2, scenario = $3, plan = $4, pins = $5,
		exclusions = $6, valid_from = $7, valid_until = $8, revision = revision + 1, updated_by = $9, updated_at = now()
		WHERE id = $1 RETURNING `+poolCols,
		id, in.Name, in.Scenario, plan, nonNil(in.Plan.Pins), nonNil(in.Plan.Exclusions), in.ValidFrom, in.ValidUntil, e.Editor)
	switch {
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrStale), errors.Is(err, ErrRevisionRequired):
		return p, err
	case errors.Is(err, pgx.ErrNoRows):
		return p, fmt.Errorf("pool %d: %w", id, ErrNotFound)
	case err != nil:
		return p, fmt.Errorf("update pool %d: %w", id, err)
	}
	return p, nil
}

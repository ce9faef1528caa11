package selection

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
)

// The campaign calendar. A CampaignSlot is a place pools are shown (a homepage banner in one
// market); its schedules say which pool is live there when, and never overlap; outside them
// the slot's base pool answers. REST clients read a slot (LiveForSlot) instead of a pool and
// get whichever pool is live now. Only published pools go live: a scheduled draft, or one
// outside its own validity window, leaves the slot to its base pool.

// CampaignSlot is one slot with its schedules (those that end after the window asked for).
type CampaignSlot struct {
	Name      string     `json:"name"`
	Market    string     `json:"market,omitempty"`
	BasePool  *int64     `json:"base_pool,omitempty,string"`
	Schedules []Schedule `json:"schedules"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Schedule puts a pool live in a slot from StartsAt until EndsAt.
type Schedule struct {
	ID        int64     `json:"id,string"`
	Slot      string    `json:"slot"`
	PoolID    int64     `json:"pool_id,string"`
	PoolName  string    `json:"pool_name"`
	PoolState string    `json:"pool_state"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// LiveSlot is what a slot answers now: the pool, and why it is that one.
type LiveSlot struct {
	Slot     string    `json:"slot"`
	PoolID   int64     `json:"pool_id,string"`
	Why      string    `json:"why"`
	Schedule *Schedule `json:"schedule,omitempty"`
	// Until is when the answer may change next (the schedule's end, or the next one's start;
	// nil: nothing is scheduled after now).
	Until *time.Time `json:"until,omitempty"`
}

var slotName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)

// PutSlot creates or updates a slot.
func (s *PoolStore) PutSlot(ctx context.Context, name, market string, base *int64) (CampaignSlot, error) {
	if !slotName.MatchString(name) {
		return CampaignSlot{}, fmt.Errorf("%w: slot name %.40q: want 1-100 of a-z 0-9 . _ - (starting with a letter or digit)", ErrInvalid, name)
	}
	if len(market) > 20 {
		return CampaignSlot{}, fmt.Errorf("%w: market longer than 20 bytes", ErrInvalid)
	}
	if base != nil {
		if _, err := s.State(ctx, *base); err != nil {
			return CampaignSlot{}, fmt.Errorf("%w: base pool: %w", ErrInvalid, err)
		}
	}
	out := CampaignSlot{Name: name, Market: market, BasePool: base, Schedules: []Schedule{}}
	err := s.pool.QueryRow(ctx, `INSERT INTO campaign_slots (name, market, base_pool) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET market = $2, base_pool = $3, updated_at = now() RETURNING updated_at`,
		name, market, base).Scan(&out.UpdatedAt)
	if err != nil {
		return out, fmt.Errorf("slot %s: %w", name, err)
	}
	return out, nil
}

// DeleteSlot deletes a slot and its schedules.
func (s *PoolStore) DeleteSlot(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM campaign_slots WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("slot %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("slot %s: %w", name, ErrNotFound)
	}
	return nil
}

const scheduleCols = `s.id, s.slot, s.pool_id, p.name, p.state, s.starts_at, s.ends_at, s.created_by`

// Calendar returns the slots (of one market, or all with market "") with their schedules that
// overlap [from, until), by slot name and start.
func (s *PoolStore) Calendar(ctx context.Context, market string, from, until time.Time) ([]CampaignSlot, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, market, base_pool, updated_at FROM campaign_slots
		WHERE $1 = '' OR market = $1 ORDER BY market, name`, market)
	if err != nil {
		return nil, fmt.Errorf("calendar: %w", err)
	}
	slots, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CampaignSlot, error) {
		c := CampaignSlot{Schedules: []Schedule{}}
		return c, r.Scan(&c.Name, &c.Market, &c.BasePool, &c.UpdatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("calendar: %w", err)
	}
	rows, err = s.pool.Query(ctx, `SELECT `+scheduleCols+` FROM slot_schedules s JOIN pools p ON p.id = s.pool_id
		JOIN campaign_slots c ON c.name = s.slot
		WHERE ($1 = '' OR c.market = $1) AND s.ends_at > $2 AND s.starts_at < $3 ORDER BY s.slot, s.starts_at`, market, from, until)
	if err != nil {
		return nil, fmt.Errorf("calendar: %w", err)
	}
	scheds, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Schedule])
	if err != nil {
		return nil, fmt.Errorf("calendar: %w", err)
	}
	at := map[string]int{}
	for i, c := range slots {
		at[c.Name] = i
	}
	for _, sc := range scheds {
		slots[at[sc.Slot]].Schedules = append(slots[at[sc.Slot]].Schedules, sc)
	}
	return slots, nil
}

// AddSchedule schedules a pool in a slot from starts until ends; a schedule of the slot that
// overlaps it is a conflict (ErrConflict names it).
func (s *PoolStore) AddSchedule(ctx context.Context, slot string, poolID int64, starts, ends time.Time, by string) (Schedule, error) {
	if !ends.After(starts) {
		return Schedule{}, fmt.Errorf("%w: a schedule ends after it starts", ErrInvalid)
	}
	var out Schedule
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var name string
		err := tx.QueryRow(ctx, `SELECT name FROM campaign_slots WHERE name = $1 FOR UPDATE`, slot).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("slot %s: %w", slot, ErrNotFound)
		}
		if err != nil {
			return err
		}
		var other Schedule
		err = tx.QueryRow(ctx, `SELECT `+scheduleCols+` FROM slot_schedules s JOIN pools p ON p.id = s.pool_id
			WHERE s.slot = $1 AND s.starts_at < $3 AND s.ends_at > $2 ORDER BY s.starts_at LIMIT 1`, slot, starts, ends).
			Scan(&other.ID, &other.Slot, &other.PoolID, &other.PoolName, &other.PoolState, &other.StartsAt, &other.EndsAt, &other.CreatedBy)
		if err == nil {
			return fmt.Errorf("%w: slot %s already shows pool %q (%d) from %s to %s", ErrConflict, slot, other.PoolName, other.PoolID,
				other.StartsAt.UTC().Format(time.RFC3339), other.EndsAt.UTC().Format(time.RFC3339))
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		err = tx.QueryRow(ctx, `WITH s AS (INSERT INTO slot_schedules (slot, pool_id, starts_at, ends_at, created_by)
			VALUES ($1, $2, $3, $4, $5) RETURNING *) SELECT `+scheduleCols+` FROM s JOIN pools p ON p.id = s.pool_id`,
			slot, poolID, starts, ends, by).
			Scan(&out.ID, &out.Slot, &out.PoolID, &out.PoolName, &out.PoolState, &out.StartsAt, &out.EndsAt, &out.CreatedBy)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: pool %d does not exist", ErrInvalid, poolID)
		}
		return err
	})
	if err != nil {
		var pgErr interface{ SQLState() string }
		if errors.As(err, &pgErr) && pgErr.SQLState() == "23503" { // the pool does not exist
			return out, fmt.Errorf("%w: pool %d does not exist", ErrInvalid, poolID)
		}
		return out, fmt.Errorf("slot %s: schedule: %w", slot, err)
	}
	return out, nil
}

// DeleteSchedule removes one schedule of a slot.
func (s *PoolStore) DeleteSchedule(ctx context.Context, slot string, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM slot_schedules WHERE slot = $1 AND id = $2`, slot, id)
	if err != nil {
		return fmt.Errorf("slot %s: schedule %d: %w", slot, id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("slot %s: schedule %d: %w", slot, id, ErrNotFound)
	}
	return nil
}

// LiveForSlot answers which pool a slot shows at now: the published, active pool its schedule
// for now names; else its base pool, when published; else ErrNotFound.
func (s *PoolStore) LiveForSlot(ctx context.Context, slot string, now time.Time) (LiveSlot, error) {
	out := LiveSlot{Slot: slot}
	var base *int64
	err := s.pool.QueryRow(ctx, `SELECT base_pool FROM campaign_slots WHERE name = $1`, slot).Scan(&base)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fmt.Errorf("slot %s: %w", slot, ErrNotFound)
	}
	if err != nil {
		return out, fmt.Errorf("slot %s: %w", slot, err)
	}
	var sc Schedule
	var window Pool // the scheduled pool's state and validity window
	err = s.pool.QueryRow(ctx, `SELECT `+scheduleCols+`, p.valid_from, p.valid_until FROM slot_schedules s JOIN pools p ON p.id = s.pool_id
		WHERE s.slot = $1 AND s.starts_at <= $2 AND s.ends_at > $2`, slot, now).
		Scan(&sc.ID, &sc.Slot, &sc.PoolID, &sc.PoolName, &sc.PoolState, &sc.StartsAt, &sc.EndsAt, &sc.CreatedBy, &window.ValidFrom, &window.ValidUntil)
	scheduled := err == nil
	switch {
	case scheduled:
		out.Until = &sc.EndsAt
	case errors.Is(err, pgx.ErrNoRows):
		if err := s.pool.QueryRow(ctx, `SELECT min(starts_at) FROM slot_schedules WHERE slot = $1 AND starts_at > $2`, slot, now).Scan(&out.Until); err != nil {
			return out, fmt.Errorf("slot %s: %w", slot, err)
		}
	default:
		return out, fmt.Errorf("slot %s: %w", slot, err)
	}
	why := "nothing is scheduled now: "
	if scheduled {
		window.State = sc.PoolState
		if window.State == StatePublished && window.Active(now) {
			out.PoolID, out.Schedule = sc.PoolID, &sc
			out.Why = fmt.Sprintf("scheduled from %s to %s", sc.StartsAt.UTC().Format(time.RFC3339), sc.EndsAt.UTC().Format(time.RFC3339))
			return out, nil
		}
		why = fmt.Sprintf("pool %d is scheduled now but is %s (or outside its validity window): ", sc.PoolID, sc.PoolState)
	}
	if base == nil {
		return out, fmt.Errorf("slot %s: %sthe slot has no base pool: %w", slot, why, ErrNotFound)
	}
	state, err := s.State(ctx, *base)
	if err != nil {
		return out, err
	}
	if state != StatePublished {
		return out, fmt.Errorf("slot %s: %sits base pool %d is %s: %w", slot, why, *base, state, ErrNotFound)
	}
	out.PoolID, out.Why = *base, why+"the slot's base pool"
	return out, nil
}

package selection

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SummaryScenarioChars is how much of a pool's scenario a summary carries.
const SummaryScenarioChars = 200

// MaxSummaryPage bounds a page of summaries.
const MaxSummaryPage = 500

// PoolSummary is a pool for listings: no plan (its filter, pins and exclusions can run to
// hundreds of kilobytes), only the plan's shape, and the scenario's first SummaryScenarioChars
// characters. With names capped at 200 bytes, a summary is at most a few kilobytes of JSON
// whatever the pool holds.
type PoolSummary struct {
	ID   int64  `json:"id,string"`
	Name string `json:"name"`
	// Scenario is the scenario's beginning; ScenarioTruncated says there is more (GET the pool).
	Scenario          string     `json:"scenario"`
	ScenarioTruncated bool       `json:"scenario_truncated,omitempty"`
	RankingBy         string     `json:"ranking"`
	Limit             int        `json:"limit"`
	Pins              int        `json:"pins"`
	Exclusions        int        `json:"exclusions"`
	ValidFrom         *time.Time `json:"valid_from,omitempty"`
	ValidUntil        *time.Time `json:"valid_until,omitempty"`
	CurrentVersion    int        `json:"current_version"`
	Revision          int        `json:"revision"`
	CreatedBy         string     `json:"created_by,omitempty"`
	CreatedAt         time.Time  `json:"created_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	State             string     `json:"state"`
}

// Summaries returns a page of pool summaries by id, newest first, below the cursor id before
// (0: from the newest), and whether more pools follow. limit is clamped to 1..MaxSummaryPage.
// Only the summary's columns leave the database (the scenario cut there too).
//
// publishedOnly lists the published pools only (what a reader may see).
func (s *PoolStore) Summaries(ctx context.Context, before int64, limit int, publishedOnly bool) ([]PoolSummary, bool, error) {
	limit = min(max(limit, 1), MaxSummaryPage)
	rows, err := s.pool.Query(ctx, `SELECT id, name, left(scenario, $3), char_length(scenario) > $3,
		coalesce(plan->'ranking'->>'by', ''), coalesce((plan->>'limit')::int, 0), cardinality(pins), cardinality(exclusions),
		valid_from, valid_until, current_version, revision, created_by, created_at, updated_at, state
		FROM pools WHERE ($1 = 0 OR id < $1) AND (NOT $4 OR state = 'published') ORDER BY id DESC LIMIT $2`,
		before, limit+1, SummaryScenarioChars, publishedOnly)
	if err != nil {
		return nil, false, fmt.Errorf("list pools: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PoolSummary])
	if err != nil {
		return nil, false, fmt.Errorf("list pools: %w", err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

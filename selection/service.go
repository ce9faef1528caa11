package selection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/filter"
	"selection/internal/memo"
)

// Service is the selection service's use cases: plan a scenario, preview, and keep pools.
type Service struct {
	Executor *Executor
	Pools    *PoolStore
	DB       *pgxpool.Pool
	// Vocabulary feeds the deterministic parser (brands and tags the index knows).
	Vocabulary func() Vocabulary
	// Intents, when set, resolves the product types a scenario's query means into the plan.
	Intents IntentResolver
	// LLM, when set, is the planner used for planner "llm" (and "auto").
	LLM *LLMPlanner
	// CatalogCurrency is the currency of catalogue prices (default USD).
	CatalogCurrency string
	// Approval requires an approver to publish, unpublish, archive, roll back or accept a held
	// refresh of a published pool (governance.go); planners draft and submit.
	Approval bool
	Log      *slog.Logger
	// Position reports where Executor's indexes stand in the tables they follow (the running
	// service asks the tag index and the vector index). A version records the position read
	// just before it was ranked, and an incremental refresh looks for changes after it. Nil:
	// the indexes are taken to be current (the database's snapshot now; vectors not followed).
	Position func(context.Context) (Position, error)
	// GenerationAt and PastStates, when set, say what Executor's filter index held since a
	// position (tagger.Tagger.GenerationAt, StatesSince): the index's generation when it took
	// the position whose event snapshot is given, and for each ordinal of set every row it
	// held since a generation, oldest first, the current one last (ok false when they cannot
	// tell). An incremental refresh then skips a SKU whose only changes were to fields the
	// pool's filter reads when it passed the filter in every one of those states, for a version
	// this process wrote or confirmed (it could have entered then, and its change brings nothing
	// the ranking reads). Nil: never skipped so.
	GenerationAt func(snapshot string) (filter.Generation, bool)
	PastStates   func(g filter.Generation, set *roaring64.Bitmap) (map[int64][]filter.Row, bool)
	// ReleaseStates, when set, is told after each whole pass the earliest generation the
	// versions of this process's active pools stand at (tagger.Tagger.ReleaseStates): the
	// journal behind PastStates then holds the writes since the last pass or so, not its whole
	// keep. Nil: nothing released.
	ReleaseStates func(g filter.Generation)
	// own is, by pool, the version this process last wrote or confirmed, at which position and
	// index generation (ownVersion).
	own sync.Map
	// EventsKeptFor, when > 0, is how long sku_events keeps events (ingest.EventRetention): a
	// pool whose version was last checked longer ago (less a tenth, for the pass) is ranked
	// again rather than checked against the changes since, which may be gone. Default 0.
	EventsKeptFor time.Duration
	// RefreshWorkers is how many pools RefreshAll refreshes at once. Default: GOMAXPROCS.
	RefreshWorkers int
	// PoolBudget bounds one pool's refresh in RefreshAll: a pool that takes longer fails
	// (logged; the next pass tries again) instead of holding the pass up. Default 30s.
	PoolBudget time.Duration
	// CollectAfterPass makes RefreshAll collect the Go heap's garbage as a pass ends when the
	// pass used more than half of the heap's headroom to the next collection (collect.go):
	// the collection then falls between passes, where it is cheap, rather than inside the
	// next one; or when the next pass, allocating as much as the most of the last few, would
	// reach the goal. Default false: the runtime collects when its goal says.
	CollectAfterPass bool
	// collector keeps what the last passes allocated (CollectAfterPass).
	collector passCollector
}

// Planners.
const (
	PlannerDeterministic = "deterministic"
	PlannerLLM           = "llm"
	PlannerAuto          = "auto" // the LLM when configured, else deterministic
)

// PlanResponse is a scenario's plan for review.
type PlanResponse struct {
	Scenario string    `json:"scenario"`
	Plan     Plan      `json:"plan"`
	Planner  string    `json:"planner"`
	Parsed   []Matched `json:"understood"`
	Notes    []string  `json:"notes,omitempty"`
	Warnings []string  `json:"warnings,omitempty"`
}

func (s *Service) currency() string {
	if s.CatalogCurrency == "" {
		return "USD"
	}
	return s.CatalogCurrency
}

// PlanScenario turns a scenario into a plan with the chosen planner.
func (s *Service) PlanScenario(ctx context.Context, scenario, planner string) (PlanResponse, error) {
	if len(scenario) > MaxScenarioBytes {
		return PlanResponse{}, fmt.Errorf("%w: scenario longer than %d bytes", ErrInvalid, MaxScenarioBytes)
	}
	var vocab Vocabulary
	if s.Vocabulary != nil {
		vocab = s.Vocabulary()
	}
	parsed := NewParser(vocab).Parse(scenario)
	plan, notes := FromParsed(parsed, s.currency())
	if s.Intents != nil && strings.TrimSpace(parsed.ProductText) != "" {
		it, err := s.Intents.ResolveIntent(ctx, parsed.ProductText)
		if err != nil {
			return PlanResponse{}, fmt.Errorf("resolve intent: %w", err)
		}
		switch {
		case len(it.Types) > 0:
			plan.Intent = &it
			notes = append(notes, "product types: "+strings.Join(it.Names(), ", "))
		case it.Query != "" && plan.Query != "":
			notes = append(notes, fmt.Sprintf("no product type is clear from the scenario; %q names a class of products, not a kind: searching for %q", plan.Query, it.Query))
			plan.Query = it.Query
		default:
			notes = append(notes, "no product type is clear from the scenario: the query's words and meaning select")
		}
	}
	resp := PlanResponse{Scenario: scenario, Plan: plan, Planner: PlannerDeterministic, Parsed: parsed.Matches, Notes: notes}
	if resp.Parsed == nil {
		resp.Parsed = []Matched{}
	}
	switch planner {
	case "", PlannerDeterministic:
	case PlannerAuto, PlannerLLM:
		if s.LLM == nil {
			if planner == PlannerLLM {
				resp.Warnings = append(resp.Warnings, "no LLM is configured (SELECTION_LLM_PROVIDER); using the deterministic plan")
			}
			break
		}
		p, ok, warns := s.LLM.Plan(ctx, scenario, vocab, s.currency(), plan)
		resp.Warnings = append(resp.Warnings, warns...)
		if ok {
			resp.Plan, resp.Planner = p, PlannerLLM
		}
	default:
		return resp, fmt.Errorf("%w: planner %q (want deterministic, llm or auto)", ErrInvalid, planner)
	}
	return resp, nil
}

// Preview runs a plan without saving anything.
func (s *Service) Preview(ctx context.Context, plan Plan) (*Result, error) {
	return s.Executor.Run(ctx, plan)
}

// CreatePool saves a pool and writes its first version.
func (s *Service) CreatePool(ctx context.Context, in PoolInput) (Pool, *Version, error) {
	if err := in.validate(); err != nil {
		return Pool{}, nil, err
	}
	// Run before saving, so a plan that cannot run (an unknown tag) leaves nothing behind.
	pos, err := s.position(ctx)
	if err != nil {
		return Pool{}, nil, err
	}
	res, err := s.Executor.Run(ctx, in.Plan)
	if err != nil {
		return Pool{}, nil, err
	}
	v := versionOf(0, in.Plan, res, pos)
	s.stamp(v)
	p, err := s.Pools.CreateWithVersion(ctx, in, v)
	if err != nil {
		return p, nil, err
	}
	return p, v, nil
}

func versionOf(poolID int64, plan Plan, res *Result, pos Position) *Version {
	v := &Version{PoolID: poolID, Plan: plan, Members: res.Members, EventSeq: pos.EventSeq, Position: pos}
	v.Ranking = make(IDs, len(res.Items))
	v.Scores = make([]float32, len(res.Items))
	for i, it := range res.Items {
		v.Ranking[i], v.Scores[i] = it.SKUID, it.Score
	}
	return v
}

// position is where the engine's indexes stand: Service.Position, or the database's snapshot
// now when that is not set. It is read before a ranking (the indexes only move forward).
func (s *Service) position(ctx context.Context) (Position, error) {
	var pos Position
	if s.Position != nil {
		var err error
		if pos, err = s.Position(ctx); err != nil {
			return pos, fmt.Errorf("index position: %w", err)
		}
		if pos.EventSnapshot != "" {
			return pos, nil
		}
	}
	// The events part is the database's now; the followers' stamps, if any, stand.
	err := s.DB.QueryRow(ctx, `SELECT pg_current_snapshot()::text, (SELECT coalesce(max(seq), 0) FROM sku_events)`).
		Scan(&pos.EventSnapshot, &pos.EventSeq)
	if err != nil {
		return pos, fmt.Errorf("event position: %w", err)
	}
	return pos, nil
}

// RefreshOutcome says what a refresh did.
type RefreshOutcome struct {
	PoolID  int64 `json:"pool_id,string"`
	Version int   `json:"version"`
	Changed bool  `json:"changed"`
	Skipped bool  `json:"skipped,omitempty"` // no change since the last version could touch it
	// Held: the new ranking broke the pool's guard and waits as its pending version.
	Held   bool     `json:"held,omitempty"`
	Diff   *Diff    `json:"diff,omitempty"`
	Result *Result  `json:"-"`
	Reason string   `json:"reason,omitempty"`
	Notes  []string `json:"warnings,omitempty"`
	// Trigger says, in RefreshAll, what made the pass run the pool's plan: "no version",
	// "plan edited", "checked too long ago", "pin changed", "member changed" (a change its
	// ranking reads), "member left the filter" or "SKU admitted: " and why it may enter
	// ("" when skipped).
	Trigger string `json:"trigger,omitempty"`
	// Lag is, in RefreshAll, how long ago the pool's version had last been checked when the
	// pass took it up (0: no version yet): how stale refreshes let pools grow.
	Lag time.Duration `json:"-"`
	// confirm is, in RefreshAll, the version a run found unchanged: the pass confirms it at its
	// position with the rest of its page (finishPage), one write for the page.
	confirm *Version
}

// Refresh re-runs a pool's plan. A new version is written when the ranking changed; otherwise
// the current version stands (and the outcome says so). When another writer adds a version or
// changes the plan meanwhile, the refresh runs again on top of that.
func (s *Service) Refresh(ctx context.Context, id int64) (RefreshOutcome, error) {
	return s.refreshFrom(ctx, id, nil, nil, nil)
}

// refreshFrom is Refresh starting from the pool and its current version when the caller has
// just read them (nil: read here); a retry after a lost race reads them again. pass is, in
// RefreshAll, the pass's position (nil: read here).
func (s *Service) refreshFrom(ctx context.Context, id int64, p *Pool, cur *Version, pass *Position) (RefreshOutcome, error) {
	for attempt := 1; ; attempt++ {
		out, err := s.refresh(ctx, id, p, cur, pass)
		if errors.Is(err, ErrConflict) && attempt < 5 {
			p, cur = nil, nil
			continue
		}
		return out, err
	}
}

// refresh runs the pool's plan and settles the result. Its version's position is read before
// the run (the indexes reflect at least it while the plan runs); in RefreshAll it is the pass's
// (pass), read before any pool's run, so that every version the pass writes or confirms shares
// one position and the next pass reads the changes since it once, not once per pool.
func (s *Service) refresh(ctx context.Context, id int64, p *Pool, cur *Version, pass *Position) (RefreshOutcome, error) {
	out := RefreshOutcome{PoolID: id}
	if p == nil {
		got, err := s.Pools.Get(ctx, id)
		if err != nil {
			return out, err
		}
		p = &got
	}
	if cur == nil {
		var err error
		cur, err = s.Pools.GetVersion(ctx, id, 0)
		switch {
		case errors.Is(err, ErrNotFound) && p.CurrentVersion == 0:
			cur = &Version{PoolID: id} // no version yet: the diff is from an empty version 0
		case err != nil:
			return out, err
		}
	}
	var pos Position
	if pass != nil {
		pos = *pass
	} else {
		var err error
		if pos, err = s.position(ctx); err != nil {
			return out, err
		}
	}
	res, err := s.Executor.Run(ctx, p.Plan)
	if err != nil {
		return out, err
	}
	out.Result, out.Notes = res, res.Warnings
	next := versionOf(id, p.Plan, res, pos)
	next.planJSON = p.planJSON
	return s.settle(ctx, out, p, cur, next, pos, pass != nil)
}

// settle writes next (ranked at pos) on top of cur, the pool's current version; it confirms
// cur at pos instead when the ranking is the same (in a pass, inPass, with its page: the
// outcome's confirm), and holds next for review when it breaks the pool's guard.
func (s *Service) settle(ctx context.Context, out RefreshOutcome, p *Pool, cur, next *Version, pos Position, inPass bool) (RefreshOutcome, error) {
	samePlan := plansMatch(cur.Plan, cur.planJSON, p.Plan, p.planJSON)
	// A tailRanked plan's refresh reads which members are hits and which the tail from their
	// scores (0: the tail's), so a run that moves the border writes a version.
	if cur.Version > 0 && slices.Equal(cur.Ranking, next.Ranking) && samePlan &&
		(!s.tailRanked(p.Plan) || zeroTail(cur.Scores) == zeroTail(next.Scores)) {
		out.Version = cur.Version
		out.Reason = "ranking unchanged"
		// The version holds at pos: later refreshes look for changes after it only.
		if inPass {
			out.confirm = cur
			return out, nil
		}
		if err := s.Pools.confirm(ctx, []*Version{cur}, pos); err != nil {
			return out, err
		}
		s.owned(p.ID, cur.Version, pos)
		return out, nil
	}
	if reason := p.Plan.Guard.breaks(cur, next); reason != "" && samePlan {
		// The safety net: held for a planner, not published. The published version is
		// confirmed at pos, so later passes look at later changes only.
		if err := s.Pools.hold(ctx, next, cur.Version, reason); err != nil {
			return out, err
		}
		out.Version, out.Held, out.Reason = cur.Version, true, "held for review: "+reason
		if err := s.Pools.confirm(ctx, []*Version{cur}, pos); err != nil {
			return out, err
		}
		s.owned(p.ID, cur.Version, pos)
		return out, nil
	}
	s.stamp(next) // what it sold: recorded on versions written only
	if err := s.Pools.addVersionOn(ctx, next, cur, inPass); err != nil {
		return out, err
	}
	s.owned(p.ID, next.Version, pos)
	out.Version, out.Changed = next.Version, true
	d := DiffVersions(cur, next)
	s.explainRemoved(ctx, p.Plan, d.Removed)
	out.Diff = &d
	return out, nil
}

// plansMatch reports whether plans a and b are equal, given texts each decodes from (nil: not
// known; see Pool.planJSON and Version.planJSON): the same text decodes to the same plan, so
// equal texts answer without encoding either plan, which a pass would otherwise do twice for
// each of its thousands of pools. Different texts (or one unknown) compare as planEqual does.
func plansMatch(a Plan, aJSON []byte, b Plan, bJSON []byte) bool {
	if aJSON != nil && bJSON != nil && bytes.Equal(aJSON, bJSON) {
		return true
	}
	return planEqual(a, b)
}

// planEqual compares plans by their JSON form (plans are small).
func planEqual(a, b Plan) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// refreshPage is how many pools RefreshAll reads (with their current versions) at a time.
var refreshPage = 200

// RefreshAll refreshes every active pool whose data may have changed since its current version.
// It is incremental: the SKUs changed since a version's position (changedSince) are compared
// with the version's members and the pool's filter; a pool none of whose members changed and
// whose filter admits none of the changed SKUs cannot change, and is skipped without running
// its plan (and its version confirmed at the pass's position). It reads pools refreshPage at a
// time, each page's current versions in one query, and confirms a page's skipped versions in
// one. The work is a pipeline: the next page is read while the workers refresh this one, a
// page's pools go to whichever of the RefreshWorkers is free (a slow pool holds one worker, not
// the page), and a page is confirmed once its last pool is done while the next ones run.
func (s *Service) RefreshAll(ctx context.Context) ([]RefreshOutcome, error) {
	now := time.Now()
	// One position for the pass: read first, it is what the indexes reflect at least while any
	// pool is checked, and the pools it confirms share it, so the next pass reads the changes
	// since it once for all of them rather than once per pool.
	pos, err := s.position(ctx)
	if err != nil {
		return nil, err
	}
	workers := s.RefreshWorkers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	budget := s.PoolBudget
	if budget <= 0 {
		budget = 30 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Costly searches the pass's runs share (the hybrid's stages, by query and candidates) are
	// kept for the pass whatever the indexes' generation: every state after pos reflects pos.
	ctx = memo.WithScope(ctx, passScopeSize)
	if s.CollectAfterPass {
		// As the pass ends, whichever way: its shared searches are garbage then, and the
		// collection falls between passes (collect.go).
		scope := memo.ScopeFrom(ctx)
		defer func() {
			scope.Clear()
			s.collector.afterPass()
		}()
	}
	known := s.keptPools() // before the listing: a pool created since is not known, nor dropped

	// Read: pages of active pools with their current versions, one ahead of the workers.
	type page struct {
		active []Pool
		curs   map[int64]*Version
		outs   []RefreshOutcome
		errs   []error
		wg     sync.WaitGroup
	}
	pages := make(chan *page, 1)
	var readErr error
	listed, activeIDs := map[int64]bool{}, []int64(nil) // every pool the pass listed; the active ones
	go func() {
		defer close(pages)
		var before int64
		for {
			pools, err := s.Pools.List(ctx, before, refreshPage)
			if err != nil || len(pools) == 0 {
				readErr = err
				return
			}
			before = pools[len(pools)-1].ID
			pg := &page{}
			var ids []int64
			for _, p := range pools {
				listed[p.ID] = true
				if p.Active(now) {
					pg.active = append(pg.active, p)
					ids = append(ids, p.ID)
				}
			}
			activeIDs = append(activeIDs, ids...)
			if pg.curs, err = s.Pools.currentVersions(ctx, ids); err != nil {
				readErr = err
				return
			}
			pg.outs, pg.errs = make([]RefreshOutcome, len(pg.active)), make([]error, len(pg.active))
			select {
			case pages <- pg:
			case <-ctx.Done():
				return
			}
		}
	}()

	// Finish: pages in order, each once its pools are done; outcomes keep the pools' order and
	// drop the run's result (the pass would otherwise hold every pool's items until it ends).
	var out []RefreshOutcome
	finished := make(chan *page, 2)
	finishErr := make(chan error, 1)
	go func() {
		var err error
		for pg := range finished {
			pg.wg.Wait()
			if err == nil {
				err = s.finishPage(ctx, pg.active, pg.curs, pg.outs, pg.errs, now, pos, &out)
			}
		}
		finishErr <- err
	}()

	// Refresh: each page's pools, RefreshWorkers at a time across pages, each within PoolBudget.
	var changes shared[*changeSet] // the pass's change reads, by position
	sem := make(chan struct{}, workers)
	for pg := range pages {
		for i := range pg.active {
			sem <- struct{}{}
			pg.wg.Add(1)
			go func() {
				defer func() { <-sem; pg.wg.Done() }()
				p := pg.active[i]
				cur := pg.curs[p.ID]
				pctx, cancel := context.WithTimeout(ctx, budget)
				defer cancel()
				if cur == nil || !plansMatch(cur.Plan, cur.planJSON, p.Plan, p.planJSON) {
					pg.outs[i], pg.errs[i] = s.refreshFrom(pctx, p.ID, &p, cur, &pos)
					pg.outs[i].Trigger = "plan edited"
					if cur == nil {
						pg.outs[i].Trigger = "no version"
					}
				} else {
					pg.outs[i], pg.errs[i] = s.refreshIfTouched(pctx, p, cur, pos, &changes)
				}
				pg.outs[i].Result = nil
			}()
		}
		finished <- pg
	}
	close(finished)
	if err := <-finishErr; err != nil {
		return out, err
	}
	if readErr == nil && ctx.Err() == nil { // the pass saw every pool
		s.forgetUnlisted(known, listed)
		s.releaseStates(pos, activeIDs)
	}
	return out, readErr
}

// keptPools is the pools this process keeps something for: a version it owns (own) or a
// version's body (Pools' bodies).
func (s *Service) keptPools() map[int64]bool {
	kept := map[int64]bool{}
	s.own.Range(func(k, _ any) bool {
		kept[k.(int64)] = true
		return true
	})
	if s.Pools != nil {
		s.Pools.bodies.each(func(id int64) { kept[id] = true })
	}
	return kept
}

// forgetUnlisted drops what this process keeps for the pools of known (kept before a pass
// listed every pool) that the pass did not list: they were deleted, here or by another
// process, and their entries would otherwise stay until a restart.
func (s *Service) forgetUnlisted(known, listed map[int64]bool) {
	for id := range known {
		if !listed[id] {
			s.own.Delete(id)
			if s.Pools != nil {
				s.Pools.bodies.drop(id)
			}
		}
	}
}

// releaseStates tells ReleaseStates, after a whole pass at pos, the earliest generation any
// active pool's version stands at (the pass's own at most: pools it confirmed or wrote stand
// at pos; one whose refresh failed keeps its older version and generation). No reader asks
// for states before it: steadyAmong reads since a version's generation only, and only for a
// version this process owns.
func (s *Service) releaseStates(pos Position, active []int64) {
	if s.ReleaseStates == nil || s.GenerationAt == nil || pos.EventSnapshot == "" {
		return
	}
	low, ok := s.GenerationAt(pos.EventSnapshot)
	if !ok {
		return
	}
	for _, id := range active {
		if rec, ok := s.own.Load(id); ok {
			if g := rec.(ownVersion).gen; g.Epoch == low.Epoch && g.N < low.N {
				low.N = g.N
			}
		}
	}
	s.ReleaseStates(low)
}

// finishPage appends a page's outcomes to out (a pool that failed is logged and left out: the
// next pass tries it again) and confirms its skipped versions at pos. It fails only when ctx
// ends.
func (s *Service) finishPage(ctx context.Context, active []Pool, curs map[int64]*Version, outs []RefreshOutcome, errs []error, now time.Time, pos Position, out *[]RefreshOutcome) error {
	var skipped []*Version
	for i, p := range active {
		cur, o, err := curs[p.ID], outs[i], errs[i]
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if s.Log != nil {
				s.Log.Warn("refresh pool", "pool", p.ID, "err", err)
			}
			continue
		}
		if cur != nil && !cur.CheckedAt.IsZero() {
			o.Lag = now.Sub(cur.CheckedAt)
		}
		// A pool nothing touched is confirmed too, when its check is a minute old: its
		// position moves on (the next pass reads fewer changes) and its refreshed_at says how
		// fresh it is, without a write per pool on every pass of an idle catalogue.
		if o.Skipped && (o.Reason != reasonNothingChanged || now.Sub(cur.CheckedAt) >= recheckEvery) {
			skipped = append(skipped, cur)
		}
		if o.confirm != nil { // a run found its ranking unchanged
			skipped = append(skipped, o.confirm)
			o.confirm = nil
		}
		*out = append(*out, o)
	}
	if err := s.Pools.confirm(ctx, skipped, pos); err != nil {
		if s.Log != nil { // not fatal: the next pass checks the same changes again
			s.Log.Warn("confirm pool versions", "pools", len(skipped), "err", err)
		}
		return nil
	}
	for _, v := range skipped {
		s.owned(v.PoolID, v.Version, pos)
	}
	return nil
}

const reasonNothingChanged = "no SKU changed"

// passScopeSize bounds what a pass keeps of its runs' searches, field orderings and
// candidate sets (memo.Scope): about 150 distinct queries and candidate sets over 6,000 pools
// made from a few dozen briefs, each about 200 KB at a million SKUs; as many orderings of a
// set by a field (Executor.orderBy: 2,000 SKUs or more, 32 KB, and the set, up to 130 KB); and
// about 160 candidate sets (a brief's filter and intent in a market: two sets of up to 130 KB).
const passScopeSize = 1024

// recheckEvery is how stale a pool's refreshed_at may grow while nothing changes.
const recheckEvery = time.Minute

// refreshIfTouched refreshes p unless nothing that changed after the position of its current
// version cur can touch it (the outcome says Skipped). pos is the pass's position, read before
// any change was: a version sorted again here holds at it (not at a position read after the
// changes, which would hide those in between). changes caches changedSince by position for
// one pass.
func (s *Service) refreshIfTouched(ctx context.Context, p Pool, cur *Version, pos Position, changes *shared[*changeSet]) (RefreshOutcome, error) {
	// The event seq matters only to a version without a snapshot (confirm does not move it).
	events := cur.Position.EventSnapshot
	if events == "" {
		events = fmt.Sprintf("seq %d", cur.EventSeq)
	}
	key := fmt.Sprintf("%s|%d|%d", events, cur.Position.VectorsFrom.UnixNano(), cur.Position.SKUsFrom.UnixNano())
	// One read of the changes per position, by whichever worker needs it first; the others
	// with that position wait for it (and only they).
	changed, err := s.changesAt(ctx, key, cur, changes)
	if err != nil {
		return RefreshOutcome{}, err
	}
	if s.EventsKeptFor > 0 && time.Since(cur.CheckedAt) > s.EventsKeptFor*9/10 {
		// The changes since its check may be pruned (or about to be): rank it again.
		return s.refreshBecause(ctx, p, cur, pos, "checked too long ago")
	}
	if changed.all.IsEmpty() {
		return RefreshOutcome{PoolID: p.ID, Version: cur.Version, Skipped: true, Reason: reasonNothingChanged}, nil
	}
	moved, pinned := s.pinsMoved(p.Plan, cur, changed.all)
	if moved {
		return s.refreshBecause(ctx, p, cur, pos, "pin changed")
	}
	// Only a change the pool reads can alter it (any change but a price, stock or metrics one
	// its filter and ranking do not read): to a member (not shown as a pin), or to a SKU that
	// now passes the filter and, for a pool of product types, is of them or holds a word of its
	// query (a content change that made it one).
	ranked, filtered := changed.reading(p.Plan)
	members := roaring64.AndNot(cur.Members, pinned)
	hit := roaring64.And(ranked, members)
	membersMoved := s.membersMoved(p.Plan, cur, changed, hit, pinned)
	passes, admitted := (*roaring64.Bitmap)(nil), roaring64.New() // the changed SKUs the filter passes now
	var steadyN uint64                                            // of the admitted, those that passed it all along
	if filtered.Intersects(members) || !roaring64.Or(ranked, filtered).IsEmpty() {
		var err error
		if passes, err = changed.passingAmong(ctx, s, p.Plan, nil); err != nil {
			return RefreshOutcome{}, err
		}
		// A member whose filtered field changed matters only if it no longer passes.
		if !roaring64.AndNot(roaring64.And(filtered, members), passes).IsEmpty() {
			return s.refreshBecause(ctx, p, cur, pos, "member left the filter")
		}
		admitted = roaring64.Or(ranked, filtered)
		admitted.AndNot(cur.Members)
		admitted.And(passes)
		if admitted, err = s.ofIntent(ctx, p.Plan, changed, admitted); err != nil {
			return RefreshOutcome{}, err
		}
		// Admitted through a price, stock or metrics change the filter reads, that passed it all
		// along (steadyAmong): through a change only the filter reads, not at all; through one
		// the ranking reads too (an order: stock and sales), only as one the filter does not
		// read would (canEnter), so it leaves filtered.
		if steady := s.steadyAmong(p.Plan, cur, changed, roaring64.AndNot(roaring64.And(admitted, filtered), changed.other)); steady != nil {
			only := roaring64.AndNot(steady, ranked)
			admitted.AndNot(only)
			steadyN = steady.GetCardinality()
			filtered = roaring64.AndNot(filtered, steady)
		}
	}
	if membersMoved {
		// Members' values changed: sorted again when that is all a run would do.
		next, err := s.resorted(ctx, p.Plan, cur, changed, hit, pinned, admitted, filtered, passes, pos)
		if err != nil {
			return RefreshOutcome{}, err
		}
		if next == nil {
			return s.refreshBecause(ctx, p, cur, pos, "member changed")
		}
		next.planJSON = p.planJSON // resorted ranks p.Plan
		o, err := s.settle(ctx, RefreshOutcome{PoolID: p.ID}, &p, cur, next, pos, true)
		if errors.Is(err, ErrConflict) { // written or edited meanwhile: run it on top of that
			return s.refreshBecause(ctx, p, cur, pos, "member changed")
		}
		o.Trigger = "member changed (sorted again)"
		return o, err
	}
	if !admitted.IsEmpty() {
		enters, err := s.canEnter(ctx, p.Plan, cur, changed, admitted, filtered, pinned)
		if err != nil {
			return RefreshOutcome{}, err
		}
		if enters != "" {
			return s.refreshBecause(ctx, p, cur, pos, "SKU admitted: "+enters)
		}
	}
	reason := fmt.Sprintf("%d changed SKUs, none with a change the pool's filter and ranking read that is a member or admitted", changed.all.GetCardinality())
	if steadyN > 0 {
		reason += fmt.Sprintf(" (of those it reads, %d passed the filter in every state since the version)", steadyN)
	}
	return RefreshOutcome{PoolID: p.ID, Version: cur.Version, Skipped: true, Reason: reason}, nil
}

// changesAt is the pass's read of the changes since cur's position (key): the first pool to
// ask reads them, the others at that position wait. A read that failed is dropped, and a pool
// whose own budget is left reads again when the reader's ended (it read under its pool's).
func (s *Service) changesAt(ctx context.Context, key string, cur *Version, changes *shared[*changeSet]) (*changeSet, error) {
	return changes.do(ctx, key, func() (*changeSet, error) { return s.changedSince(ctx, cur) }, func(err error) bool {
		return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	})
}

// refreshBecause refreshes p in the pass at pos and says why in the outcome. A CPU profile
// shows the run under the label refresh=trigger.
func (s *Service) refreshBecause(ctx context.Context, p Pool, cur *Version, pos Position, trigger string) (o RefreshOutcome, err error) {
	pprof.Do(ctx, pprof.Labels("refresh", trigger), func(ctx context.Context) {
		o, err = s.refreshFrom(ctx, p.ID, &p, cur, &pos)
	})
	o.Trigger = trigger
	return o, err
}

// passingAmong is what the plan's filter passes now of set (a few): every live one without a
// filter.
func (s *Service) passingAmong(ctx context.Context, plan Plan, set *roaring64.Bitmap) (*roaring64.Bitmap, error) {
	e := filter.All()
	if plan.Filter != nil {
		e = *plan.Filter
	}
	return s.Executor.Index.EvalWithinContext(ctx, e, set)
}

// passing is what the plan's filter passes now (every live SKU without one).
func (s *Service) passing(ctx context.Context, plan Plan) (*roaring64.Bitmap, error) {
	if plan.Filter == nil {
		return s.Executor.Index.Live(), nil
	}
	return s.Executor.Index.EvalContext(ctx, *plan.Filter)
}

// ofIntent keeps, for a plan of product types, the SKUs of set (changed SKUs of cs) that its
// pool can hold: of them, or (a widening intent) holding the whole query as a search counts it
// or every word of a phrase (with a retriever that cannot tell: any word of either); other
// plans keep set. (Without widening, a plan of types retrieves and ranks among its types' SKUs
// only.)
func (s *Service) ofIntent(ctx context.Context, plan Plan, cs *changeSet, set *roaring64.Bitmap) (*roaring64.Bitmap, error) {
	if set.IsEmpty() || plan.Intent == nil || len(plan.Intent.Types) == 0 {
		return set, nil
	}
	out, err := cs.typesAmong(ctx, s.Executor, plan.Intent, set)
	if err != nil {
		return nil, err
	}
	if !plan.Intent.Widen || s.Executor.Retriever == nil {
		return out, nil
	}
	rest := roaring64.AndNot(set, out)
	if cr, ok := s.Executor.Retriever.(CoverRetriever); ok {
		// A SKU of another type enters a widening plan's pool only as a hit holding the whole
		// query (hitItems keeps no other; rankTypesBy adds those holding every word, a subset)
		// or holding every word of a phrase (Executor.candidates).
		if query := strings.TrimSpace(plan.Query); query != "" && !rest.IsEmpty() {
			complete, err := cs.completeAmong(ctx, cr, query, rest)
			if err != nil {
				return nil, err
			}
			out.Or(complete)
		}
		for _, ph := range plan.Intent.Phrases {
			holding, err := cs.holdingAllAmong(ctx, s, ph, rest)
			if err != nil {
				return nil, err
			}
			out.Or(holding)
		}
		return out, nil
	}
	words := strings.Fields(plan.Query)
	for _, ph := range plan.Intent.Phrases { // each widens the candidates by itself (Executor.candidates)
		words = append(words, strings.Fields(ph)...)
	}
	if len(words) > 0 {
		out.Or(s.Executor.mentioningAmong(words, rest))
	}
	return out, nil
}

// changeSet is what changed after a version's position: every SKU (all), and of those, the
// SKUs whose only changes were prices, stock levels or metrics (the kinds of their events);
// every other change (an upsert, a deletion, a new vector, a row the followers had not read)
// may have changed anything.
type changeSet struct {
	all, price, stock, metrics *roaring64.Bitmap
	// other is all less price, stock and metrics: the SKUs with a change of any other kind.
	other *roaring64.Bitmap
	// past is what the SKUs steadyAmong asked about held since the position.
	past pastStates
	// memo is what the pass's checks asked of every changed SKU (among.go).
	memo shared[*roaring64.Bitmap]
	// reads are readBy's sets, by the kinds of change they take.
	readMu sync.Mutex
	reads  [8]*roaring64.Bitmap
}

// changedSince returns the SKUs that changed after v's position: events of transactions not
// visible in its snapshot (committed later, or still open then), vectors stamped at or after its
// VectorsFrom and skus rows stamped at or after its SKUsFrom, with the kinds of the events.
// Versions without a snapshot use their event seq.
func (s *Service) changedSince(ctx context.Context, v *Version) (*changeSet, error) {
	events := `SELECT s.ordinal, e.kind FROM sku_events e JOIN skus s ON s.id = e.sku_id
		WHERE e.xid >= pg_snapshot_xmin($1::pg_snapshot) AND NOT pg_visible_in_snapshot(e.xid, $1::pg_snapshot)`
	args := []any{v.Position.EventSnapshot}
	if v.Position.EventSnapshot == "" {
		events = `SELECT s.ordinal, e.kind FROM sku_events e JOIN skus s ON s.id = e.sku_id WHERE e.seq > $1`
		args = []any{v.EventSeq}
	}
	q := events
	if !v.Position.VectorsFrom.IsZero() {
		args = append(args, v.Position.VectorsFrom)
		q += fmt.Sprintf(` UNION ALL SELECT ordinal, 'vector' FROM sku_vectors WHERE updated_at >= $%d`, len(args))
	}
	if !v.Position.SKUsFrom.IsZero() {
		args = append(args, v.Position.SKUsFrom)
		// An event that may change text, applied at or after SKUsFrom, may not have been read
		// by the text index at the version even when its snapshot shows it (a transaction open
		// at the follower's poll started at or after its From; one that started later was
		// applied later): such a SKU changed, whatever price, stock or metrics events follow.
		q += fmt.Sprintf(` UNION ALL SELECT s.ordinal, 'text' FROM sku_events e JOIN skus s ON s.id = e.sku_id
			WHERE e.applied_at >= $%d AND e.kind NOT IN ('price.update', 'stock.update', 'metrics.update')`, len(args))
	}
	rows, err := s.DB.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("changed skus: %w", err)
	}
	cs := &changeSet{all: roaring64.New(), price: roaring64.New(), stock: roaring64.New(), metrics: roaring64.New()}
	other, rowsOnly, text := roaring64.New(), roaring64.New(), roaring64.New()
	var o int64
	var kind string
	_, err = pgx.ForEachRow(rows, []any{&o, &kind}, func() error {
		cs.all.Add(uint64(o))
		switch kind {
		case "price.update":
			cs.price.Add(uint64(o))
		case "stock.update":
			cs.stock.Add(uint64(o))
		case "metrics.update":
			cs.metrics.Add(uint64(o))
		case "text":
			text.Add(uint64(o))
		default:
			other.Add(uint64(o))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changed skus: %w", err)
	}
	if !v.Position.SKUsFrom.IsZero() {
		if rowsOnly, err = s.rowsChangedOtherwise(ctx, v.Position.SKUsFrom); err != nil {
			return nil, err
		}
		cs.all.Or(rowsOnly)
	}
	// A row changed without an event after the snapshot (the followers' lag) may hold any change;
	// so may a text change the text index had not read (text), whatever events came after.
	rowsOnly.AndNot(roaring64.Or(roaring64.Or(cs.price, cs.stock), cs.metrics))
	other.Or(rowsOnly)
	other.Or(text)
	for _, bm := range []*roaring64.Bitmap{cs.price, cs.stock, cs.metrics} {
		bm.AndNot(other) // a SKU with any other change is not "only" that kind
	}
	cs.other = other
	return cs, nil
}

// rowsChangedOtherwise is the ordinals of the skus rows stamped at or after from by a
// transaction that wrote none of their events: a type vote, say. Such a row, which the text
// index may not have read at a version whose text position is from, may hold any change. A row
// stamped by the transaction of one of its events (ingest writes both, so they share now())
// changed only as its events say: those after the version's snapshot are read by kind, and
// those it shows are reflected, text ones aside (changedSince reads those). Counting those rows
// as changes of any kind re-ran, each pass, every pool holding or admitting a SKU of the
// transactions the text index's floor had not passed when the pass began (a poll's worth of
// prices, stock and sales). Rows and events come from one statement, so one snapshot; they are
// matched here rather than by an anti-join, whose plan Postgres may pick by a stale estimate.
func (s *Service) rowsChangedOtherwise(ctx context.Context, from time.Time) (*roaring64.Bitmap, error) {
	rows, err := s.DB.Query(ctx, `SELECT true, ordinal, id, updated_at FROM skus WHERE updated_at >= $1
		UNION ALL SELECT false, 0, sku_id, applied_at FROM sku_events WHERE applied_at >= $1`, from)
	if err != nil {
		return nil, fmt.Errorf("changed skus: rows: %w", err)
	}
	type stamp struct {
		id int64
		at int64 // microseconds: Postgres' resolution
	}
	type row struct {
		ord int64
		stamp
	}
	var changed []row
	byEvent := map[stamp]bool{}
	var isRow bool
	var ord, id int64
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&isRow, &ord, &id, &at}, func() error {
		st := stamp{id, at.UnixMicro()}
		if isRow {
			changed = append(changed, row{ord, st})
		} else {
			byEvent[st] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changed skus: rows: %w", err)
	}
	out := roaring64.New()
	for _, r := range changed {
		if !byEvent[r.stamp] {
			out.Add(uint64(r.ord))
		}
	}
	return out, nil
}

// reading returns the SKUs among the changed whose change plan's ranking reads (ranked) and
// those whose change its filter reads (filtered): any change but a price, stock or metrics one
// is in both; those only when the ranking (or the filter) reads their fields, or a tag (which
// may read any) or a blend.
func (cs *changeSet) reading(plan Plan) (ranked, filtered *roaring64.Bitmap) {
	inFilter := map[string]bool{}
	if plan.Filter != nil {
		for _, f := range plan.Filter.Fields() {
			inFilter[f] = true
		}
		inFilter["tag"] = len(plan.Filter.Tags()) > 0
	}
	inRanking := map[string]bool{}
	if plan.Ranking.By == SortRelevance && ((plan.Intent != nil && len(plan.Intent.Types) > 0) || strings.TrimSpace(plan.Query) == "") {
		// The types' SKUs the query's words did not reach fill a pool ranked by relevance best
		// sellers first, and a pool without a query ranks by sales. (A pool of types ranked by
		// a field reads that field only.)
		inRanking["sales_7d"] = true
	}
	switch plan.Ranking.By {
	case SortSales:
		inRanking["sales_7d"] = true
	case SortPriceAsc, SortPriceDesc:
		inRanking["price"] = true
	case SortRating:
		inRanking["rating"] = true
	case SortBlend:
		inRanking["tag"] = true // its signals read prices, sales and ratings
	}
	// Rules and slots move members by their filters' fields.
	for _, f := range plan.ruleFilters() {
		for _, name := range f.Fields() {
			inRanking[name] = true
		}
		inRanking["tag"] = inRanking["tag"] || len(f.Tags()) > 0
	}
	return cs.readBy(inRanking), cs.readBy(inFilter)
}

// readBy is every change but a price, stock or metrics one, and those of the kinds the fields
// named read. There are eight such sets at most: each is made once per change set and shared
// (callers only read it).
func (cs *changeSet) readBy(uses map[string]bool) *roaring64.Bitmap {
	var mask uint8
	if uses["tag"] || uses["price"] || uses["list_price"] || uses["discount"] {
		mask |= 1
	}
	if uses["tag"] || uses["stock"] || uses["in_stock"] {
		mask |= 2
	}
	for f := range uses {
		if f == "tag" || f == "rating" || f == "rating_count" || strings.HasPrefix(f, "sales_") || strings.HasPrefix(f, "gmv_") || strings.HasPrefix(f, "views_") {
			mask |= 4
			break
		}
	}
	cs.readMu.Lock()
	defer cs.readMu.Unlock()
	if out := cs.reads[mask]; out != nil {
		return out
	}
	out := cs.other.Clone()
	for i, bm := range []*roaring64.Bitmap{cs.price, cs.stock, cs.metrics} {
		if mask&(1<<i) != 0 {
			out.Or(bm)
		}
	}
	cs.reads[mask] = out
	return out
}

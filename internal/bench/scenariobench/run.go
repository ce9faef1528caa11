package scenariobench

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/embed"
	"selection/filter"
	"selection/search"
	"selection/selection"
	"selection/vectorindex"
)

// Target is the running service the bench drives in process: the selection service wired as
// serve wires it, and the parts the recall measurement and the baseline need.
type Target struct {
	Service  *selection.Service
	Index    *filter.Index
	Vectors  *vectorindex.Index
	Embedder embed.Embedder
	DB       *pgxpool.Pool
}

// RunConfig says how much to measure.
type RunConfig struct {
	// Runs is how many timed runs each scenario gets. Default 20.
	Runs int
	// Warmup is how many untimed runs each scenario gets first. Default 2.
	Warmup int
	// BaselineRuns is how many runs each scenario gets answered by Postgres alone (0: none).
	BaselineRuns int
	// BaselineTimeout bounds one baseline query. Default 60s.
	BaselineTimeout time.Duration
	// CPUProfile, when set, is written with a CPU profile of the timed runs.
	CPUProfile string
	// Only, when set, runs the scenarios whose names contain it.
	Only string
	// Rules also times every scenario with three boost/bury rules and two slots added to its
	// plan (Merchandised), interleaved with the plain runs, and reports both.
	Rules bool
}

func (c RunConfig) withDefaults() RunConfig {
	if c.Runs == 0 {
		c.Runs = 20
	}
	if c.Warmup == 0 {
		c.Warmup = 2
	}
	if c.BaselineTimeout == 0 {
		c.BaselineTimeout = time.Minute
	}
	return c
}

// Stages of one run, in order.
var stageNames = []string{"plan", "seq", "filter", "retrieve", "assemble", "write"}

// ScenarioResult is one scenario's measurements.
type ScenarioResult struct {
	Scenario   Scenario
	Plan       selection.Plan
	PlanDiff   string // how the plan differs from what the scenario wants ("" when it does not)
	Candidates uint64
	Method     string
	Results    int
	Ranking    uint32 // FNV-1a of the ranked SKU ids (and scores) of the last run
	Times      []time.Duration
	Stages     map[string][]time.Duration
	Recall     float64 // recall@10 of the engine's dense search; NaN without a query
	RecallPath vectorindex.Path
	Baseline   []time.Duration
	BaseErr    string
	// RuleTimes are the runs with rules and slots (RunConfig.Rules).
	RuleTimes []time.Duration
}

// Report is a whole run.
type Report struct {
	SKUs      int
	Scenarios []*ScenarioResult
	All       []time.Duration
	AllRules  []time.Duration
	RecallMin float64
	GCs       uint32
	GCPause   time.Duration
	Wall      time.Duration
}

// run is one scenario-to-pool pass: plan the scenario, read the event position, run the plan,
// write the version to the scenario's pool, as the service refreshes a pool.
func run(ctx context.Context, t Target, s Scenario, poolID int64, stages map[string]time.Duration, rules bool) (*selection.Result, selection.Plan, error) {
	ctx = search.WithQueryMemo(ctx) // one request: the plan's and the ranking's query embedding are one
	t0 := time.Now()
	resp, err := t.Service.PlanScenario(ctx, s.Text, selection.PlannerDeterministic)
	if err != nil {
		return nil, selection.Plan{}, err
	}
	if rules {
		resp.Plan = Merchandised(resp.Plan)
	}
	t1 := time.Now()
	seq, err := eventSeq(ctx, t.DB)
	if err != nil {
		return nil, resp.Plan, err
	}
	t2 := time.Now()
	res, err := t.Service.Executor.Run(ctx, resp.Plan)
	if err != nil {
		return nil, resp.Plan, err
	}
	t3 := time.Now()
	v := &selection.Version{PoolID: poolID, Plan: resp.Plan, Members: res.Members, EventSeq: seq,
		Ranking: make(selection.IDs, len(res.Items)), Scores: make([]float32, len(res.Items))}
	for i, it := range res.Items {
		v.Ranking[i], v.Scores[i] = it.SKUID, it.Score
	}
	if err := t.Service.Pools.AddVersion(ctx, v); err != nil {
		return nil, resp.Plan, err
	}
	t4 := time.Now()
	if stages != nil {
		stages["plan"], stages["seq"], stages["write"] = t1.Sub(t0), t2.Sub(t1), t4.Sub(t3)
		// The engine's own laps: filter, then retrieve (query) or rank (no query), then assemble.
		ms := func(k string) time.Duration { return time.Duration(res.Timings[k] * float64(time.Millisecond)) }
		stages["filter"], stages["retrieve"], stages["assemble"] = ms("filter"), ms("retrieve")+ms("rank"), ms("assemble")
	}
	return res, resp.Plan, nil
}

// Merchandised is plan with three rules and two slots, as a merchandiser adds them: in-stock
// SKUs up, discounts of 20% or more up, ratings under 3 down; the first three positions for a
// SKU that sold this week and the fifth for one in stock (each within the limit).
func Merchandised(plan selection.Plan) selection.Plan {
	plan.Rules = []selection.Rule{
		{Name: "in stock", Filter: filter.Attr("in_stock", "true"), Factor: 0.3},
		{Name: "deals", Filter: filter.Range("discount", 20, math.MaxInt64), Factor: 0.5},
		{Name: "poorly rated", Filter: filter.Range("rating", math.MinInt64, 299), Factor: -0.4},
	}
	plan.Slots = nil
	if plan.Limit >= 3 {
		plan.Slots = append(plan.Slots, selection.Slot{Name: "sold this week", From: 1, To: 3, Filter: filter.Range("sales_7d", 1, math.MaxInt64)})
	}
	if plan.Limit >= 5 {
		plan.Slots = append(plan.Slots, selection.Slot{Name: "in stock", From: 5, To: 5, Filter: filter.Attr("in_stock", "true")})
	}
	return plan
}

// eventSeq is what selection.Service reads before running a plan: the newest sku_events seq.
func eventSeq(ctx context.Context, db *pgxpool.Pool) (int64, error) {
	var seq int64
	err := db.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM sku_events`).Scan(&seq)
	return seq, err
}

// Run measures every scenario and writes the tables and, last, the summary line.
func Run(ctx context.Context, t Target, cfg RunConfig, w io.Writer) (*Report, error) {
	cfg = cfg.withDefaults()
	rep := &Report{SKUs: int(t.Index.LiveCount()), RecallMin: 1}
	var list []Scenario
	for _, s := range Scenarios {
		if cfg.Only == "" || strings.Contains(s.Name, cfg.Only) {
			list = append(list, s)
		}
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("no scenario matches %q", cfg.Only)
	}
	pools, err := setupPools(ctx, t, list, rep)
	if err != nil {
		return nil, err
	}
	// Warm-up, then the timed runs, scenarios interleaved so that a slow patch of the shared
	// machine spreads over all of them.
	for r := 0; r < cfg.Warmup; r++ {
		for _, sr := range rep.Scenarios {
			if _, _, err := run(ctx, t, sr.Scenario, pools[sr.Scenario.Name][0], nil, cfg.Rules); err != nil {
				return nil, fmt.Errorf("%s: %w", sr.Scenario.Name, err)
			}
		}
	}
	if err := timedRuns(ctx, t, cfg, rep, pools); err != nil {
		return nil, err
	}
	for _, sr := range rep.Scenarios {
		if sr.Plan.Query == "" {
			continue
		}
		rc, path, err := recallAt10(ctx, t, sr.Plan)
		if err != nil {
			return nil, fmt.Errorf("%s: recall: %w", sr.Scenario.Name, err)
		}
		sr.Recall, sr.RecallPath = rc, path
		rep.RecallMin = math.Min(rep.RecallMin, rc)
	}
	if cfg.BaselineRuns > 0 {
		for _, sr := range rep.Scenarios {
			for r := 0; r < cfg.BaselineRuns; r++ {
				d, err := baseline(ctx, t, sr.Scenario, pools[sr.Scenario.Name][1], cfg.BaselineTimeout)
				if err != nil {
					sr.BaseErr = err.Error()
					break
				}
				sr.Baseline = append(sr.Baseline, d)
			}
		}
	}
	rep.Print(w, cfg)
	return rep, nil
}

// setupPools makes one pool per scenario of list (and one per scenario for the baseline's
// versions) afresh, planned from the scenario, and adds each scenario's result to rep. It
// returns the two pool ids by scenario name.
func setupPools(ctx context.Context, t Target, list []Scenario, rep *Report) (map[string][2]int64, error) {
	if _, err := t.DB.Exec(ctx, `DELETE FROM pools WHERE name LIKE 'bench:%' OR name LIKE 'bench-pg:%'`); err != nil {
		return nil, err
	}
	pools := map[string][2]int64{}
	for _, s := range list {
		resp, err := t.Service.PlanScenario(ctx, s.Text, selection.PlannerDeterministic)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		var ids [2]int64
		for i, prefix := range []string{"bench:", "bench-pg:"} {
			p, err := t.Service.Pools.Create(ctx, selection.PoolInput{Name: prefix + s.Name, Scenario: s.Text, Plan: resp.Plan})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.Name, err)
			}
			ids[i] = p.ID
		}
		pools[s.Name] = ids
		rep.Scenarios = append(rep.Scenarios, &ScenarioResult{Scenario: s, Plan: resp.Plan, PlanDiff: s.Check(resp.Plan),
			Stages: map[string][]time.Duration{}, Recall: math.NaN()})
	}
	return pools, nil
}

// timedRuns runs every scenario cfg.Runs times, interleaved, recording each run's time, its
// stages and its result, the wall time and the garbage collections; under a CPU profile when
// cfg.CPUProfile is set.
func timedRuns(ctx context.Context, t Target, cfg RunConfig, rep *Report, pools map[string][2]int64) error {
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	stages := map[string]time.Duration{}
	for r := 0; r < cfg.Runs; r++ {
		for _, sr := range rep.Scenarios {
			if err := ctx.Err(); err != nil {
				return err
			}
			var res *selection.Result
			var err error
			t0 := time.Now()
			// Labelled, so a profile splits by scenario: go tool pprof -tagfocus scenario=NAME.
			pprof.Do(ctx, pprof.Labels("scenario", sr.Scenario.Name), func(ctx context.Context) {
				res, _, err = run(ctx, t, sr.Scenario, pools[sr.Scenario.Name][0], stages, false)
			})
			d := time.Since(t0)
			if err != nil {
				return fmt.Errorf("%s: %w", sr.Scenario.Name, err)
			}
			if cfg.Rules {
				t1 := time.Now()
				if _, _, err := run(ctx, t, sr.Scenario, pools[sr.Scenario.Name][1], nil, true); err != nil {
					return fmt.Errorf("%s with rules: %w", sr.Scenario.Name, err)
				}
				sr.RuleTimes = append(sr.RuleTimes, time.Since(t1))
				rep.AllRules = append(rep.AllRules, sr.RuleTimes[len(sr.RuleTimes)-1])
			}
			sr.Times = append(sr.Times, d)
			rep.All = append(rep.All, d)
			for k, v := range stages {
				sr.Stages[k] = append(sr.Stages[k], v)
			}
			sr.Candidates, sr.Method, sr.Results, sr.Ranking = res.Candidates, res.Method, len(res.Items), fingerprint(res.Items)
		}
	}
	rep.Wall = time.Since(start)
	if cfg.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	runtime.ReadMemStats(&ms1)
	rep.GCs = ms1.NumGC - ms0.NumGC
	rep.GCPause = time.Duration(ms1.PauseTotalNs - ms0.PauseTotalNs)
	return nil
}

// fingerprint is an FNV-1a hash of a ranking (SKU ids, and scores to 4 decimals), so that two
// builds of the service can be seen to rank alike.
func fingerprint(items []selection.Item) uint32 {
	h := fnv.New32a()
	for _, it := range items {
		fmt.Fprintf(h, "%d:%.4f,", it.SKUID, it.Score)
	}
	return h.Sum32()
}

// candidates is the engine's candidate bitmap for a plan (Executor.Run's filter step).
func candidates(t Target, plan selection.Plan) (*roaring64.Bitmap, error) {
	var cand *roaring64.Bitmap
	if plan.Filter != nil {
		bm, err := t.Index.Eval(*plan.Filter)
		if err != nil {
			return nil, err
		}
		cand = bm
	} else {
		cand = t.Index.Live()
	}
	for _, id := range plan.Exclusions {
		if o, ok := t.Index.Ordinal(id); ok {
			cand.Remove(uint64(o))
		}
	}
	if len(plan.ExcludeTerms) > 0 && t.Service.Executor.Retriever != nil {
		cand.AndNot(t.Service.Executor.Retriever.Mentioning(plan.ExcludeTerms))
	}
	return cand, nil
}

// recallAt10 is recall@10 of the dense search the engine makes within a plan's candidates
// (vectorindex.Index.Search, which takes the quantised path from QuantizedMin candidates on)
// against exact float32 scoring of every candidate (PathExact), for the plan's query embedding.
func recallAt10(ctx context.Context, t Target, plan selection.Plan) (float64, vectorindex.Path, error) {
	cand, err := candidates(t, plan)
	if err != nil {
		return 0, "", err
	}
	q, err := t.Embedder.EmbedQuery(ctx, plan.Query)
	if err != nil {
		return 0, "", err
	}
	got, path, err := t.Vectors.SearchPath(ctx, q, 10, cand, vectorindex.PathAuto)
	if err != nil {
		return 0, "", err
	}
	exact, _, err := t.Vectors.SearchPath(ctx, q, 10, cand, vectorindex.PathExact)
	if err != nil {
		return 0, "", err
	}
	scores := func(hs []vectorindex.Hit) []float32 {
		out := make([]float32, len(hs))
		for i, h := range hs {
			out[i] = h.Score
		}
		return out
	}
	return RecallAt(10, scores(exact), scores(got)), path, nil
}

// Print writes the per-scenario table, the totals and the summary line (last).
func (r *Report) Print(w io.Writer, cfg RunConfig) {
	f2 := func(d time.Duration) string { return fmt.Sprintf("%.2f", Millis(d)) }
	med := func(ds []time.Duration) time.Duration { return Percentile(ds, 50) }
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "scenario\tcandidates\tmethod\tresults\tranking\tp50 ms\tp95 ms\t")
	for _, s := range stageNames {
		fmt.Fprintf(tw, "%s\t", s)
	}
	fmt.Fprint(tw, "recall@10\tpath\t")
	if cfg.BaselineRuns > 0 {
		fmt.Fprint(tw, "pg p50 ms\tspeedup\t")
	}
	fmt.Fprintln(tw)
	var speedups []float64
	for _, sr := range r.Scenarios {
		rc, path := "-", "-"
		if !math.IsNaN(sr.Recall) {
			rc, path = fmt.Sprintf("%.3f", sr.Recall), string(sr.RecallPath)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%08x\t%s\t%s\t", sr.Scenario.Name, sr.Candidates, sr.Method, sr.Results, sr.Ranking,
			f2(med(sr.Times)), f2(Percentile(sr.Times, 95)))
		for _, s := range stageNames {
			fmt.Fprintf(tw, "%s\t", f2(med(sr.Stages[s])))
		}
		fmt.Fprintf(tw, "%s\t%s\t", rc, path)
		if cfg.BaselineRuns > 0 {
			switch {
			case sr.BaseErr != "":
				fmt.Fprint(tw, "error\t-\t")
			default:
				sp := Millis(med(sr.Baseline)) / math.Max(Millis(med(sr.Times)), 1e-6)
				speedups = append(speedups, sp)
				fmt.Fprintf(tw, "%s\t%.1fx\t", f2(med(sr.Baseline)), sp)
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	for _, sr := range r.Scenarios {
		if sr.PlanDiff != "" {
			fmt.Fprintf(w, "note: %s planned differently from what the list expects: %s\n", sr.Scenario.Name, sr.PlanDiff)
		}
		if sr.BaseErr != "" {
			fmt.Fprintf(w, "baseline %s: %s\n", sr.Scenario.Name, sr.BaseErr)
		}
	}
	stageTotals := make([]string, 0, len(stageNames))
	for _, s := range stageNames {
		var all []time.Duration
		for _, sr := range r.Scenarios {
			all = append(all, sr.Stages[s]...)
		}
		stageTotals = append(stageTotals, fmt.Sprintf("%s %s/%s", s, f2(med(all)), f2(Percentile(all, 95))))
	}
	fmt.Fprintf(w, "stages over all runs (p50/p95 ms): %s\n", strings.Join(stageTotals, ", "))
	fmt.Fprintf(w, "%d runs (%d scenarios x %d) in %s; %d GCs, %s of pauses\n", len(r.All), len(r.Scenarios),
		len(r.All)/max(len(r.Scenarios), 1), r.Wall.Round(time.Millisecond), r.GCs, r.GCPause.Round(time.Microsecond))
	if len(speedups) > 0 {
		slices.Sort(speedups)
		geo := 0.0
		for _, s := range speedups {
			geo += math.Log(s)
		}
		fmt.Fprintf(w, "baseline (Postgres alone: SQL filter + pgvector exact ORDER BY embedding <=> q over the filtered rows, or ORDER BY the ranking field; same plan and version write): speedup p50 geometric mean %.1fx, min %.1fx, max %.1fx over %d scenarios\n",
			math.Exp(geo/float64(len(speedups))), speedups[0], speedups[len(speedups)-1], len(speedups))
	}
	if len(r.AllRules) > 0 {
		var worst string
		worstRatio := 0.0
		for _, sr := range r.Scenarios {
			if ratio := float64(Percentile(sr.RuleTimes, 95)) / float64(max(Percentile(sr.Times, 95), 1)); ratio > worstRatio {
				worst, worstRatio = sr.Scenario.Name, ratio
			}
		}
		fmt.Fprintf(w, "with 3 rules and 2 slots in every plan (interleaved runs): p50 %s ms, p95 %s ms; without: p50 %s ms, p95 %s ms; p95 ratio %.2fx (largest per scenario %.2fx, %s)\n",
			f2(med(r.AllRules)), f2(Percentile(r.AllRules, 95)), f2(med(r.All)), f2(Percentile(r.All, 95)),
			float64(Percentile(r.AllRules, 95))/float64(max(Percentile(r.All, 95), 1)), worstRatio, worst)
	}
	fmt.Fprintln(w, "recall@10: per scenario with a query, the dense top 10 of vectorindex.Index.Search within the plan's candidate bitmap (the search the engine's retriever makes) against exact float32 scoring of every candidate; min over those scenarios")
	fmt.Fprintf(w, "scenario skus=%d p50_ms=%.2f p95_ms=%.2f recall_at10_min=%.3f\n", r.SKUs,
		Millis(Percentile(r.All, 50)), Millis(Percentile(r.All, 95)), r.RecallMin)
}

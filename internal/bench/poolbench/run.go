package poolbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/filter"
	"selection/ingest"
	"selection/internal/bench/scenariobench"
	"selection/internal/bench/soakbench"
	"selection/selection"
	"selection/vectorindex"
)

// Target is the running service the bench drives in process.
type Target struct {
	Service *selection.Service
	DB      *pgxpool.Pool
	// Position is where the service's indexes stand (core.Core.Position): the bench waits for
	// them to reflect a batch of changes before it times a pass.
	Position func() selection.Position
	// Vectors, when set, is the in-memory vector index: the bench times a propagated vote's
	// neighbour search on it (votes.go).
	Vectors *vectorindex.Index
}

// Config says what to measure. Zero fields take the defaults.
type Config struct {
	// Pools is how many pools to keep. Default 6,000.
	Pools int
	// Changes are the batch sizes of changed SKUs, each followed by a timed incremental pass.
	// Default 1,000, 10,000, 100,000.
	Changes []int
	// Workers are the refresh workers of the incremental passes, in turn (none: the service's
	// setting): an A/B of the setting within one run, on the same data.
	Workers []int
	// Seed makes the pools' variations and the change stream reproducible. Default 1.
	Seed uint64
	// Stream, above zero, runs a live stream after the batches: Rate events a second (default
	// 1,000) for Stream, written in tenth-of-a-second transactions while refresh passes run
	// back to back, and reports each event's freshness (stream.go).
	Stream time.Duration
	Rate   int
	// PruneEvery, above zero, applies retention during the stream as the service's leader does
	// (selection.PoolStore.Prune, ingest.PruneEvents), with the windows below, and reports the
	// tables' sizes after each prune. Keep and KeepFor are the versions' retention (defaults
	// 100 and 7 days, as the service's), EventsFor the events' and dead letters' (30 days).
	PruneEvery, KeepFor, EventsFor time.Duration
	Keep                           int
	// CPUProfile, when set, is written with a CPU profile of the incremental passes (not the
	// full pass, the writes or the waits).
	CPUProfile io.Writer
	// Trace, when set, is written with an execution trace of the first incremental pass.
	Trace io.Writer
	// AllocProfile, when set, is a path prefix: heap profiles just before and just after the
	// first incremental pass are written to AllocProfile+"-before.pb.gz" and "-after.pb.gz"
	// (`go tool pprof -sample_index=alloc_space -diff_base BEFORE AFTER`: what the pass allocated).
	// Each is taken after collections (soakbench.WriteHeapProfile), outside the timing.
	AllocProfile string
}

func (c Config) withDefaults() Config {
	if c.Pools <= 0 {
		c.Pools = 6000
	}
	if len(c.Changes) == 0 {
		c.Changes = []int{1000, 10_000, 100_000}
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Rate <= 0 {
		c.Rate = 1000
	}
	return c
}

// namePrefix marks the bench's pools (earlier runs' are deleted first).
const namePrefix = "bench pool "

// Pass is one timed refresh pass.
type Pass struct {
	Name                       string
	Changed                    int // SKUs changed before it (0: the full pass)
	Took                       time.Duration
	OwnCPU, MachineCPU         time.Duration // CPU time the pass took of this process, and of the whole machine (Postgres' too)
	SysCPU                     time.Duration // of OwnCPU, the kernel's on the process's behalf (page faults, zeroing fresh memory, syscalls)
	Faults                     int64         // the process's minor page faults in the pass (memory touched for the first time since the kernel gave it)
	GCCPU                      time.Duration // the garbage collector's CPU in the pass (runtime/metrics' estimate, updated as cycles end)
	GCs                        uint32        // collections that ended during the pass
	Allocated                  uint64        // bytes the pass allocated on the Go heap
	Written, Confirmed, Skip   int
	Triggers                   map[string]int    // what made the pass run the pools it ran
	Unchanged                  map[string]int    // of those, by trigger, the runs that wrote no version
	Kinds                      map[string][2]int // runs by kind of plan (planKinds) and trigger: how many, and how many wrote nothing
	Failed                     int
	Freshness                  time.Duration // from the batch's last commit to the pass's end
	VersionBytes, StoreBytes   int64         // bytes the pass added to pool_versions; its size after
	FullRowBytes               int64         // the mean size of a full version row (for the ratio)
	FollowerWait, ApplyChanges time.Duration
}

// Result is the whole run.
type Result struct {
	SKUs, Pools int
	Vote        *VoteResult
	Passes      []Pass
	Stream      *StreamResult
}

// Run creates the pools, times a full pass and the incremental passes, and writes a table and a
// last line to out.
func Run(ctx context.Context, t Target, cfg Config, out io.Writer) (Result, error) {
	cfg = cfg.withDefaults()
	var res Result
	if err := t.DB.QueryRow(ctx, `SELECT count(*) FROM skus WHERE live`).Scan(&res.SKUs); err != nil {
		return res, err
	}
	if t.Vectors != nil {
		v, err := voteSearch(ctx, t.Vectors, cfg.Seed, out)
		if err != nil {
			return res, err
		}
		res.Vote = &v
	}
	t0 := time.Now()
	n, err := makePools(ctx, t, cfg)
	if err != nil {
		return res, err
	}
	res.Pools = n
	fmt.Fprintf(out, "created %d pools (no version yet) in %s\n", n, time.Since(t0).Round(time.Millisecond))
	if _, err := vacuum(ctx, t.DB); err != nil {
		return res, err
	}
	p, err := pass(ctx, t, "full (every pool from scratch)", 0)
	if err != nil {
		return res, err
	}
	res.Passes = append(res.Passes, p)
	fmt.Fprintf(out, "full pass: %s, %d versions written\n", p.Took.Round(time.Millisecond), p.Written)
	if err := settle(ctx, t.DB, out); err != nil {
		return res, err
	}
	// The full pass leaves about 9 GB of garbage at 1M SKUs (the collector's goal is four
	// times the 3 GB live heap). With the service's SELECTION_POOL_REFRESH_COLLECT (on by
	// default) the pass collects it as it ends, inside its time; with it off, the collection
	// lands in the first incremental pass, which then takes two to three times as long as the
	// next (the table's GC column says where collections ended).

	sims, err := ingest.LoadSimCatalogue(ctx, t.DB, 0)
	if err != nil {
		return res, err
	}
	sim, err := ingest.NewSimulator(ingest.SimulatorConfig{Brokers: []string{"unused:9092"}, Catalogue: sims, Seed: cfg.Seed,
		MalformedShare: -1, NewSKUShare: -1, DeleteShare: -1})
	if err != nil {
		return res, err
	}
	for i, k := range cfg.Changes {
		if len(cfg.Workers) > 0 {
			t.Service.RefreshWorkers = cfg.Workers[i%len(cfg.Workers)]
		}
		t1 := time.Now()
		last, err := applyChanges(ctx, t.DB, sim, k)
		if err != nil {
			return res, err
		}
		applied := time.Since(t1)
		t2 := time.Now()
		if err := waitFollowers(ctx, t); err != nil {
			return res, err
		}
		wait := time.Since(t2)
		if cfg.AllocProfile != "" {
			if err := soakbench.WriteHeapProfile(cfg.AllocProfile + "-before.pb.gz"); err != nil {
				return res, err
			}
		}
		if cfg.CPUProfile != nil {
			if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
				return res, fmt.Errorf("cpu profile: %w", err)
			}
		}
		if cfg.Trace != nil {
			if err := trace.Start(cfg.Trace); err != nil {
				return res, fmt.Errorf("trace: %w", err)
			}
		}
		name := fmt.Sprintf("incremental after %d changed SKUs", k)
		if len(cfg.Workers) > 0 {
			name += fmt.Sprintf(" (%d workers)", t.Service.RefreshWorkers)
		}
		p, err := pass(ctx, t, name, k)
		if cfg.Trace != nil {
			trace.Stop()
			cfg.Trace = nil
		}
		if cfg.CPUProfile != nil {
			pprof.StopCPUProfile()
			cfg.CPUProfile = nil // one pass: the first batch's
		}
		if cfg.AllocProfile != "" {
			if err := soakbench.WriteHeapProfile(cfg.AllocProfile + "-after.pb.gz"); err != nil {
				return res, err
			}
			cfg.AllocProfile = ""
		}
		if err != nil {
			return res, err
		}
		p.ApplyChanges, p.FollowerWait = applied, wait
		p.Freshness = time.Since(last)
		res.Passes = append(res.Passes, p)
		fmt.Fprintf(out, "%s: %s (changes written in %s, indexes caught up in %s); ran the plans of %v, of which wrote nothing %v\n", p.Name,
			p.Took.Round(time.Millisecond), p.ApplyChanges.Round(time.Millisecond), p.FollowerWait.Round(time.Millisecond), p.Triggers, p.Unchanged)
		fmt.Fprintln(out, "  runs by kind of plan and trigger: runs, of which wrote nothing")
		for _, k := range slices.Sorted(maps.Keys(p.Kinds)) {
			fmt.Fprintf(out, "    %-60s %5d %5d\n", k, p.Kinds[k][0], p.Kinds[k][1])
		}
		if err := settle(ctx, t.DB, out); err != nil {
			return res, err
		}
	}
	if cfg.Stream > 0 {
		st, err := stream(ctx, t, sim, cfg, out)
		if err != nil {
			return res, err
		}
		res.Stream = &st
	}
	report(out, res)
	return res, nil
}

// makePools deletes earlier runs' pools and creates cfg.Pools without versions: the briefs
// planned once, each copy varied in size, ranking, market and pins.
func makePools(ctx context.Context, t Target, cfg Config) (int, error) {
	if _, err := t.DB.Exec(ctx, `DELETE FROM pools WHERE starts_with(name, $1)`, namePrefix); err != nil {
		return 0, err
	}
	var bases []selection.PlanResponse
	for _, sc := range scenariobench.Scenarios {
		pr, err := t.Service.PlanScenario(ctx, sc.Text, "")
		if err != nil {
			return 0, fmt.Errorf("plan %q: %w", sc.Text, err)
		}
		bases = append(bases, pr)
	}
	var pins []int64
	if err := t.DB.QueryRow(ctx, `SELECT array_agg(id) FROM (SELECT id FROM skus WHERE live ORDER BY sales_7d DESC LIMIT 200) s`).Scan(&pins); err != nil {
		return 0, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9001))
	sizes := []int{50, 100, 100, 200, 200, 500, 1000, 2000, 5000}
	rankings := []string{selection.SortRelevance, selection.SortSales, selection.SortNewest, selection.SortPriceAsc}
	markets := []string{"", "", "SG", "MY", "TH", "VN", "ID", "PH"}
	rows := make([][]any, 0, cfg.Pools)
	for i := 0; i < cfg.Pools; i++ {
		base := bases[i%len(bases)]
		plan := base.Plan
		plan.Limit = sizes[rng.IntN(len(sizes))]
		if plan.Query != "" && rng.IntN(3) == 0 {
			plan.Ranking = selection.Ranking{By: rankings[rng.IntN(len(rankings))]}
		}
		if m := markets[rng.IntN(len(markets))]; m != "" {
			f := filter.Attr("market", m)
			if plan.Filter != nil {
				f = filter.And(*plan.Filter, f)
			}
			plan.Filter = &f
		}
		if rng.IntN(5) == 0 {
			plan.Pins = nil
			for range 1 + rng.IntN(5) {
				plan.Pins = append(plan.Pins, pins[rng.IntN(len(pins))])
			}
		}
		if err := plan.Validate(); err != nil {
			return 0, fmt.Errorf("pool %d: %w", i, err)
		}
		raw, err := json.Marshal(plan)
		if err != nil {
			return 0, err
		}
		rows = append(rows, []any{fmt.Sprintf("%s%d", namePrefix, i), base.Plan.Query, raw,
			append([]int64{}, plan.Pins...), append([]int64{}, plan.Exclusions...)})
	}
	_, err := t.DB.CopyFrom(ctx, pgx.Identifier{"pools"}, []string{"name", "scenario", "plan", "pins", "exclusions"}, pgx.CopyFromRows(rows))
	if err != nil {
		return 0, fmt.Errorf("create pools: %w", err)
	}
	return len(rows), nil
}

// pass times one RefreshAll and what it wrote.
func pass(ctx context.Context, t Target, name string, changed int) (Pass, error) {
	p := Pass{Name: name, Changed: changed}
	before, _, err := storedBytes(ctx, t.DB)
	if err != nil {
		return p, err
	}
	u0 := cpuTimes()
	gc0, n0, a0 := gcTimes()
	t0 := time.Now()
	outs, err := t.Service.RefreshAll(ctx)
	p.Took = time.Since(t0)
	u1 := cpuTimes()
	gc1, n1, a1 := gcTimes()
	p.OwnCPU, p.SysCPU, p.Faults, p.MachineCPU = u1.own-u0.own, u1.sys-u0.sys, u1.faults-u0.faults, u1.machine-u0.machine
	p.GCCPU, p.GCs, p.Allocated = gc1-gc0, n1-n0, a1-a0
	if err != nil {
		return p, err
	}
	kinds, err := planKinds(ctx, t.DB)
	if err != nil {
		return p, err
	}
	p.Triggers, p.Unchanged, p.Kinds = map[string]int{}, map[string]int{}, map[string][2]int{}
	for _, o := range outs {
		if o.Trigger != "" {
			p.Triggers[o.Trigger]++
			key := kinds[o.PoolID] + ": " + o.Trigger
			k := p.Kinds[key]
			k[0]++
			if !o.Changed {
				p.Unchanged[o.Trigger]++
				k[1]++
			}
			p.Kinds[key] = k
		}
		switch {
		case o.Changed:
			p.Written++
		case o.Skipped:
			p.Skip++
		default:
			p.Confirmed++
		}
	}
	var pools int
	if err := t.DB.QueryRow(ctx, `SELECT count(*) FROM pools WHERE starts_with(name, $1)`, namePrefix).Scan(&pools); err != nil {
		return p, err
	}
	p.Failed = pools - len(outs)
	after, fullRow, err := storedBytes(ctx, t.DB)
	if err != nil {
		return p, err
	}
	p.FullRowBytes = fullRow
	if err := t.DB.QueryRow(ctx, `SELECT pg_total_relation_size('pool_versions')`).Scan(&p.StoreBytes); err != nil {
		return p, err
	}
	p.VersionBytes = after - before
	return p, nil
}

// vacuum vacuums and analyzes the tables a pass writes.
func vacuum(ctx context.Context, db *pgxpool.Pool) (time.Duration, error) {
	t0 := time.Now()
	if _, err := db.Exec(ctx, `VACUUM ANALYZE pool_versions, pools`); err != nil {
		return 0, fmt.Errorf("vacuum: %w", err)
	}
	return time.Since(t0), nil
}

// settle vacuums, outside the timing, what a pass wrote, so that autovacuum does not do it
// during the next timed pass (the full pass's 6,000 inserts and an incremental pass's confirms
// and deltas each cross its thresholds: it ran during the next pass and took a third more of
// the machine's CPU). Under the stream it runs as it would in serve.
func settle(ctx context.Context, db *pgxpool.Pool, out io.Writer) error {
	took, err := vacuum(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  (pool_versions and pools vacuumed after the pass, untimed: %s)\n", took.Round(time.Millisecond))
	return nil
}

// planKinds is each bench pool's kind of plan: what ranks it (the ranking's field, "+query"
// when it has a query, "+types" when it has an intent's types).
func planKinds(ctx context.Context, db *pgxpool.Pool) (map[int64]string, error) {
	rows, err := db.Query(ctx, `SELECT id, plan FROM pools WHERE starts_with(name, $1)`, namePrefix)
	if err != nil {
		return nil, err
	}
	kinds := map[int64]string{}
	for rows.Next() {
		var id int64
		var plan selection.Plan
		if err := rows.Scan(&id, &plan); err != nil {
			return nil, err
		}
		k := plan.Ranking.By
		if strings.TrimSpace(plan.Query) != "" {
			k += "+query"
		}
		if plan.Intent != nil && len(plan.Intent.Types) > 0 {
			k += "+types"
		}
		kinds[id] = k
	}
	return kinds, rows.Err()
}

// storedBytes is what pool_versions holds, as Postgres stores each value (compressed, TOAST
// included, dead rows not), and the mean of a full version row.
func storedBytes(ctx context.Context, db *pgxpool.Pool) (total, fullRow int64, err error) {
	err = db.QueryRow(ctx, `SELECT coalesce(sum(b), 0)::bigint, coalesce(avg(b) FILTER (WHERE full_row), 0)::bigint FROM (
		SELECT pg_column_size(members) + pg_column_size(ranking) + pg_column_size(scores) + pg_column_size(plan)
			+ coalesce(pg_column_size(delta), 0) AS b, delta IS NULL AS full_row FROM pool_versions) v`).Scan(&total, &fullRow)
	return total, fullRow, err
}

// applyChanges writes k simulated events through ingest's apply path, 5,000 a transaction, and
// returns when the last batch committed.
func applyChanges(ctx context.Context, db *pgxpool.Pool, sim *ingest.Simulator, k int) (time.Time, error) {
	var last time.Time
	// The simulator numbers its events per run only when started: this run's ids are its own,
	// or a second run's events would be duplicates of the first's (no-ops).
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	for done := 0; done < k; {
		var recs []ingest.Record
		for len(recs) < min(5000, k-done) {
			for _, r := range sim.Next(time.Now()) {
				d, err := ingest.DecodeEvent(r.Value, ingest.DecodeOptions{})
				if err != nil {
					return last, fmt.Errorf("simulated event: %w", err)
				}
				d.EventID = "bench-" + run + "-" + d.EventID
				recs = append(recs, ingest.Record{Source: "bench:" + d.EventID, Event: d, Partition: -1, Offset: -1})
			}
		}
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			_, err := ingest.ApplyBatch(ctx, tx, ingest.TierRealtime, recs)
			return err
		})
		if err != nil {
			return last, fmt.Errorf("apply changes: %w", err)
		}
		last = time.Now()
		done += len(recs)
	}
	return last, nil
}

// waitFollowers waits until the service's indexes reflect every event written so far.
func waitFollowers(ctx context.Context, t Target) error {
	var seq int64
	if err := t.DB.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM sku_events`).Scan(&seq); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Minute)
	for t.Position().EventSeq < seq {
		if time.Now().After(deadline) {
			return errors.New("the indexes did not catch up with the changes in 10 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// report prints the passes and the last line.
func report(out io.Writer, r Result) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "pass\tchanged SKUs\tseconds\tCPU s (own, sys, machine)\tfaults k\tGC s (cycles)\talloc GB\twritten\tconfirmed\tskipped\tfailed\tbytes stored\tper version\tfull row\tshare\ttable bytes\tfreshness s\t")
	for _, p := range r.Passes {
		per := int64(0)
		if p.Written > 0 {
			per = p.VersionBytes / int64(p.Written)
		}
		share := 0.0
		if p.FullRowBytes > 0 {
			share = float64(per) / float64(p.FullRowBytes)
		}
		fmt.Fprintf(w, "%s\t%d\t%.2f\t%.1f, %.1f, %.1f\t%d\t%.1f (%d)\t%.2f\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.3f\t%d\t%.2f\t\n", strings.SplitN(p.Name, " ", 2)[0], p.Changed, p.Took.Seconds(),
			p.OwnCPU.Seconds(), p.SysCPU.Seconds(), p.MachineCPU.Seconds(), p.Faults/1000, p.GCCPU.Seconds(), p.GCs, float64(p.Allocated)/1e9, p.Written, p.Confirmed, p.Skip, p.Failed, p.VersionBytes, per, p.FullRowBytes, share, p.StoreBytes, p.Freshness.Seconds())
	}
	w.Flush()
	full := r.Passes[0]
	incr10k := find(r.Passes, 10_000)
	bpv := int64(0)
	fresh := 0.0
	for _, p := range r.Passes[1:] {
		if p.Written > 0 {
			bpv = max(bpv, p.VersionBytes/int64(p.Written))
		}
		fresh = max(fresh, p.Freshness.Seconds())
	}
	if r.Stream != nil {
		fresh = r.Stream.P99.Seconds()
	}
	fmt.Fprintf(out, "pools skus=%d pools=%d full_s=%.2f incr_10k_s=%.2f freshness_p99_s=%.2f bytes_per_version=%d\n",
		r.SKUs, r.Pools, full.Took.Seconds(), incr10k, fresh, bpv)
}

// usage is this process's CPU time (user and system) and the part of it the kernel's, its
// minor page faults, and the machine's busy time over all cores (/proc/stat: every state but
// idle and iowait; 0 where there is none).
type usage struct {
	own, sys, machine time.Duration
	faults            int64
}

func cpuTimes() (u usage) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.own = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		u.sys = time.Duration(ru.Stime.Nano())
		u.faults = ru.Minflt
	}
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return u
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return u
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return u
		}
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is counted in user already
			busy += n
		}
	}
	u.machine = time.Duration(busy) * (time.Second / 100) // USER_HZ: 100 on Linux
	return u
}

// gcTimes is the garbage collector's CPU time so far, how many collections have ended, and
// the bytes allocated on the heap.
func gcTimes() (time.Duration, uint32, uint64) {
	samples := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(samples)
	var cpu time.Duration
	var n uint32
	if samples[0].Value.Kind() == metrics.KindFloat64 {
		cpu = time.Duration(samples[0].Value.Float64() * float64(time.Second))
	}
	if samples[1].Value.Kind() == metrics.KindUint64 {
		n = uint32(samples[1].Value.Uint64())
	}
	var alloc uint64
	if samples[2].Value.Kind() == metrics.KindUint64 {
		alloc = samples[2].Value.Uint64()
	}
	return cpu, n, alloc
}

func find(ps []Pass, changed int) float64 {
	i := slices.IndexFunc(ps, func(p Pass) bool { return p.Changed == changed })
	if i < 0 {
		return -1
	}
	return ps[i].Took.Seconds()
}

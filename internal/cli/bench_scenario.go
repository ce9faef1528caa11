package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/embed"
	"selection/ingest"
	"selection/internal/bench/scenariobench"
	"selection/internal/core"
	"selection/internal/pg"
)

func init() {
	registerBench(&command{name: "scenario",
		usage:   "bench scenario [--skus 1000000] [--runs 20] [--warmup 2] [--baseline-runs N] [--reload] [--cpuprofile FILE] [--only NAME]",
		summary: "scenario to pool end to end (plan, filter, search, rank, write a version) on Icecat plus synthetic variants, vs Postgres alone",
		run:     runBenchScenario})
}

type benchScenarioOpts struct {
	data         scenariobench.DataConfig
	run          scenariobench.RunConfig
	reload       bool
	icecat       string
	baselineRuns int
}

func runBenchScenario(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench scenario")
	var o benchScenarioOpts
	fs.IntVar(&o.data.SKUs, "skus", 1_000_000, "catalogue size: the 19,406 Icecat products plus synthetic variants")
	fs.Float64Var(&o.data.Noise, "noise", 0.01, "standard deviation per dimension of the noise added to a variant's vector")
	fs.Uint64Var(&o.data.Seed, "seed", 1, "random seed of the synthetic variants")
	fs.StringVar(&o.data.Schema, "schema", "", "schema holding the data set (default bench_scenario_<skus>)")
	fs.BoolVar(&o.reload, "reload", false, "drop and rebuild the data set even if the schema holds it")
	fs.StringVar(&o.icecat, "icecat", "", "directory of the Icecat catalogue (default: SELECTION_DEMO_DATA, evals/testdata/icecat above the working directory, /work/shared/data/icecat)")
	fs.IntVar(&o.run.Runs, "runs", 20, "timed runs per scenario")
	fs.IntVar(&o.run.Warmup, "warmup", 2, "untimed runs per scenario first")
	fs.IntVar(&o.baselineRuns, "baseline-runs", -1, "runs per scenario answered by Postgres alone (-1: 5 up to 100,000 SKUs, 1 above; 0: none)")
	fs.StringVar(&o.run.CPUProfile, "cpuprofile", "", "write a CPU profile of the timed runs to this file")
	fs.StringVar(&o.run.Only, "only", "", "run only the scenarios whose names contain this")
	fs.BoolVar(&o.run.Rules, "rules", false, "also time every scenario with three boost/bury rules and two slots in its plan, interleaved, and report both")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	o.data = o.data.WithDefaults()
	if err := o.data.Validate(); err != nil {
		return usageErr("%v", err)
	}
	if o.run.Runs < 1 || o.run.Warmup < 1 || o.baselineRuns < -1 {
		return usageErr("need --runs >= 1, --warmup >= 1, --baseline-runs >= -1")
	}
	o.run.BaselineRuns = o.baselineRuns
	if o.baselineRuns == -1 {
		o.run.BaselineRuns = 5
		if o.data.SKUs > 100_000 {
			o.run.BaselineRuns = 1
		}
	}
	return benchScenario(ctx, env, o)
}

// icecatDir finds the Icecat catalogue.
func icecatDir(flag, demo string) (string, error) {
	cands := []string{flag}
	if flag == "" {
		cands = []string{demo}
		if wd, err := os.Getwd(); err == nil {
			for d := wd; ; d = filepath.Dir(d) {
				if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
					cands = append(cands, filepath.Join(d, "evals", "testdata", "icecat"))
					break
				}
				if filepath.Dir(d) == d {
					break
				}
			}
		}
		cands = append(cands, "/work/shared/data/icecat")
	}
	for _, d := range cands {
		if files, err := ingest.IcecatFiles(d); err == nil && len(files) > 0 {
			return d, nil
		}
	}
	return "", fmt.Errorf("no Icecat catalogue (products_*.json.zip) in %s; name it with --icecat", strings.Join(cands, ", "))
}

func benchScenario(ctx context.Context, env *Env, o benchScenarioOpts) error {
	return onBenchStack(ctx, env, o.data, o.reload, o.icecat, func(st *benchStack, _ *pgxpool.Pool) error {
		w := env.Stdout
		fmt.Fprintf(w, "running %d scenarios: %d warm-up and %d timed runs each, %d baseline runs each (GOMAXPROCS %d)\n",
			len(scenariobench.Scenarios), o.run.Warmup, o.run.Runs, o.run.BaselineRuns, runtime.GOMAXPROCS(0))
		_, err := scenariobench.Run(ctx, st.target, o.run, w)
		return err
	})
}

// onBenchStack runs fn over the bench data set (openBenchData) with the service core started
// on it as serve starts it (startBenchStack), and stops the core after.
func onBenchStack(ctx context.Context, env *Env, data scenariobench.DataConfig, reload bool, icecat string, fn func(*benchStack, *pgxpool.Pool) error) error {
	pool, fresh, err := openBenchData(ctx, env, data, reload, icecat)
	if err != nil {
		return err
	}
	defer pool.Close()
	st, err := startBenchStack(ctx, env, pool, fresh, env.Stdout)
	if st != nil {
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), env.Config.ShutdownWait)
			defer cancel()
			if err := st.stop(sctx); err != nil {
				env.Log.Warn("stop", "err", err)
			}
		}()
	}
	if err != nil {
		return err
	}
	return fn(st, pool)
}

// openBenchData connects to the bench data set's schema, building it first when it is not there
// (or reload), and migrating it when it is. fresh reports a data set built now.
func openBenchData(ctx context.Context, env *Env, data scenariobench.DataConfig, reload bool, icecat string) (*pgxpool.Pool, bool, error) {
	w := env.Stdout
	admin, err := env.Connect(ctx)
	if err != nil {
		return nil, false, err
	}
	defer admin.Close()
	fresh, info, err := scenariobench.EnsureSchema(ctx, admin, data, reload)
	if err != nil {
		return nil, false, err
	}
	pool, err := pg.Connect(ctx, pg.Config{URL: env.Config.DatabaseURL, SearchPath: fmt.Sprintf("%q, public", data.Schema)})
	if err != nil {
		return nil, false, err
	}
	if err := loadBenchData(ctx, env, pool, data, fresh, info, icecat, w); err != nil {
		pool.Close()
		return nil, false, err
	}
	return pool, fresh, nil
}

func loadBenchData(ctx context.Context, env *Env, pool *pgxpool.Pool, data scenariobench.DataConfig, fresh bool, info, icecat string, w io.Writer) error {
	if !fresh {
		fmt.Fprintf(w, "reusing the data set in schema %s (%d SKUs, %s; --reload rebuilds it)\n", data.Schema, data.SKUs, info)
		// Migrations written since the data set was built apply to it like to any database.
		if err := scenariobench.Migrate(ctx, pool); err != nil {
			return fmt.Errorf("migrate the bench schema (or run with --reload): %w", err)
		}
		return nil
	}
	dir, err := icecatDir(icecat, env.Config.Demo.Data)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "building the data set in schema %s: %d SKUs (%d Icecat + %d synthetic variants, vector noise %g, seed %d), once; later runs reuse it (--reload rebuilds)\n",
		data.Schema, data.SKUs, scenariobench.IcecatCount, data.SKUs-scenariobench.IcecatCount, data.Noise, data.Seed)
	start := time.Now()
	if err := scenariobench.Migrate(ctx, pool); err != nil {
		return err
	}
	pool.Reset() // the vector type exists now: new connections register it
	emb, err := newEmbedder(ctx, env, pool)
	if err != nil {
		return err
	}
	ld := &scenariobench.Loader{Pool: pool, Config: data, IcecatDir: dir, Embedder: emb, Log: env.Log, Out: w}
	if _, err := ld.Load(ctx); err != nil {
		return err
	}
	if err := scenariobench.MarkDone(ctx, pool, time.Since(start)); err != nil {
		return err
	}
	fmt.Fprintf(w, "data set built in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// benchStack is the part of serve's stack a scenario-to-pool pass uses.
type benchStack struct {
	target scenariobench.Target
	core   *core.Core
}

func (s *benchStack) stop(ctx context.Context) error {
	if s.core == nil {
		return nil
	}
	return s.core.Stop(ctx)
}

// startBenchStack builds the core with serve's constructor and settings (core.New: in-memory
// vector index, lexical index and follower, search engine, tagger, selection.Service), each
// part timed; the parts a pass does not use (API, Kafka consumer, embedding worker, pool
// refresher) are left out. The pollers run, as in serve. On a fresh data set it defines the
// bench's rule tags, which saves the tag index to tag_bitmaps, so later runs load that
// snapshot as serve would.
func startBenchStack(ctx context.Context, env *Env, pool *pgxpool.Pool, fresh bool, w io.Writer) (*benchStack, error) {
	s := &benchStack{}
	fmt.Fprintln(w, "building the in-memory indexes as serve does:")
	step := func(name string, took time.Duration, note string) {
		fmt.Fprintf(w, "  %-44s %8.1f s  %s\n", name, took.Seconds(), note)
	}
	t0 := time.Now()
	emb, err := newEmbedder(ctx, env, pool)
	if err != nil {
		return s, err
	}
	step("embedder", time.Since(t0), strings.TrimSpace(emb.Name()+" "+embed.Kernel(emb)))
	llm, err := newLLM(env.Config.Serve)
	if err != nil {
		return s, err
	}
	cfg, err := coreConfig(env, llm)
	if err != nil {
		return s, err
	}
	cfg.EmbedBatch = 0 // the data set's vectors are written
	cfg.Step = step
	if s.core, err = core.New(ctx, pool, emb, cfg); err != nil {
		return s, err
	}
	if s.core.Index == nil {
		return s, errors.New("bench scenario measures the in-memory index: raise SELECTION_VECTOR_MEMORY until the vectors fit")
	}
	t0 = time.Now()
	made, err := core.DefineMissing(ctx, s.core.Tags, scenariobench.BenchTags)
	if err != nil {
		return s, err
	}
	if made > 0 || fresh {
		step("rule tags defined, tag index saved", time.Since(t0), fmt.Sprintf("%d tags", made))
	}
	if s.core.TagsFrom == "skus" {
		// Built from skus (no snapshot, or one of another product-type model): saved, so that
		// the next run loads it instead of building again.
		t0 = time.Now()
		if _, err := s.core.Tags.Save(ctx); err != nil {
			return s, err
		}
		step("tag index saved", time.Since(t0), "for the next run")
	}
	s.target = scenariobench.Target{Service: s.core.Service, Index: s.core.Tags.Index(), Vectors: s.core.Index, Embedder: emb, DB: pool}
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var vecBytes int64
	if s.core.Index != nil {
		vecBytes = s.core.Index.Stats().Bytes
	}
	fmt.Fprintf(w, "  heap after the build: %.2f GiB in use (%.2f GiB of it the vector index)\n",
		float64(ms.HeapInuse)/(1<<30), float64(vecBytes)/(1<<30))
	return s, nil
}

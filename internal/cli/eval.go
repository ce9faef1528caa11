package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/embed"
	"selection/evals"
	"selection/ingest"
	"selection/migrations"
	"selection/search"
	"selection/selection"
)

func init() {
	register(&command{name: "eval",
		usage:   "eval --judgments FILE [--per-query] [--json] [--catalog DIR] [--alternatives] | eval --scenarios FILE [--limit 1000] [--json]",
		summary: "measure retrieval quality (nDCG@10, recall@50, MRR) of every method on a judgments file, or pool membership (precision, recall, F1) on scenario judgments",
		run:     runEval})
}

// defaultCatalogDir is where the Icecat catalogue the public judgments refer to lives in the
// repository.
const defaultCatalogDir = "evals/testdata/icecat"

func runEval(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "eval")
	judgments := fs.String("judgments", "", "CSV file with the header query,docid,rating (ratings 0..3)")
	scenarios := fs.String("scenarios", "", "CSV file with the header scenario,sku_id: the SKUs that belong in each scenario's pool")
	limit := fs.Int("limit", 1000, "with --scenarios: the pool size asked for")
	perQuery := fs.Bool("per-query", false, "add a row per query and method")
	asJSON := fs.Bool("json", false, `print one JSON object: {"default": ..., "methods": {...}}`)
	catalogDir := fs.String("catalog", defaultCatalogDir, "Icecat products_*.json.zip to load when judged products are missing from the catalogue")
	alternatives := fs.Bool("alternatives", false, "also measure the fusions the default was chosen against and Postgres ts_rank (search engine directly, not the scenario path; ts_rank takes about a minute)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *scenarios != "" {
		if *judgments != "" {
			return usageErr("give --judgments or --scenarios, not both")
		}
		return runEvalPools(ctx, env, *scenarios, *catalogDir, *limit, *asJSON)
	}
	if *judgments == "" {
		return usageErr("--judgments or --scenarios is required")
	}
	j, bad, err := evals.ReadJudgmentsFile(*judgments)
	if err != nil {
		return err
	}
	for _, b := range bad {
		fmt.Fprintf(env.Stderr, "%s: %v (row skipped)\n", *judgments, b)
	}
	if len(j.Queries) == 0 {
		return fmt.Errorf("%s: no usable judgments", *judgments)
	}
	st, pool, err := evalStack(ctx, env, j, *catalogDir)
	if err != nil {
		return err
	}
	defer pool.Close()

	var methods []evals.Method
	for _, m := range search.Methods {
		methods = append(methods, st.Scenario.Method(m))
	}
	if *alternatives {
		methods = append(methods, evals.RRF(st, 1), evals.RRF(st, 0.2), evals.ScoreFusion(st, 0.2), evals.PostgresTSRank(pool))
	}
	rep, err := evals.Evaluate(ctx, j, methods, string(search.Default))
	if err != nil {
		return err
	}
	if *asJSON {
		return rep.WriteJSON(env.Stdout, *perQuery)
	}
	fmt.Fprintf(env.Stdout, "%s: %d queries, %d judgments; hybrid, lexical and semantic through the scenario path (planner, filter, search)",
		filepath.Base(*judgments), len(j.Queries), j.Len())
	if *alternatives {
		fmt.Fprint(env.Stdout, "; the alternatives over the same indexes directly")
	}
	fmt.Fprint(env.Stdout, "\n\n")
	return rep.WriteTable(env.Stdout, *perQuery)
}

// evalStack connects, makes sure the judged products are loaded and embedded, and builds the
// evaluation stack; progress goes to stderr so that stdout holds the table or the JSON alone.
func evalStack(ctx context.Context, env *Env, j *evals.Judgments, catalogDir string) (*evals.Stack, *pgxpool.Pool, error) {
	progress := env.Stderr
	pool, err := env.Connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*evals.Stack, *pgxpool.Pool, error) {
		pool.Close()
		return nil, nil, err
	}
	if err := ensureCatalogue(ctx, env, pool, j, catalogDir, progress); err != nil {
		return fail(err)
	}
	emb, err := newEmbedder(ctx, env, pool)
	if err != nil {
		return fail(err)
	}
	if _, err := drainEmbedQueue(ctx, env, pool, emb, env.Config.Vectors.EmbedBatch, progress); err != nil {
		return fail(fmt.Errorf("embed the catalogue: %w", err))
	}
	start := time.Now()
	st, err := evals.NewStack(ctx, pool, embed.NewQueryMemo(emb, 0), search.Config{})
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(progress, "indexes loaded in %s: %d products (lexical), %d vectors\n",
		time.Since(start).Round(time.Millisecond), st.Lexical.Len(), st.Vectors.Len())
	return st, pool, nil
}

// ensureCatalogue makes sure the judged products are in the catalogue: it migrates the schema
// (a no-op when current) and, when judged products are missing, loads the Icecat files of dir
// through the ingest path (events already applied are duplicates, so a partial earlier load
// is completed, not repeated).
func ensureCatalogue(ctx context.Context, env *Env, pool *pgxpool.Pool, j *evals.Judgments, dir string, out io.Writer) error {
	res, err := migrations.Apply(ctx, pool)
	if err != nil {
		return err
	}
	for _, r := range res {
		fmt.Fprintf(out, "applied migration %s\n", r.Source.Path)
	}
	missing, total, err := missingJudged(ctx, pool, j)
	if err != nil {
		return err
	}
	if missing == 0 {
		fmt.Fprintf(out, "catalogue holds all %d judged products\n", total)
		return nil
	}
	files, err := ingest.IcecatFiles(dir)
	if err != nil || len(files) == 0 {
		if err == nil {
			err = errors.New("no products_*.json.zip there")
		}
		return fmt.Errorf("%d of %d judged products are not in the catalogue, and the Icecat files cannot be loaded from %s (%v); pass --catalog DIR", missing, total, dir, err)
	}
	fmt.Fprintf(out, "%d of %d judged products are not in the catalogue: loading %s\n", missing, total, dir)
	w, err := ingest.NewWriter(pool, ingest.WriterConfig{Logger: env.Log, MaxAttempts: 5})
	if err != nil {
		return err
	}
	for _, f := range files {
		r, err := ingest.LoadFile(ctx, w, f, ingest.LoadConfig{})
		if err != nil {
			return fmt.Errorf("load %s: %w", f, err)
		}
		fmt.Fprintf(out, "loaded %s: %d records, %d applied, %d already there, %d dead letters\n",
			filepath.Base(f), r.Records, r.Applied, r.Duplicates, r.DeadLetters)
	}
	if missing, total, err = missingJudged(ctx, pool, j); err != nil {
		return err
	}
	if missing > 0 {
		fmt.Fprintf(out, "warning: %d of %d judged products are still missing; they count as not found\n", missing, total)
	}
	return nil
}

func missingJudged(ctx context.Context, pool *pgxpool.Pool, j *evals.Judgments) (missing, total int, err error) {
	seen := map[int64]bool{}
	for _, r := range j.Ratings {
		for id := range r {
			seen[id] = true
		}
	}
	ids := make([]int64, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	var present int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM skus WHERE id = ANY($1) AND live`, ids).Scan(&present); err != nil {
		return 0, 0, fmt.Errorf("count judged products: %w", err)
	}
	return len(ids) - present, len(ids), nil
}

// runEvalPools scores the pools the service builds for judged scenarios.
func runEvalPools(ctx context.Context, env *Env, path, catalogDir string, limit int, asJSON bool) error {
	if limit < 1 || limit > selection.MaxLimit {
		return usageErr("--limit %d outside 1..%d", limit, selection.MaxLimit)
	}
	j, bad, err := evals.ReadPoolJudgmentsFile(path)
	if err != nil {
		return err
	}
	for _, b := range bad {
		fmt.Fprintf(env.Stderr, "%s: %v (row skipped)\n", path, b)
	}
	if len(j.Scenarios) == 0 {
		return fmt.Errorf("%s: no usable scenario judgments", path)
	}
	st, pool, err := evalStack(ctx, env, j.AsJudgments(), catalogDir)
	if err != nil {
		return err
	}
	defer pool.Close()
	// Pools are built as the service builds them: with the aliases SELECTION_JUDGED_QUERIES
	// teaches (keyword judgments are other data than the scenarios' members).
	aliases, err := judgedAliases(env)
	if err != nil {
		return err
	}
	st.Scenario.Intents = st.Intents.WithAliases(aliases)
	scores, err := evals.EvaluatePools(ctx, j, st.Scenario.Pools(), limit)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Macro     evals.PoolSummary `json:"macro"`
			Scenarios []evals.PoolScore `json:"scenarios"`
		}{evals.SummarizePools(scores), scores})
	}
	fmt.Fprintf(env.Stdout, "%s: %d scenarios; pools of up to %d SKUs through the scenario path (planner with product-type intents, filter, search)\n\n",
		filepath.Base(path), len(j.Scenarios), limit)
	return evals.WritePoolTable(env.Stdout, scores)
}

package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"selection/ingest"
	"selection/vectorindex"
)

func init() {
	register(&command{name: "load",
		usage:   "load [--tier batch|hourly|realtime] [--format auto|icecat|jsonl|csv] [--batch 2000] [--event-time RFC3339] FILE...",
		summary: "load batch files (Icecat JSON or zip, JSONL events, CSV) through the ingest apply path",
		run:     runLoad})
}

// runLoad loads the named files one after the other, each through the ingest writer in
// batches, showing its progress, then prints what each file and all of them did.
func runLoad(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "load")
	tierS := fs.String("tier", "batch", "freshness tier recorded in sku_events: batch, hourly or realtime")
	formatS := fs.String("format", "auto", "file format: auto (from the name), icecat, jsonl or csv")
	batch := fs.Int("batch", 2000, "records per transaction")
	atS := fs.String("event-time", "", "event time of Icecat products and CSV rows without one (default: the file's modification time)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tier, err := ingest.ParseTier(*tierS)
	if err != nil {
		return usageErr("%v", err)
	}
	format, err := ingest.ParseFormat(*formatS)
	if err != nil {
		return usageErr("%v", err)
	}
	var at time.Time
	if *atS != "" {
		if at, err = time.Parse(time.RFC3339Nano, *atS); err != nil {
			return usageErr("--event-time %q is not an RFC 3339 time", *atS)
		}
	}
	if fs.NArg() == 0 || *batch < 1 || *batch > 100000 {
		return usageErr("name at least one file; --batch between 1 and 100000")
	}
	pool, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	m := ingest.NewMetrics()
	w, err := ingest.NewWriter(pool, ingest.WriterConfig{Logger: env.Log, Metrics: m, MaxAttempts: 20})
	if err != nil {
		return err
	}
	out := env.Stdout
	var total ingest.LoadResult
	for _, path := range fs.Args() {
		cfg := ingest.LoadConfig{Tier: tier, Format: format, BatchSize: *batch, EventTime: at}
		bar := loadProgress(out, path, &cfg)
		res, err := ingest.LoadFile(ctx, w, path, cfg)
		if bar != nil {
			_ = bar.Finish()
		}
		if err != nil {
			return fmt.Errorf("%s: %w (batches before this point were committed; loading again skips them)", path, err)
		}
		fmt.Fprintf(out, "%s: %d records: %d applied, %d duplicates, %d dead letters, in %s (%.0f records/s)\n",
			path, res.Records, res.Applied, res.Duplicates, res.DeadLetters, res.Elapsed.Round(time.Millisecond),
			float64(res.Records)/max(res.Elapsed.Seconds(), 1e-9))
		total.Records += res.Records
		total.Applied += res.Applied
		total.Duplicates += res.Duplicates
		total.DeadLetters += res.DeadLetters
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(out, "total: %d records: %d applied, %d duplicates, %d dead letters\n",
			total.Records, total.Applied, total.Duplicates, total.DeadLetters)
	}
	if b, err := vectorindex.QueueBacklog(ctx, pool); err == nil && b.Count > 0 {
		fmt.Fprintf(out, "embedding backlog: %d SKUs (selection embed, or a running serve, embeds them)\n", b.Count)
	}
	return nil
}

// loadProgress sets cfg.Progress to show the loading of path on out: a progress bar, returned to
// be finished, when out is a terminal, else a line every 5 s (and a nil bar).
func loadProgress(out io.Writer, path string, cfg *ingest.LoadConfig) *progressbar.ProgressBar {
	if !outIsTerminal(out) {
		last := time.Now()
		cfg.Progress = func(p ingest.LoadProgress) {
			if time.Since(last) < 5*time.Second {
				return
			}
			last = time.Now()
			rate := float64(p.Bytes) / max(p.Elapsed.Seconds(), 1e-9)
			eta := "?"
			if rate > 0 && p.Total >= p.Bytes {
				eta = (time.Duration(float64(p.Total-p.Bytes)/rate) * time.Second).Round(time.Second).String()
			}
			fmt.Fprintf(out, "%s: %d%% %d records (%.0f/s), about %s left\n", path, 100*p.Bytes/max(p.Total, 1),
				p.Records, float64(p.Records)/max(p.Elapsed.Seconds(), 1e-9), eta)
		}
		return nil
	}
	bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(out), progressbar.OptionSetDescription(path),
		progressbar.OptionShowBytes(true), progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(out) }))
	cfg.Progress = func(p ingest.LoadProgress) {
		if p.Total > 0 && bar.GetMax64() != p.Total {
			bar.ChangeMax64(p.Total)
		}
		bar.Describe(fmt.Sprintf("%s: %d records, %.0f/s", path, p.Records, float64(p.Records)/max(p.Elapsed.Seconds(), 1e-9)))
		_ = bar.Set64(p.Bytes)
	}
	return bar
}

package cli

import (
	"context"
	"fmt"
	"time"

	"selection/ingest"
)

func init() {
	register(&command{name: "replay", usage: "replay [--from SEQ] [--batch 5000]",
		summary: "rebuild skus from the sku_events table (from SEQ: over a restored backup)",
		run:     runReplay})
}

func runReplay(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "replay")
	from := fs.Int64("from", 0, "first sku_events seq to re-apply; 0 resets every SKU with events and rebuilds it")
	batch := fs.Int("batch", 5000, "events per apply")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *from < 0 || *batch < 1 {
		return usageErr("--from >= 0, --batch >= 1, no arguments")
	}
	pool, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	out := env.Stdout
	last := time.Now()
	res, err := ingest.Replay(ctx, pool, ingest.ReplayConfig{From: *from, BatchSize: *batch,
		Progress: func(p ingest.ReplayProgress) {
			if time.Since(last) >= 2*time.Second {
				last = time.Now()
				fmt.Fprintf(out, "replayed to seq %d of %d (%d events, %.0f/s)\n", p.Seq, p.ToSeq, p.Events,
					float64(p.Events)/max(p.Elapsed.Seconds(), 1e-9))
			}
		}})
	if err != nil {
		return fmt.Errorf("%w (nothing was changed)", err)
	}
	if res.Events == 0 {
		fmt.Fprintln(out, "no events to replay")
		return nil
	}
	fmt.Fprintf(out, "replayed %d events (seq %d..%d) in %s: %d SKUs reset, %d re-created, %d stale events; embedding backlog %d\n",
		res.Events, res.FromSeq, res.ToSeq, res.Elapsed.Round(time.Millisecond), res.Reset, res.Recreated, res.Stale, res.QueuedEmbeds)
	return nil
}

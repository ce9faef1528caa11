package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"

	"selection/embed"
	"selection/vectorindex"
)

func init() {
	register(&command{name: "embed", usage: "embed [--batch N]",
		summary: "embed every SKU waiting in the embedding queue, once, with a progress bar", run: runEmbed})
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func runEmbed(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "embed")
	batch := fs.Int("batch", env.Config.Vectors.EmbedBatch, "SKUs per transaction (SELECTION_EMBED_BATCH)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	pool, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	e, err := newEmbedder(ctx, env, pool)
	if err != nil {
		return err
	}
	_, err = drainEmbedQueue(ctx, env, pool, e, *batch, env.Stdout)
	return err
}

// drainEmbedQueue embeds the whole backlog once, showing progress on out: a progress bar with
// rate and ETA when out is a terminal, a plain line every 5 s otherwise, and a summary line.
// `selection embed` and the demo use it.
func drainEmbedQueue(ctx context.Context, env *Env, pool *pgxpool.Pool, e embed.Embedder, batch int, out io.Writer) (vectorindex.DrainResult, error) {
	w, err := vectorindex.NewWorker(pool, e, nil, vectorindex.WorkerConfig{BatchSize: batch, Logger: env.Log})
	if err != nil {
		return vectorindex.DrainResult{}, err
	}
	b, err := vectorindex.QueueBacklog(ctx, pool)
	if err != nil {
		return vectorindex.DrainResult{}, err
	}
	if b.Count == 0 {
		fmt.Fprintln(out, "embedding queue is empty")
		return vectorindex.DrainResult{}, nil
	}
	fmt.Fprintf(out, "embedding %d SKUs with %s (oldest queued %s ago)\n", b.Count, e.Name(), b.OldestAge.Round(time.Second))
	var progress func(done, total int64)
	var bar *progressbar.ProgressBar
	if outIsTerminal(out) {
		bar = progressbar.NewOptions64(b.Count, progressbar.OptionSetWriter(out), progressbar.OptionSetDescription("embedding"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("SKUs"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(out) }))
		progress = func(done, total int64) {
			if total != bar.GetMax64() {
				bar.ChangeMax64(total)
			}
			_ = bar.Set64(done)
		}
	} else {
		start, last := time.Now(), time.Now()
		progress = func(done, total int64) {
			if time.Since(last) < 5*time.Second {
				return
			}
			last = time.Now()
			el := time.Since(start)
			rate := float64(done) / el.Seconds()
			eta := time.Duration(float64(total-done) / rate * float64(time.Second))
			fmt.Fprintf(out, "embedded %d/%d SKUs (%.0f/s, about %s left)\n", done, total, rate, eta.Round(time.Second))
		}
	}
	res, err := w.Drain(ctx, progress)
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return res, err
	}
	fmt.Fprintf(out, "embedded %d SKUs, removed %d vectors of deleted SKUs, %d refused, in %s (%.0f SKUs/s)\n",
		res.Embedded, res.Removed, res.Rejected, res.Elapsed.Round(time.Millisecond),
		float64(res.Embedded+res.Removed)/max(res.Elapsed.Seconds(), 1e-9))
	return res, nil
}

package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/ingest"
	"selection/vectorindex"
)

func init() {
	register(&command{name: "ingest", usage: "ingest [status] [--every 10s]",
		summary: "consume SKU events from Kafka into Postgres (the embedded broker when none is configured); status: counts and backlogs",
		run:     runIngest})
}

func runIngest(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && args[0] == "status" {
		if len(args) > 1 {
			return usageErr("ingest status takes no arguments")
		}
		pool, err := env.Connect(ctx)
		if err != nil {
			return err
		}
		defer pool.Close()
		return printIngestStatus(ctx, pool, env.Stdout)
	}
	fs := newFlags(env, "ingest")
	every := fs.Duration("every", 10*time.Second, "how often to print a progress line (0: never)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	pool, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	m := ingest.NewMetrics()
	r, err := startIngest(ctx, env, pool, m)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "consuming %s from %v as group %s; Ctrl-C stops\n", env.Config.Ingest.Topic, r.Brokers, env.Config.Ingest.Group)
	var tick <-chan time.Time
	if *every > 0 {
		t := time.NewTicker(*every)
		defer t.Stop()
		tick = t.C
	}
	var last ingest.MetricsSnapshot
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-r.Consumer.Done():
			done = true
		case <-tick:
			s := m.Snapshot()
			b, _ := vectorindex.QueueBacklog(ctx, pool)
			fmt.Fprintf(env.Stdout, "%s applied %d (+%d), duplicates %d, dead letters %d, batches %d, retries %d; embedding backlog %d (oldest %s)\n",
				time.Now().Format(time.TimeOnly), s.Applied, s.Applied-last.Applied, s.Duplicates, s.DeadLetters, s.Batches, s.Retries,
				b.Count, b.OldestAge.Round(time.Second))
			last = s
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), env.Config.ShutdownWait)
	defer cancel()
	err = r.Stop(sctx)
	s := m.Snapshot()
	fmt.Fprintf(env.Stdout, "stopped: applied %d, duplicates %d, dead letters %d in %d batches\n", s.Applied, s.Duplicates, s.DeadLetters, s.Batches)
	if err != nil {
		return err
	}
	return ctx.Err()
}

func printIngestStatus(ctx context.Context, pool *pgxpool.Pool, w io.Writer) error {
	rows, err := pool.Query(ctx, `SELECT tier, count(*), max(seq), max(applied_at) FROM sku_events GROUP BY tier ORDER BY tier`)
	if err != nil {
		return fmt.Errorf("ingest status: %w", err)
	}
	defer rows.Close()
	fmt.Fprintln(w, "sku_events by tier:")
	for rows.Next() {
		var tier string
		var n, seq int64
		var at time.Time
		if err := rows.Scan(&tier, &n, &seq, &at); err != nil {
			return fmt.Errorf("ingest status: %w", err)
		}
		fmt.Fprintf(w, "  %-8s %10d events, newest seq %d applied %s\n", tier, n, seq, at.Local().Format(time.DateTime))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ingest status: %w", err)
	}
	var dl, dl24 int64
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE created_at > now() - interval '24 hours') FROM dead_letters`).Scan(&dl, &dl24); err != nil {
		return fmt.Errorf("ingest status: %w", err)
	}
	fmt.Fprintf(w, "dead letters: %d (%d in the last 24 h)\n", dl, dl24)
	b, err := vectorindex.QueueBacklog(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "embedding backlog: %d SKUs, oldest queued %s ago\n", b.Count, b.OldestAge.Round(time.Second))
	return nil
}

package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"selection/ingest"
)

func init() {
	register(&command{name: "simulate",
		usage:   "simulate [--rate 200] [--seed 1] [--for 0] [--events 0] [--malformed 0.015] [--skus 0]",
		summary: "produce a live event stream (prices, orders, stock, views, new SKUs, deletions, some malformed records) for the loaded catalogue",
		run:     runSimulate})
}

func runSimulate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "simulate")
	rate := fs.Float64("rate", 200, "events per second")
	seed := fs.Uint64("seed", 1, "random seed: the same seed and catalogue give the same stream")
	dur := fs.Duration("for", 0, "stop after this long (0: until Ctrl-C)")
	events := fs.Int("events", 0, "stop after this many records (one more if the last is an order; 0: no limit)")
	malformed := fs.Float64("malformed", 0.015, "share of records broken on purpose (0 for none)")
	skus := fs.Int("skus", 0, "simulate only the first N SKUs by ordinal (0: all live SKUs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *rate <= 0 || *malformed < 0 || *malformed >= 1 || *events < 0 || *skus < 0 {
		return usageErr("--rate > 0, 0 <= --malformed < 1, no arguments")
	}
	pool, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	cat, err := ingest.LoadSimCatalogue(ctx, pool, *skus)
	if err != nil {
		return err
	}
	share := *malformed
	if share == 0 {
		share = -1 // none
	}
	brokers := kafkaBrokers(env.Config.Ingest)
	sim, err := ingest.NewSimulator(ingest.SimulatorConfig{Brokers: brokers, Topic: env.Config.Ingest.Topic, Catalogue: cat,
		Rate: *rate, Seed: *seed, MalformedShare: share, MaxEvents: *events, Logger: env.Log})
	if err != nil {
		return err
	}
	if err := sim.Start(ctx); err != nil {
		return fmt.Errorf("%w (no broker at %s? start `selection ingest` or `selection serve`, or set SELECTION_KAFKA_BROKERS)",
			err, strings.Join(brokers, ","))
	}
	fmt.Fprintf(env.Stdout, "simulating %d SKUs at %.0f events/s into %s on %s (seed %d); Ctrl-C stops\n",
		len(cat), *rate, env.Config.Ingest.Topic, strings.Join(brokers, ","), *seed)
	var timeout <-chan time.Time
	if *dur > 0 {
		t := time.NewTimer(*dur)
		defer t.Stop()
		timeout = t.C
	}
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-timeout:
			done = true
		case <-sim.Done():
			done = true
		case <-tick.C:
			fmt.Fprintf(env.Stdout, "produced %d\n", sim.Stats().Produced)
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err = sim.Stop(sctx)
	st := sim.Stats()
	kinds := make([]string, 0, len(st.ByKind))
	for k, n := range st.ByKind {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	fmt.Fprintf(env.Stdout, "produced %d records: %s\n", st.Produced, strings.Join(kinds, ", "))
	return err
}

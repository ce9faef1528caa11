package cli

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"selection/ingest"
	"selection/internal/poll"
)

// pruneEvery is how often, at most, the leader prunes pool versions after a refresh pass.
const pruneEvery = 10 * time.Minute

// leaderLease names the leader's lease (pg.Lease): one replica of a database holds it, runs
// the pool refresher and votes on product types (tagger.Config.Leader).
const leaderLease = "leader"

// startLeader keeps the leader's lease and runs the pool refresher under it, so that of
// several replicas on one database exactly one refreshes pools and votes on types. Every
// SELECTION_POOL_REFRESH_TAKEOVER (or SELECTION_POOL_REFRESH, when shorter) the loop makes
// sure of the lease: a replica without it tries to take it, the holder checks it still holds
// it. The holder refreshes every SELECTION_POOL_REFRESH (never when that is off), and at once
// when it has just taken the lease (its predecessor may have died before its turn).
// selection_pool_refresh_leader says which replica holds it.
func (s *stack) startLeader(ctx context.Context) {
	cfg := s.env.Config.Serve
	refreshed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "selection_pool_refreshes_total",
		Help: "Pool refreshes by outcome (changed, unchanged, skipped)."}, []string{"outcome"})
	_ = s.registry.Register(refreshed)
	leader := prometheus.NewGauge(prometheus.GaugeOpts{Name: "selection_pool_refresh_leader",
		Help: "1 while this replica holds the leader's lease (a Postgres advisory lock): it runs the pool refresher and votes on product types; else 0."})
	_ = s.registry.Register(leader)
	passSeconds := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "selection_pool_refresh_pass_seconds",
		Help:    "Duration of a refresh pass over every active pool (the leader's).",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 15)})
	_ = s.registry.Register(passSeconds)
	lagSeconds := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "selection_pool_refresh_lag_seconds",
		Help:    "Per pool and pass: how long ago its version had last been checked when the pass took it up.",
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 14)})
	_ = s.registry.Register(lagSeconds)
	every := cfg.RefreshTakeover
	if cfg.PoolRefresh > 0 {
		every = min(cfg.PoolRefresh, cfg.RefreshTakeover)
	}
	s.refresher.Name, s.refresher.Every, s.refresher.Logger = "leader", every, s.env.Log
	s.refresher.MaxRetry = max(every, poll.TailRetryMax) // while the database is away
	var last, lastPrune time.Time                        // end of the last refresh, the last prune
	s.refresher.Start(context.WithoutCancel(ctx), func(ctx context.Context) error {
		held, changed, err := s.lease.Hold(ctx)
		switch {
		case changed && held:
			s.env.Log.Info("leader: this replica took the lease; it runs the pool refresher and votes on product types")
		case changed && ctx.Err() == nil: // not the loop's own stop
			s.env.Log.Warn("leader: this replica lost the lease; it stops refreshing and voting", "err", err)
		}
		if held {
			leader.Set(1)
		} else {
			leader.Set(0)
		}
		if err != nil || !held || cfg.PoolRefresh <= 0 || (!changed && time.Since(last) < cfg.PoolRefresh) {
			return err
		}
		began := time.Now()
		outs, err := s.core.Service.RefreshAll(ctx)
		last = time.Now()
		passSeconds.Observe(last.Sub(began).Seconds())
		if err == nil {
			s.passes.Add(1)
		}
		if time.Since(lastPrune) >= pruneEvery {
			lastPrune = time.Now()
			n, perr := s.core.Service.Pools.Prune(ctx, cfg.VersionRetention)
			if perr != nil {
				err = errors.Join(err, perr)
			} else if n > 0 {
				s.env.Log.Info("pool versions pruned", "deleted", n, "keep", cfg.VersionRetention.Keep, "keep_for", cfg.VersionRetention.KeepFor)
			}
			ev, dl, perr := ingest.PruneEvents(ctx, s.core.Pool, cfg.EventRetention)
			if perr != nil {
				err = errors.Join(err, perr)
			} else if ev+dl > 0 {
				s.env.Log.Info("events pruned", "sku_events", ev, "dead_letters", dl, "keep_for", cfg.EventRetention.EventsFor)
			}
		}
		for _, o := range outs {
			if o.Lag > 0 {
				lagSeconds.Observe(o.Lag.Seconds())
			}
			switch {
			case o.Changed:
				refreshed.WithLabelValues("changed").Inc()
				attrs := []any{"pool", o.PoolID, "version", o.Version}
				if o.Diff != nil {
					attrs = append(attrs, "added", len(o.Diff.Added), "removed", len(o.Diff.Removed), "moved", len(o.Diff.Moved))
				}
				s.env.Log.Info("pool refreshed", attrs...)
			case o.Skipped:
				refreshed.WithLabelValues("skipped").Inc()
			default:
				refreshed.WithLabelValues("unchanged").Inc()
			}
		}
		return err
	})
}

// afterPass waits until the refresher ends a whole pass, or ctx ends: the service is then
// in the state a pass leaves (the filter journal released up to the pass's start).
func (s *stack) afterPass(ctx context.Context) error {
	n := s.passes.Load()
	for s.passes.Load() == n {
		if !poll.Sleep(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}

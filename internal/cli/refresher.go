package cli

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"selection/internal/pg"
	"selection/internal/poll"
)

// refreshLease names the pool refresher's lease (pg.Lease): one replica of a database holds
// it and runs the refresher.
const refreshLease = "pool refresh"

// startRefresher runs the pool refresher under a lease, so that of several replicas on one
// database exactly one refreshes pools. Every SELECTION_POOL_REFRESH_TAKEOVER (or
// SELECTION_POOL_REFRESH, when shorter) the loop makes sure of the lease: a replica without it
// tries to take it, the holder checks it still holds it. The holder refreshes every
// SELECTION_POOL_REFRESH, and at once when it has just taken the lease (its predecessor may
// have died before its turn). selection_pool_refresh_leader says which replica holds it.
func (s *stack) startRefresher(ctx context.Context) {
	cfg := s.env.Config.Serve
	refreshed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "selection_pool_refreshes_total",
		Help: "Pool refreshes by outcome (changed, unchanged, skipped)."}, []string{"outcome"})
	_ = s.registry.Register(refreshed)
	leader := prometheus.NewGauge(prometheus.GaugeOpts{Name: "selection_pool_refresh_leader",
		Help: "1 while this replica holds the pool refresher's lease (a Postgres advisory lock) and runs the refresher, else 0."})
	_ = s.registry.Register(leader)
	s.lease = pg.NewLease(s.pool, refreshLease)
	every := min(cfg.PoolRefresh, cfg.RefreshTakeover)
	s.refresher.Name, s.refresher.Every, s.refresher.Logger = "pool refresh", every, s.env.Log
	s.refresher.MaxRetry = max(every, poll.TailRetryMax) // while the database is away
	var last time.Time                                   // end of the last refresh
	s.refresher.Start(context.WithoutCancel(ctx), func(ctx context.Context) error {
		held, changed, err := s.lease.Hold(ctx)
		switch {
		case changed && held:
			s.env.Log.Info("pool refresh: this replica took the lease and runs the pool refresher")
		case changed && ctx.Err() == nil: // not the loop's own stop
			s.env.Log.Warn("pool refresh: this replica lost the lease and stops refreshing", "err", err)
		}
		if held {
			leader.Set(1)
		} else {
			leader.Set(0)
		}
		if err != nil || !held || (!changed && time.Since(last) < cfg.PoolRefresh) {
			return err
		}
		outs, err := s.core.Service.RefreshAll(ctx)
		last = time.Now()
		for _, o := range outs {
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

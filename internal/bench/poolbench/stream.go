package poolbench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"selection/ingest"
	"selection/selection"
)

// StreamResult is the live stream's figures: how many events were written (and at what rate
// the machine kept up), how many passes ran, each event's freshness (from its transaction's
// commit to the end of the first pass whose indexes reflected it) at p50, p99 and max, and what
// pool_versions and sku_events took before and after.
type StreamResult struct {
	Events, Passes      int
	Took                time.Duration
	P50, P99, Max       time.Duration
	VersionsBefore      int64
	VersionsAfter       int64
	EventsBefore        int64
	EventsAfter         int64
	LongestPass, Writes time.Duration
}

// batch is one transaction of the stream: when it committed, the newest event seq then, and
// how many events it held.
type batch struct {
	at  time.Time
	seq int64
	n   int
}

// stream writes cfg.Rate events a second for cfg.Stream while refresh passes run back to back.
func stream(ctx context.Context, t Target, sim *ingest.Simulator, cfg Config, out io.Writer) (StreamResult, error) {
	var r StreamResult
	sizes := func() (versions, events int64, err error) {
		err = t.DB.QueryRow(ctx, `SELECT pg_total_relation_size('pool_versions'), pg_total_relation_size('sku_events')`).Scan(&versions, &events)
		return
	}
	var err error
	if r.VersionsBefore, r.EventsBefore, err = sizes(); err != nil {
		return r, err
	}
	fmt.Fprintf(out, "live stream: %d events/s for %s while refresh passes run back to back\n", cfg.Rate, cfg.Stream)
	var mu sync.Mutex
	var batches []batch
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	werr := make(chan error, 1)
	start := time.Now()
	pruned := make(chan error, 1)
	if cfg.PruneEvery > 0 {
		// A pool checked longer ago than the events are kept is ranked again, not read from
		// the changes since (selection.Service.EventsKeptFor), as in the service.
		kept := t.Service.EventsKeptFor
		t.Service.EventsKeptFor = ingest.EventRetention{EventsFor: cfg.EventsFor}.WithDefaults().EventsFor
		defer func() { t.Service.EventsKeptFor = kept }()
		go func() { pruned <- prune(wctx, t, cfg, start, sizes, out) }()
	} else {
		pruned <- nil
	}
	go func() {
		per := max(1, cfg.Rate/10)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for time.Since(start) < cfg.Stream {
			select {
			case <-wctx.Done():
				werr <- nil
				return
			case <-tick.C:
			}
			t0 := time.Now()
			at, err := applyChanges(wctx, t.DB, sim, per)
			if err != nil {
				werr <- err
				return
			}
			var seq int64
			if err := t.DB.QueryRow(wctx, `SELECT coalesce(max(seq), 0) FROM sku_events`).Scan(&seq); err != nil {
				werr <- err
				return
			}
			mu.Lock()
			batches = append(batches, batch{at: at, seq: seq, n: per})
			r.Writes += time.Since(t0)
			mu.Unlock()
		}
		werr <- nil
	}()

	type fresh struct {
		d time.Duration
		n int
	}
	var got []fresh
	assigned := 0
	writing := true
	for {
		if !writing {
			// The stream has ended: the last pass waits for the indexes to reflect it all.
			if err := waitFollowers(ctx, t); err != nil {
				return r, err
			}
		}
		posSeq := t.Position().EventSeq
		t0 := time.Now()
		if _, err := t.Service.RefreshAll(ctx); err != nil {
			return r, err
		}
		end := time.Now()
		r.Passes++
		r.LongestPass = max(r.LongestPass, end.Sub(t0))
		mu.Lock()
		for assigned < len(batches) && batches[assigned].seq <= posSeq {
			b := batches[assigned]
			got = append(got, fresh{end.Sub(b.at), b.n})
			assigned++
		}
		left := len(batches) - assigned
		mu.Unlock()
		if writing {
			select {
			case err := <-werr:
				if err != nil {
					return r, err
				}
				writing = false
			default:
			}
		} else if left == 0 {
			break
		}
	}
	stop()
	if err := <-pruned; err != nil {
		return r, err
	}
	r.Took = time.Since(start)
	slices.SortFunc(got, func(a, b fresh) int { return int(a.d - b.d) })
	total := 0
	for _, f := range got {
		total += f.n
	}
	r.Events = total
	at := func(q float64) time.Duration {
		want := int(q * float64(total))
		for _, f := range got {
			want -= f.n
			if want < 0 {
				return f.d
			}
		}
		if len(got) == 0 {
			return 0
		}
		return got[len(got)-1].d
	}
	r.P50, r.P99 = at(0.5), at(0.99)
	if len(got) > 0 {
		r.Max = got[len(got)-1].d
	}
	if r.VersionsAfter, r.EventsAfter, err = sizes(); err != nil {
		return r, err
	}
	fmt.Fprintf(out, "live stream: %d events in %s (%.0f/s asked, %.0f/s written; writes took %s of it), %d passes (longest %s); freshness p50 %.1f s, p99 %.1f s, max %.1f s; pool_versions %d -> %d bytes, sku_events %d -> %d bytes\n",
		r.Events, r.Took.Round(time.Second), float64(cfg.Rate), float64(r.Events)/cfg.Stream.Seconds(), r.Writes.Round(time.Millisecond),
		r.Passes, r.LongestPass.Round(time.Millisecond), r.P50.Seconds(), r.P99.Seconds(), r.Max.Seconds(),
		r.VersionsBefore, r.VersionsAfter, r.EventsBefore, r.EventsAfter)
	return r, nil
}

// prune applies retention every cfg.PruneEvery until ctx ends, as the service's leader does,
// and reports the tables' sizes and the database's after each round.
func prune(ctx context.Context, t Target, cfg Config, start time.Time, sizes func() (int64, int64, error), out io.Writer) error {
	vr := selection.Retention{Keep: cfg.Keep, KeepFor: cfg.KeepFor}.WithDefaults()
	er := ingest.EventRetention{EventsFor: cfg.EventsFor, DeadLettersFor: cfg.EventsFor}.WithDefaults()
	fmt.Fprintf(out, "retention during the stream: every %s, versions beyond the newest %d and older than %s, events older than %s\n",
		cfg.PruneEvery, vr.Keep, vr.KeepFor, er.EventsFor)
	tick := time.NewTicker(cfg.PruneEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		v, err := t.Service.Pools.Prune(ctx, vr)
		if err != nil {
			return ignoreDone(ctx, err)
		}
		e, _, err := ingest.PruneEvents(ctx, t.DB, er)
		if err != nil {
			return ignoreDone(ctx, err)
		}
		pv, se, err := sizes()
		if err != nil {
			return ignoreDone(ctx, err)
		}
		var db int64 // the whole database: the other tables and indexes the churn writes too
		if err := t.DB.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&db); err != nil {
			return ignoreDone(ctx, err)
		}
		fmt.Fprintf(out, "  at %4.0f s: pruned %d versions, %d events; pool_versions %d MB, sku_events %d MB, database %d MB\n",
			time.Since(start).Seconds(), v, e, pv>>20, se>>20, db>>20)
	}
}

// ignoreDone is nil when ctx has ended (the stream is over), else err.
func ignoreDone(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

package api_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"selection/api"
	"selection/ingest"
)

// BenchmarkFinding4KeyBurst sends 20,000 random keys in a burst from 200 client addresses (the
// case the per-address limit does not stop) while a valid key keeps using the API at 40
// requests/s and 4 ingest writers apply 40,000 price events through a pool of their own, and
// the same without the burst, in one run. once: one burst; back-to-back: bursts again and again
// until ingest is done. A control phase sends the same requests without a key (refused before
// any key check): what the sending itself costs on the two cores, database aside. It reports
// the database lookups of keys against the lookup budget (burst 40 + 20/s, plus the valid
// key's recheck every 5 s), the valid key's latency and ingest's events/s as ratios to the
// phase without a burst. Run it once:
//
//	go test ./api -run '^$' -bench BenchmarkFinding4KeyBurst -benchtime 1x
func BenchmarkFinding4KeyBurst(b *testing.B) {
	ctx := context.Background()
	h := newHarnessWith(b, api.Config{}) // the defaults: 100/s per address, 50/s per key, 20/s lookups
	pc := h.db.Pool.Config()
	pc.MaxConns = 8
	ingestDB, err := pgxpool.NewWithConfig(ctx, pc)
	require.NoError(b, err)
	defer ingestDB.Close()
	w, err := ingest.NewWriter(ingestDB, ingest.WriterConfig{})
	require.NoError(b, err)
	const skus = 20000
	require.NoError(b, writeEvents(ctx, w, 1, skus, 5000, true))

	for _, repeat := range []bool{false, true} {
		name := "once"
		if repeat {
			name = "back-to-back"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				base := runPhase(b, h, w, attackNone, repeat)
				control := runPhase(b, h, w, attackNoKey, repeat)
				burst := runPhase(b, h, w, attackRandomKeys, repeat)
				budget := 40 + 20*burst.elapsed.Seconds() + burst.elapsed.Seconds()/5 + 1
				for _, r := range []struct {
					name string
					p    phase
				}{{"no burst", base}, {"control", control}, {"burst", burst}} {
					b.Logf("%-8s valid p50 %.2f ms p99 %.2f ms (%d requests, %d refused), ingest %.0f events/s, %d key lookups over %v, %d other requests: %v",
						r.name, r.p.p50, r.p.p99, r.p.valid, r.p.validFailed, r.p.ingestRate, r.p.lookups, r.p.elapsed.Round(time.Millisecond), r.p.sent, r.p.statuses)
				}
				b.Logf("lookup budget over the burst phase: %.0f", budget)
				b.ReportMetric(float64(burst.lookups), "lookups")
				b.ReportMetric(budget, "budget")
				b.ReportMetric(burst.p50/base.p50, "valid-p50-ratio")
				b.ReportMetric(burst.p99/base.p99, "valid-p99-ratio")
				b.ReportMetric(burst.ingestRate/base.ingestRate, "ingest-ratio")
				b.ReportMetric(burst.ingestRate/control.ingestRate, "ingest-vs-control")
				require.LessOrEqual(b, float64(burst.lookups), budget, "database lookups within the limiter's budget")
				require.Zero(b, burst.validFailed, "the valid key is never refused")
			}
		})
	}
}

type attack int

const (
	attackNone       attack = iota
	attackNoKey             // requests without a key: 401 before any key check
	attackRandomKeys        // a random key each
)

// ingestEvents are the price events each phase applies.
const ingestEvents = 40000

type phase struct {
	elapsed            time.Duration
	p50, p99           float64 // valid key, ms
	valid, validFailed int
	ingestRate         float64
	lookups            int64
	sent               int
	statuses           map[int]int
}

var eventSeq atomic.Int64

// writeEvents applies n events in batches of batch: SKUs lo..lo+n-1 upserted, or (lo < 0)
// price updates of random SKUs of partition -lo-1 of 4 among the first 20,000 (as Kafka keyed
// by SKU gives each partition its own SKUs).
func writeEvents(ctx context.Context, w *ingest.Writer, lo, n, batch int, upsert bool) error {
	at := time.Now().Add(-time.Hour)
	for start := 0; start < n; start += batch {
		recs := make([]ingest.Record, 0, batch)
		for i := start; i < min(n, start+batch); i++ {
			id := int64(lo + i)
			var e ingest.Event
			var err error
			seq := eventSeq.Add(1)
			if upsert {
				title, price, cur := "Burst product "+strconv.FormatInt(id, 10), int64(1000), "SGD"
				e, err = ingest.NewEvent(fmt.Sprintf("burst-%d", seq), ingest.KindUpsert, id, "SG", at, ingest.UpsertData{Title: &title, Price: &price, Currency: &cur})
			} else {
				id = 1 + 4*rand.Int64N(5000) + int64(-lo-1)
				e, err = ingest.NewEvent(fmt.Sprintf("burst-%d", seq), ingest.KindPrice, id, "SG", time.Now(), ingest.PriceData{Price: 1000 + seq%500})
			}
			if err != nil {
				return err
			}
			raw, _ := e.Marshal()
			d, err := ingest.DecodeEvent(raw, ingest.DecodeOptions{})
			if err != nil {
				return err
			}
			recs = append(recs, ingest.Record{Source: "bench:" + strconv.FormatInt(seq, 10), Event: d, Partition: -1, Offset: -1})
		}
		if _, err := w.Write(ctx, ingest.TierRealtime, recs); err != nil {
			return err
		}
	}
	return nil
}

// runPhase runs the valid client and the ingest writers (4 writers of batches of 1,000
// events, as 4 partitions would), with the random-key bursts when burst is set, and measures.
func runPhase(b *testing.B, h *harness, w *ingest.Writer, mode attack, repeat bool) phase {
	ctx := context.Background()
	var p phase
	lookups0 := int64(h.counter("selection_api_key_lookups_total"))
	stop := make(chan struct{})
	var wg sync.WaitGroup

	// The valid client: 40 requests/s, within its key's and its address's rates.
	var lat []float64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			req := httptest.NewRequest("GET", "/v1/tags", nil)
			req.RemoteAddr = "127.0.0.9:40000"
			req.Header.Set("X-API-Key", h.reader)
			rec := httptest.NewRecorder()
			t0 := time.Now()
			h.h.ServeHTTP(rec, req)
			lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
			p.valid++
			if rec.Code != http.StatusOK {
				p.validFailed++
			}
		}
	}()

	// The burst: 20,000 requests, 100 from each of 200 addresses, 8 senders; with repeat again
	// and again until ingest is done, so that ingest runs under it the whole time.
	var statusMu sync.Mutex
	p.statuses = map[int]int{}
	if mode != attackNone {
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				counts := map[int]int{}
				sent := 0
				defer func() {
					statusMu.Lock()
					for k, v := range counts {
						p.statuses[k] += v
					}
					p.sent += sent
					statusMu.Unlock()
				}()
				for {
					for i := g; i < 20000; i += 8 {
						select {
						case <-stop:
							return
						default:
						}
						req := httptest.NewRequest("GET", "/v1/tags", nil)
						a := i % 200
						req.RemoteAddr = fmt.Sprintf("127.1.%d.%d:5000", a/250, a%250+1)
						if mode == attackRandomKeys {
							req.Header.Set("X-API-Key", fmt.Sprintf("sk_r_%016x%016x", rand.Uint64(), rand.Uint64()))
						}
						rec := httptest.NewRecorder()
						h.h.ServeHTTP(rec, req)
						counts[rec.Code]++
						sent++
					}
					if !repeat {
						return
					}
				}
			}()
		}
	}

	// Ingest: 4 writers through their own pool.
	start := time.Now()
	var iwg sync.WaitGroup
	errs := make(chan error, 4)
	for part := range 4 {
		iwg.Add(1)
		go func() {
			defer iwg.Done()
			errs <- writeEvents(ctx, w, -part-1, ingestEvents/4, 1000, false)
		}()
	}
	iwg.Wait()
	ingestTime := time.Since(start)
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
	p.ingestRate = ingestEvents / ingestTime.Seconds()
	close(stop)
	wg.Wait()
	p.elapsed = time.Since(start)
	p.lookups = int64(h.counter("selection_api_key_lookups_total")) - lookups0
	slices.Sort(lat)
	if len(lat) > 0 {
		p.p50 = lat[len(lat)/2]
		p.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return p
}

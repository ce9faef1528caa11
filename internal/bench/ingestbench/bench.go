package ingestbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"selection/ingest"
)

// Config configures Run. The database must be a freshly migrated schema of its own.
type Config struct {
	// SKUs in the catalogue the events update. Default: 50,000.
	SKUs int
	// Events in the throughput run (half price, half stock updates). Default: 300,000.
	Events int
	// Partitions of the bench topic. Default: 4.
	Partitions int32
	// MaxPollRecords of the consumer. Default: 20,000.
	MaxPollRecords int
	// LiveRate is the produce rate of the freshness run, events/s; 0 means 50,000/s or 60% of
	// the measured backlog throughput, whichever is lower (the producer and the embedded broker
	// share the two cores with the consumer and Postgres in this run, and latency is measured at
	// a load a service runs at, not at saturation). Default: 0.
	LiveRate int
	// LiveDuration is how long the freshness run produces. Default: 10s.
	LiveDuration time.Duration
	// NaiveEvents are consumed by the one-row-per-transaction baseline. Default: 5,000.
	NaiveEvents int
	// Skew of the SKUs the events pick: 0 is uniform (every event a different SKU, as far as
	// can be: the worst case for the apply), above 1 a Zipf exponent (hot SKUs get most events,
	// as in a sale; events of one SKU in a batch collapse into one row update). Default: 0.
	Skew float64
	// Seed of the event generator. Default: 1.
	Seed uint64
	// Logger. Default: discard.
	Logger *slog.Logger
}

// WithDefaults fills zero fields with their defaults.
func (c Config) WithDefaults() Config {
	if c.SKUs <= 0 {
		c.SKUs = 50000
	}
	if c.Events <= 0 {
		c.Events = 300000
	}
	if c.Partitions <= 0 {
		c.Partitions = 4
	}
	if c.MaxPollRecords <= 0 {
		c.MaxPollRecords = 20000
	}
	if c.LiveDuration <= 0 {
		c.LiveDuration = 10 * time.Second
	}
	if c.NaiveEvents <= 0 {
		c.NaiveEvents = 5000
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Skew > 0 && c.Skew <= 1 {
		c.Skew = 0
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Result are the measured figures.
type Result struct {
	EventsPerSec      float64 // batched consumer, throughput run
	Batches           int64
	LiveRate          int     // events/s produced in the freshness run
	LiveEvents        int     // events applied in the freshness run
	FreshnessP50      float64 // ms, event time to database commit, freshness run
	FreshnessP99      float64
	FreshnessMax      float64
	NaiveEventsPerSec float64 // one row per transaction
	NaiveRatio        float64 // EventsPerSec / NaiveEventsPerSec
}

// benchGen makes price and stock events over a catalogue of n SKUs (ids 1..n).
type benchGen struct {
	r    *rand.Rand
	zipf *rand.Zipf
	n    int
	seq  atomic.Int64
	pfx  string
	buf  []byte
	lock sync.Mutex
}

func (g *benchGen) next(at time.Time) *kgo.Record {
	g.lock.Lock()
	defer g.lock.Unlock()
	var id int64
	if g.zipf != nil {
		id = int64(1 + g.zipf.Uint64())
	} else {
		id = int64(1 + g.r.IntN(g.n))
	}
	i := g.seq.Add(1)
	b := g.buf[:0]
	b = append(b, `{"v":1,"event_id":"`...)
	b = append(b, g.pfx...)
	b = strconv.AppendInt(b, i, 10)
	if g.r.IntN(2) == 0 {
		b = append(b, `","kind":"price.update","sku_id":"`...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, `","market":"SG","event_time":"`...)
		b = at.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","data":{"price":`...)
		b = strconv.AppendInt(b, int64(100+g.r.IntN(100000)), 10)
	} else {
		b = append(b, `","kind":"stock.update","sku_id":"`...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, `","market":"SG","event_time":"`...)
		b = at.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","data":{"stock":`...)
		b = strconv.AppendInt(b, int64(g.r.IntN(500)), 10)
	}
	b = append(b, "}}"...)
	g.buf = b
	return &kgo.Record{Key: strconv.AppendInt(nil, id, 10), Value: slices.Clone(b)}
}

// Run measures Kafka (an in-process kfake broker) -> Postgres for price and stock events:
// the throughput of the consumer over a backlog, the freshness (event time to database commit)
// of a live stream produced at a fixed rate, and the throughput of a naive consumer that writes
// one event per transaction, all in the same run. It prints a table to out.
func Run(ctx context.Context, pool *pgxpool.Pool, cfg Config, out io.Writer) (Result, error) {
	cfg = cfg.WithDefaults()
	var res Result
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	dist := "uniform"
	if cfg.Skew > 1 {
		dist = fmt.Sprintf("Zipf s=%g", cfg.Skew)
	}
	fmt.Fprintf(out, "ingest bench: %d SKUs, %d price/stock events (%s over SKUs), %d partitions, poll <= %d records\n",
		cfg.SKUs, cfg.Events, dist, cfg.Partitions, cfg.MaxPollRecords)

	// The catalogue.
	start := time.Now()
	if err := benchCatalogue(ctx, pool, cfg.SKUs); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "catalogue of %d SKUs loaded in %v\n", cfg.SKUs, time.Since(start).Round(time.Millisecond))

	broker, err := ingest.StartEmbeddedBroker(ctx, "", 0)
	if err != nil {
		return res, err
	}
	defer broker.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(broker.Addrs()...), kgo.ProducerLinger(2*time.Millisecond),
		kgo.MaxBufferedRecords(200000), kgo.ProducerBatchMaxBytes(4<<20))
	if err != nil {
		return res, err
	}
	defer prod.Close()
	const topic, naiveTopic = "bench-events", "bench-naive"
	if err := ingest.EnsureTopics(ctx, prod, cfg.Partitions, topic, topic+ingest.DLQSuffix, naiveTopic); err != nil {
		return res, err
	}
	gen := &benchGen{r: rand.New(rand.NewPCG(cfg.Seed, 7)), n: cfg.SKUs, pfx: fmt.Sprintf("b%d-", time.Now().UnixNano())}
	if cfg.Skew > 1 {
		gen.zipf = rand.NewZipf(gen.r, cfg.Skew, 1, uint64(cfg.SKUs-1))
	}

	// The batched consumer: throughput over a backlog, then freshness of a live stream.
	r := &batchedRun{cfg: cfg, prod: prod, topic: topic, gen: gen, stats: &commitStats{}, metrics: ingest.NewMetrics(), out: out}
	c, err := ingest.NewConsumer(pool, ingest.ConsumerConfig{Brokers: broker.Addrs(), Topic: topic, Group: "bench",
		MaxPollRecords: cfg.MaxPollRecords, Logger: cfg.Logger, Metrics: r.metrics, Partitions: cfg.Partitions,
		OnCommit: r.stats.onCommit})
	if err != nil {
		return res, err
	}
	if err := c.Start(ctx); err != nil {
		return res, err
	}
	defer c.Stop(context.WithoutCancel(ctx)) //nolint:errcheck
	if err := r.backlog(ctx, c, &res); err != nil {
		return res, err
	}
	if err := r.live(ctx, &res); err != nil {
		return res, err
	}
	if err := c.Stop(ctx); err != nil {
		return res, err
	}

	// The naive baseline: one event per transaction.
	if err := produceN(ctx, prod, naiveTopic, gen, cfg.NaiveEvents); err != nil {
		return res, err
	}
	nps, err := naiveConsume(ctx, pool, broker.Addrs(), naiveTopic, cfg.NaiveEvents)
	if err != nil {
		return res, err
	}
	res.NaiveEventsPerSec = nps
	res.NaiveRatio = res.EventsPerSec / nps
	report(tw, out, cfg, res)
	return res, nil
}

// commitStats are what the batched consumer's commits report: the events applied (or found
// duplicate), the time of the last commit and, while recordFresh, every event's freshness in ms.
type commitStats struct {
	applied     atomic.Int64
	lastCommit  atomic.Int64 // Unix ns
	mu          sync.Mutex
	fresh       []float64
	recordFresh bool
}

func (s *commitStats) onCommit(ci ingest.CommitInfo) {
	s.applied.Add(int64(ci.Applied + ci.Duplicates))
	s.lastCommit.Store(ci.CommittedAt.UnixNano())
	s.mu.Lock()
	if s.recordFresh {
		for _, t := range ci.EventTimes {
			s.fresh = append(s.fresh, float64(ci.CommittedAt.Sub(t))/float64(time.Millisecond))
		}
	}
	s.mu.Unlock()
}

// batchedRun is the batched consumer's part of the bench: what it produces with and what its
// commits report.
type batchedRun struct {
	cfg     Config
	prod    *kgo.Client
	topic   string
	gen     *benchGen
	stats   *commitStats
	metrics *ingest.Metrics
	out     io.Writer
}

// backlog warms the consumer c up with one event, pauses it, produces cfg.Events and times
// their consumption from the resume to the last commit.
func (r *batchedRun) backlog(ctx context.Context, c *ingest.Consumer, res *Result) error {
	if err := produceN(ctx, r.prod, r.topic, r.gen, 1); err != nil {
		return err
	}
	if err := waitApplied(ctx, &r.stats.applied, 1, 60*time.Second); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	c.Pause()
	start := time.Now()
	if err := produceN(ctx, r.prod, r.topic, r.gen, r.cfg.Events); err != nil {
		return err
	}
	fmt.Fprintf(r.out, "produced %d events in %v\n", r.cfg.Events, time.Since(start).Round(time.Millisecond))
	before := r.metrics.Snapshot()
	r.stats.applied.Store(0)
	start = time.Now()
	c.Resume()
	if err := waitApplied(ctx, &r.stats.applied, int64(r.cfg.Events), 30*time.Minute); err != nil {
		return err
	}
	elapsed := time.Unix(0, r.stats.lastCommit.Load()).Sub(start)
	res.EventsPerSec = float64(r.cfg.Events) / elapsed.Seconds()
	res.Batches = r.metrics.Snapshot().Batches - before.Batches
	return nil
}

// live produces at a fixed rate (cfg.LiveRate, else 60% of the backlog throughput, at most
// 50,000/s) for cfg.LiveDuration and records the freshness percentiles of what was applied.
func (r *batchedRun) live(ctx context.Context, res *Result) error {
	res.LiveRate = r.cfg.LiveRate
	if res.LiveRate <= 0 {
		res.LiveRate = min(50000, int(0.6*res.EventsPerSec))
	}
	s := r.stats
	s.mu.Lock()
	s.recordFresh = true
	s.mu.Unlock()
	s.applied.Store(0)
	produced, err := produceAtRate(ctx, r.prod, r.topic, r.gen, res.LiveRate, r.cfg.LiveDuration)
	if err != nil {
		return err
	}
	if err := waitApplied(ctx, &s.applied, int64(produced), 5*time.Minute); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.Sort(s.fresh)
	res.LiveEvents = len(s.fresh)
	if len(s.fresh) > 0 {
		res.FreshnessP50 = s.fresh[len(s.fresh)/2]
		res.FreshnessP99 = s.fresh[min(len(s.fresh)-1, len(s.fresh)*99/100)]
		res.FreshnessMax = s.fresh[len(s.fresh)-1]
	}
	return nil
}

// report prints the table of the three runs and the summary line.
func report(tw *tabwriter.Writer, out io.Writer, cfg Config, res Result) {
	fmt.Fprintln(tw, "run\tevents\tevents/s\tbatches\tfreshness p50 ms\tp99 ms\tmax ms")
	fmt.Fprintf(tw, "batched consumer, backlog\t%d\t%.0f\t%d\t-\t-\t-\n", cfg.Events, res.EventsPerSec, res.Batches)
	fmt.Fprintf(tw, "batched consumer, live at %d/s for %v\t%d\t-\t-\t%.0f\t%.0f\t%.0f\n", res.LiveRate, cfg.LiveDuration,
		res.LiveEvents, res.FreshnessP50, res.FreshnessP99, res.FreshnessMax)
	fmt.Fprintf(tw, "naive: one event per transaction\t%d\t%.0f\t%d\t-\t-\t-\n", cfg.NaiveEvents, res.NaiveEventsPerSec, cfg.NaiveEvents)
	tw.Flush()
	fmt.Fprintf(out, "ingest events_per_sec=%.0f freshness_p50_ms=%.0f freshness_p99_ms=%.0f naive_ratio=%.1f\n",
		res.EventsPerSec, res.FreshnessP50, res.FreshnessP99, res.NaiveRatio)
}

// benchCatalogue creates SKUs 1..n through the apply path.
func benchCatalogue(ctx context.Context, pool *pgxpool.Pool, n int) error {
	w, err := ingest.NewWriter(pool, ingest.WriterConfig{})
	if err != nil {
		return err
	}
	at := time.Now().Add(-24 * time.Hour)
	const batch = 5000
	for lo := 1; lo <= n; lo += batch {
		recs := make([]ingest.Record, 0, batch)
		for id := lo; id < lo+batch && id <= n; id++ {
			title := "Bench product " + strconv.Itoa(id)
			price, stock, cur := int64(1000+id%5000), int64(id%300), "SGD"
			e, err := ingest.NewEvent("bench-sku-"+strconv.Itoa(id), ingest.KindUpsert, int64(id), "SG", at,
				ingest.UpsertData{Title: &title, Price: &price, Currency: &cur, Stock: &stock})
			if err != nil {
				return err
			}
			b, _ := e.Marshal()
			d, err := ingest.DecodeEvent(b, ingest.DecodeOptions{})
			if err != nil {
				return err
			}
			recs = append(recs, ingest.Record{Source: "bench:" + strconv.Itoa(id), Event: d, Partition: -1, Offset: -1})
		}
		if _, err := w.Write(ctx, ingest.TierBatch, recs); err != nil {
			return err
		}
	}
	return nil
}

func produceN(ctx context.Context, cl *kgo.Client, topic string, g *benchGen, n int) error {
	var perr atomic.Value
	for i := 0; i < n; i++ {
		r := g.next(time.Now())
		r.Topic = topic
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				perr.Store(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if err, ok := perr.Load().(error); ok {
		return fmt.Errorf("produce: %w", err)
	}
	return nil
}

// produceAtRate produces rate events/s for d, in 5 ms ticks, each event stamped when made.
func produceAtRate(ctx context.Context, cl *kgo.Client, topic string, g *benchGen, rate int, d time.Duration) (int, error) {
	var perr atomic.Value
	start := time.Now()
	n := 0
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		el := now.Sub(start)
		if el >= d {
			break
		}
		due := int(el.Seconds() * float64(rate))
		for ; n < due; n++ {
			r := g.next(time.Now())
			r.Topic = topic
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					perr.Store(err)
				}
			})
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-tick.C:
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return n, err
	}
	if err, ok := perr.Load().(error); ok {
		return n, fmt.Errorf("produce: %w", err)
	}
	return n, nil
}

func waitApplied(ctx context.Context, applied *atomic.Int64, want int64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for applied.Load() < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d events applied after %v", applied.Load(), want, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// naiveConsume is the baseline: a consumer that decodes each record and writes it in a
// transaction of its own (insert the event, update the SKU with the event-time guard), with
// offsets auto-committed. It returns its throughput in events/s, timed from its first record.
func naiveConsume(ctx context.Context, pool *pgxpool.Pool, brokers []string, topic string, n int) (float64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup("bench-naive"),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var start time.Time
	done := 0
	for done < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if start.IsZero() && fs.NumRecords() > 0 {
			start = time.Now()
		}
		for _, r := range fs.Records() {
			d, err := ingest.DecodeEvent(r.Value, ingest.DecodeOptions{})
			if err != nil {
				return 0, fmt.Errorf("naive: %w", err)
			}
			if err := naiveApply(ctx, pool, r, &d); err != nil {
				return 0, err
			}
			done++
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func naiveApply(ctx context.Context, pool *pgxpool.Pool, r *kgo.Record, d *ingest.Decoded) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var seq int64
		err := tx.QueryRow(ctx, `INSERT INTO sku_events (event_id, kind, sku_id, market, payload, source, tier, event_time)
			VALUES ($1, $2, $3, $4, $5, $6, 'realtime', $7) ON CONFLICT (event_id) DO NOTHING RETURNING seq`,
			d.EventID, string(d.Kind), d.SKUID, d.Market, []byte(d.Data),
			fmt.Sprintf("kafka:%s/%d/%d", r.Topic, r.Partition, r.Offset), d.EventTime).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // a duplicate
		}
		if err != nil {
			return fmt.Errorf("naive: %w", err)
		}
		switch d.Kind {
		case ingest.KindPrice:
			_, err = tx.Exec(ctx, `UPDATE skus SET price = $2, price_at = $3, updated_at = now()
				WHERE id = $1 AND price_at <= $3`, d.SKUID, d.Patch.Price, d.EventTime)
		case ingest.KindStock:
			_, err = tx.Exec(ctx, `UPDATE skus SET stock = $2, stock_at = $3, updated_at = now()
				WHERE id = $1 AND stock_at <= $3`, d.SKUID, d.Patch.Stock, d.EventTime)
		}
		if err != nil {
			return fmt.Errorf("naive: %w", err)
		}
		return nil
	})
}

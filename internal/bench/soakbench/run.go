package soakbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/ingest"
	"selection/internal/poll"
)

// Config configures Run: the service under soak (running, with its consumer on Brokers and its
// API at Base) and the load.
type Config struct {
	// For is how long the measured soak lasts, after the warm-up. Default: 10m.
	For time.Duration
	// WarmUp runs the same load before the measurement starts (caches, pools, connections,
	// the Go heap reach their working size). Default: For/10, at most 1m.
	WarmUp time.Duration
	// Rate is live events per second produced to the service's topic. Default: 1,000.
	Rate float64
	// Clients are the concurrent API clients. Default: 8.
	Clients int
	// APIRate is requests per second of all clients together (0: as fast as they get
	// answers). Default: 0.
	APIRate float64
	// Seed of the events and the clients' choices. Default: 1.
	Seed uint64
	// NewSKUShare and DeleteShare of the events launch a new SKU and discontinue one
	// (ingest.SimulatorConfig). Defaults: 0.05 and 0.03; negative: none (both none: the
	// catalogue keeps its size, so memory growth is not data).
	NewSKUShare, DeleteShare float64
	// HeapProfile, when set, is a path prefix: the heap profiles after the warm-up and at the
	// end are written to HeapProfile+"-start.pb.gz" and HeapProfile+"-end.pb.gz".
	HeapProfile string

	// Pool is the service's database (the stream's catalogue, the stored-record count).
	Pool *pgxpool.Pool
	// Brokers and Topic are where the events go. Topic default: ingest.DefaultTopic.
	Brokers []string
	Topic   string
	// Base and Key: the service's API and a key with the planner role.
	Base, Key string
	// RSS reads the service's resident memory in bytes. Default: this process's (VmRSS).
	RSS func() (int64, error)
	// Heap reads the service's Go heap in use in bytes, after a collection. Default: this
	// process's (HeapAfterGC).
	Heap func() (int64, error)
	// Settle, when set, is waited for before each memory reading, so that the readings find
	// the service in comparable states: the running service's is the end of a pool refresh
	// pass, when the filter journal holds the fewest writes (it holds those since the last
	// pass: up to the refresh interval's worth, a tenth of a small service's heap at 1,000
	// events/s). Default: none.
	Settle func(context.Context) error
	// Logger. Default: discard.
	Logger *slog.Logger
}

// WithDefaults fills zero fields with their defaults.
func (c Config) WithDefaults() Config {
	if c.For <= 0 {
		c.For = 10 * time.Minute
	}
	if c.WarmUp <= 0 {
		c.WarmUp = min(c.For/10, time.Minute)
	}
	if c.Rate <= 0 {
		c.Rate = 1000
	}
	if c.Clients <= 0 {
		c.Clients = 8
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Topic == "" {
		c.Topic = ingest.DefaultTopic
	}
	if c.RSS == nil {
		c.RSS = func() (int64, error) { return ReadRSS("/proc/self/status") }
	}
	if c.Heap == nil {
		c.Heap = HeapAfterGC
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Result is what a soak measured.
type Result struct {
	Elapsed time.Duration
	// Produced records (warm-up included), and the records of the topic in sku_events and
	// dead_letters once the consumer caught up; Lost = Produced - Stored - DeadLetters.
	Produced, Stored, DeadLetters, Lost int64
	// Routes are the measured answers by route (after the warm-up).
	Routes []RouteStats
	// Requests, FiveXX: all measured answers, and those with a 5xx status.
	Requests, FiveXX int
	// Bad are answers other than 503 problem+json among the errors (BadCount in all).
	Bad      []Bad
	BadCount int
	// Start and End are the memory and the live SKUs after the warm-up and at the end.
	Start, End Memory
}

// Growth is the resident memory's growth over the soak, as a share of the start.
func (r Result) Growth() float64 { return growth(r.Start.RSS, r.End.RSS) }

// HeapGrowth is the Go heap's growth (in use after a collection) over the soak, as a share of
// the start.
func (r Result) HeapGrowth() float64 { return growth(r.Start.Heap, r.End.Heap) }

// ReadRSS reads VmRSS (bytes) from a /proc/<pid>/status file.
func ReadRSS(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in " + path)
}

// Run produces live events at Rate and drives the API from Clients clients for WarmUp, then
// measures for For, waits for the consumer to store every record, and writes the report to
// out: a table by route, then one summary line of key=value pairs.
func Run(ctx context.Context, cfg Config, out io.Writer) (Result, error) {
	cfg = cfg.WithDefaults()
	var res Result
	if cfg.Pool == nil || len(cfg.Brokers) == 0 || cfg.Base == "" || cfg.Key == "" {
		return res, errors.New("soak: Pool, Brokers, Base and Key are required")
	}
	cat, err := ingest.LoadSimCatalogue(ctx, cfg.Pool, 0)
	if err != nil {
		return res, err
	}
	sim, err := ingest.NewSimulator(ingest.SimulatorConfig{Brokers: cfg.Brokers, Topic: cfg.Topic, Catalogue: cat,
		Rate: cfg.Rate, Seed: cfg.Seed, NewSKUShare: cfg.NewSKUShare, DeleteShare: cfg.DeleteShare, Logger: cfg.Logger})
	if err != nil {
		return res, err
	}
	if err := sim.Start(ctx); err != nil {
		return res, err
	}
	simStopped := false
	stopSim := func() error {
		if simStopped {
			return nil
		}
		simStopped = true
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		return sim.Stop(sctx)
	}
	defer stopSim()
	load, err := StartLoad(ctx, LoadConfig{Base: cfg.Base, Key: cfg.Key, Clients: cfg.Clients, Rate: cfg.APIRate, Seed: cfg.Seed})
	if err != nil {
		return res, err
	}
	defer load.Stop()
	fmt.Fprintf(out, "soak: %.0f events/s and %d API clients; warm-up %s, then %s measured\n", cfg.Rate, cfg.Clients, cfg.WarmUp, cfg.For)
	if !poll.Sleep(ctx, cfg.WarmUp) {
		return res, ctx.Err()
	}
	load.Reset()
	if res.Start, err = readMemory(ctx, cfg, cfg.Pool); err != nil {
		return res, err
	}
	if cfg.HeapProfile != "" {
		if err := WriteHeapProfile(cfg.HeapProfile + "-start.pb.gz"); err != nil {
			return res, err
		}
	}
	start := time.Now()
	produced0 := sim.Stats().Produced
	for end := start.Add(cfg.For); time.Now().Before(end); {
		if !poll.Sleep(ctx, min(time.Minute, time.Until(end))) {
			return res, ctx.Err()
		}
		st, _, _ := load.Stats()
		rss, _ := cfg.RSS()
		fmt.Fprintf(out, "  %s: %d events produced, %d requests, rss %.0f MiB\n", time.Since(start).Round(time.Second),
			sim.Stats().Produced-produced0, sumRequests(st), float64(rss)/(1<<20))
	}
	res.Elapsed = time.Since(start)
	if res.End, err = readMemory(ctx, cfg, cfg.Pool); err != nil {
		return res, err
	}
	if cfg.HeapProfile != "" {
		if err := WriteHeapProfile(cfg.HeapProfile + "-end.pb.gz"); err != nil {
			return res, err
		}
	}
	produced1 := sim.Stats().Produced
	load.Stop()
	res.Routes, res.Bad, res.BadCount = load.Stats()
	if err := stopSim(); err != nil {
		return res, err
	}
	res.Produced = sim.Stats().Produced
	// Every record reaches sku_events or dead_letters.
	prefix := "kafka:" + cfg.Topic + "/"
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if err := cfg.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM sku_events WHERE starts_with(source, $1)),
			(SELECT count(*) FROM dead_letters WHERE starts_with(source, $1))`, prefix).Scan(&res.Stored, &res.DeadLetters); err != nil {
			return res, fmt.Errorf("soak: count stored records: %w", err)
		}
		if res.Stored+res.DeadLetters >= res.Produced || time.Now().After(deadline) || !poll.Sleep(ctx, 500*time.Millisecond) {
			break
		}
	}
	res.Lost = res.Produced - res.Stored - res.DeadLetters
	for _, r := range res.Routes {
		res.Requests += r.Requests
		res.FiveXX += r.Count5xx()
	}

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "route\trequests\treq/s\tp50 ms\tp99 ms\t2xx\t4xx\t5xx\terrors\t")
	for _, r := range res.Routes {
		var ok, c4 int
		for s, n := range r.ByStatus {
			switch {
			case s < 300:
				ok += n
			case s < 500:
				c4 += n
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%d\t%d\t%d\t%d\t\n", r.Route, r.Requests, float64(r.Requests)/res.Elapsed.Seconds(),
			ms(r.Quantile(0.5)), ms(r.Quantile(0.99)), ok, c4, r.Count5xx(), r.Errors)
	}
	_ = tw.Flush()
	for _, b := range res.Bad {
		fmt.Fprintf(out, "bad answer: %s %d %s\n", b.Route, b.Status, b.Body)
	}
	fmt.Fprintf(out, "events: %d produced (%.0f/s measured), %d stored, %d dead letters, %d lost\n",
		res.Produced, float64(produced1-produced0)/res.Elapsed.Seconds(), res.Stored, res.DeadLetters, res.Lost)
	rss0, heap0 := res.Start.PerSKU()
	rss1, heap1 := res.End.PerSKU()
	fmt.Fprintf(out, "resident memory: %.0f MiB after the warm-up, %.0f MiB at the end (%+.1f%%)\n", mib(res.Start.RSS), mib(res.End.RSS), 100*res.Growth())
	fmt.Fprintf(out, "Go heap in use after GC: %.0f MiB after the warm-up, %.0f MiB at the end (%+.1f%%)\n", mib(res.Start.Heap), mib(res.End.Heap), 100*res.HeapGrowth())
	fmt.Fprintf(out, "live SKUs: %d after the warm-up, %d at the end (%+.1f%%); per live SKU: resident %.1f -> %.1f KiB, heap %.1f -> %.1f KiB\n",
		res.Start.LiveSKUs, res.End.LiveSKUs, 100*growth(res.Start.LiveSKUs, res.End.LiveSKUs), rss0/1024, rss1/1024, heap0/1024, heap1/1024)
	fmt.Fprintf(out, "SKU rows, the deleted included: %d after the warm-up, %d at the end (%+.1f%%)\n", res.Start.SKUs, res.End.SKUs, 100*growth(res.Start.SKUs, res.End.SKUs))
	fmt.Fprintf(out, "soak for=%s events_per_s=%.0f requests_per_s=%.1f 5xx=%d bad=%d lost=%d rss_start_mib=%.0f rss_end_mib=%.0f rss_growth_pct=%.1f "+
		"heap_start_mib=%.1f heap_end_mib=%.1f heap_growth_pct=%.1f skus_start=%d skus_end=%d\n",
		cfg.For, float64(produced1-produced0)/res.Elapsed.Seconds(), float64(res.Requests)/res.Elapsed.Seconds(), res.FiveXX, res.BadCount,
		res.Lost, mib(res.Start.RSS), mib(res.End.RSS), 100*res.Growth(), mib(res.Start.Heap), mib(res.End.Heap), 100*res.HeapGrowth(),
		res.Start.LiveSKUs, res.End.LiveSKUs)
	return res, nil
}

func sumRequests(st []RouteStats) int {
	n := 0
	for _, r := range st {
		n += r.Requests
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

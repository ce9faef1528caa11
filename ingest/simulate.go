package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"selection/catalog"
	"selection/internal/poll"
)

// SimSKU is what the simulator knows of a SKU.
type SimSKU struct {
	ID                      int64
	Market, Currency        string
	Title, Brand, Category  string
	ProductType             string
	Price, ListPrice, Stock int64
	Metrics                 catalog.Metrics
	metricsAt               time.Time
}

// LoadSimCatalogue reads up to limit live SKUs (0: all) in ordinal order for the simulator.
func LoadSimCatalogue(ctx context.Context, pool *pgxpool.Pool, limit int) ([]SimSKU, error) {
	if limit <= 0 {
		limit = math.MaxInt32
	}
	rows, err := pool.Query(ctx, `SELECT id, market, currency, title, brand, category, product_type, price, list_price, stock,
		sales_1h, sales_24h, sales_7d, gmv_1h, gmv_24h, gmv_7d, views_1h, views_24h, views_7d, rating, rating_count
		FROM skus WHERE live ORDER BY ordinal LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("simulator catalogue: %w", err)
	}
	defer rows.Close()
	var out []SimSKU
	shared := map[string]string{}
	for rows.Next() {
		var s SimSKU
		m := &s.Metrics
		if err := rows.Scan(&s.ID, &s.Market, &s.Currency, &s.Title, &s.Brand, &s.Category, &s.ProductType,
			&s.Price, &s.ListPrice, &s.Stock, &m.Sales1h, &m.Sales24h, &m.Sales7d, &m.GMV1h, &m.GMV24h, &m.GMV7d,
			&m.Views1h, &m.Views24h, &m.Views7d, &m.Rating, &m.RatingCount); err != nil {
			return nil, fmt.Errorf("simulator catalogue: %w", err)
		}
		// The few markets, brands, categories and types are shared, not one string per SKU
		// each: at a million SKUs that was five million strings the collector marks.
		for _, f := range []*string{&s.Market, &s.Currency, &s.Brand, &s.Category, &s.ProductType} {
			if v, ok := shared[*f]; ok {
				*f = v
			} else {
				shared[*f] = *f
			}
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("simulator catalogue: %w", err)
	}
	return out, nil
}

// SimulatorConfig configures a Simulator.
type SimulatorConfig struct {
	// Brokers and Topic to produce to. Brokers are required; Topic defaults to "sku-events".
	Brokers []string
	Topic   string
	// Catalogue is the SKUs to simulate (LoadSimCatalogue). Required, at least one.
	Catalogue []SimSKU
	// Rate is events per second. Default: 200.
	Rate float64
	// Seed makes the stream of choices reproducible. Default: 1.
	Seed uint64
	// MalformedShare of records is broken on purpose (bad JSON, negative prices, unknown kinds,
	// bad markets, times in the future) to exercise the dead letters. Default: 0.015; negative: none.
	MalformedShare float64
	// NewSKUShare of the well-formed events launches a new SKU (a variant of an existing one),
	// and DeleteShare discontinues one; the other kinds (price 35%, orders 30%, restocks 12%,
	// views 10%, title edits 5% at the defaults) share the rest in those proportions. Both 0
	// keeps the catalogue's size, so that a soak's memory growth is not data. Defaults: 0.05
	// and 0.03; negative: none.
	NewSKUShare, DeleteShare float64
	// MaxEvents stops the simulator after so many records (one more when the last is an order,
	// whose two records are not split); 0 runs until Stop.
	MaxEvents int
	// Logger. Default: slog.Default().
	Logger *slog.Logger
	// ClientOpts are extra franz-go options.
	ClientOpts []kgo.Opt
	// Client, when set, is used instead of a client of the simulator's own (it is not closed).
	Client *kgo.Client
}

// WithDefaults fills zero fields with their defaults.
func (c SimulatorConfig) WithDefaults() SimulatorConfig {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.Rate <= 0 {
		c.Rate = 200
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.MalformedShare == 0 {
		c.MalformedShare = 0.015
	}
	if c.MalformedShare < 0 {
		c.MalformedShare = 0
	}
	if c.NewSKUShare == 0 {
		c.NewSKUShare = DefaultNewSKUShare
	}
	if c.NewSKUShare < 0 {
		c.NewSKUShare = 0
	}
	if c.DeleteShare == 0 {
		c.DeleteShare = DefaultDeleteShare
	}
	if c.DeleteShare < 0 {
		c.DeleteShare = 0
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c SimulatorConfig) validate() error {
	if len(c.Brokers) == 0 && c.Client == nil {
		return errors.New("simulator: no Kafka brokers")
	}
	if len(c.Catalogue) == 0 {
		return errors.New("simulator: the catalogue is empty (load one first: selection load FILE)")
	}
	if c.MalformedShare >= 1 {
		return errors.New("simulator: MalformedShare must be below 1")
	}
	if c.NewSKUShare+c.DeleteShare > 1 {
		return errors.New("simulator: NewSKUShare and DeleteShare add up to more than 1")
	}
	return nil
}

// SimStats counts what a simulator produced, by kind ("malformed" for the broken records).
type SimStats struct {
	Produced int64
	ByKind   map[string]int64
}

// Simulator produces a live event stream for a loaded catalogue: price changes (small moves and
// flash discounts), orders (a stock.update and a metrics.update with sales and GMV), restocks,
// view counts, title edits, new SKUs, deletions, and a small share of malformed records. SKUs
// are picked with Zipf popularity (a few hot SKUs get most events, as in real shops); sales
// windows decay exponentially with their window length. The choices follow Seed, so a run is
// reproducible up to timing.
type Simulator struct {
	cfg SimulatorConfig

	mu      sync.Mutex
	r       *rand.Rand
	zipf    *rand.Zipf
	skus    []SimSKU
	nextID  int64
	runID   string
	n       int64
	byKind  map[string]int64
	cuts    [6]float64 // the kinds' cumulative shares (eventCuts)
	client  *kgo.Client
	own     bool
	perr    atomic.Value
	stopped bool

	loop poll.Loop
}

// NewSimulator returns a simulator; Start runs it.
func NewSimulator(cfg SimulatorConfig) (*Simulator, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	skus := append([]SimSKU(nil), cfg.Catalogue...)
	cfg.Catalogue = nil // its copy (skus) is the simulator's: the caller's may go
	var maxID int64
	for i := range skus {
		maxID = max(maxID, skus[i].ID)
		if skus[i].Currency == "" {
			skus[i].Currency = catalog.MarketCurrency[skus[i].Market]
		}
	}
	// Popularity order is a deterministic shuffle of the catalogue.
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5157))
	sort.Slice(skus, func(i, j int) bool { return skus[i].ID < skus[j].ID })
	r.Shuffle(len(skus), func(i, j int) { skus[i], skus[j] = skus[j], skus[i] })
	s := &Simulator{cfg: cfg, r: r, skus: skus, nextID: maxID + 1, byKind: map[string]int64{},
		loop: poll.Loop{Name: "simulator", Every: 10 * time.Millisecond, Immediate: true, Logger: cfg.Logger}}
	s.zipf = rand.NewZipf(r, 1.1, 4, uint64(len(skus)-1))
	s.cuts = eventCuts(cfg.NewSKUShare, cfg.DeleteShare)
	return s, nil
}

// The default shares of new SKUs and deletions among the well-formed events.
const (
	DefaultNewSKUShare = 0.05
	DefaultDeleteShare = 0.03
)

// eventCuts are the cumulative shares of price changes, orders, restocks, views, title edits
// and new SKUs (deletions take the rest) for the given shares of new SKUs and deletions: the
// first five kinds keep their proportions (35:30:12:10:5) in what is left.
func eventCuts(newSKU, del float64) [6]float64 {
	if newSKU == DefaultNewSKUShare && del == DefaultDeleteShare {
		return [6]float64{0.35, 0.65, 0.77, 0.87, 0.92, 0.97} // exactly as before the shares were settings
	}
	rest := 1 - newSKU - del
	base := [5]float64{0.35, 0.65, 0.77, 0.87, 0.92}
	var c [6]float64
	for i, b := range base {
		c[i] = b / 0.92 * rest
	}
	c[4] = rest
	c[5] = rest + newSKU
	if del == 0 {
		c[5] = 1.0001 // Float64 is below 1: never a deletion
	}
	return c
}

// Start begins producing in the background. It is idempotent; a stopped simulator cannot start
// again.
func (s *Simulator) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loop.Running() {
		return nil
	}
	if s.stopped {
		return errors.New("simulator: stopped")
	}
	cl := s.cfg.Client
	if cl == nil {
		var err error
		cl, err = kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...), kgo.DefaultProduceTopic(s.cfg.Topic),
			kgo.ProducerLinger(5 * time.Millisecond)}, s.cfg.ClientOpts...)...)
		if err != nil {
			return fmt.Errorf("simulator: kafka client: %w", err)
		}
		s.own = true
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = EnsureTopics(tctx, cl, DefaultPartitions, s.cfg.Topic, s.cfg.Topic+DLQSuffix)
		cancel()
		if err != nil {
			s.cfg.Logger.Warn("simulator: could not make sure the topics exist", "err", err)
		}
	}
	s.client = cl
	s.runID = strconv.FormatInt(time.Now().UnixMilli(), 36)
	s.loop.Start(context.WithoutCancel(ctx), s.step(ctx))
	return nil
}

// Done is closed when the simulator stops (Stop, or MaxEvents reached).
func (s *Simulator) Done() <-chan struct{} { return s.loop.Done() }

// Stop stops producing, flushes what was produced and closes the client the simulator made.
// It is idempotent.
func (s *Simulator) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	if s.Done() == nil {
		return nil
	}
	if err := s.loop.Stop(ctx); err != nil {
		return err
	}
	err := s.client.Flush(ctx)
	if s.own {
		s.client.Close()
	}
	if e, ok := s.perr.Load().(error); ok {
		return fmt.Errorf("simulator: produce: %w", e)
	}
	return err
}

// Stats returns what was produced so far.
func (s *Simulator) Stats() SimStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SimStats{Produced: s.n, ByKind: make(map[string]int64, len(s.byKind))}
	for k, v := range s.byKind {
		st.ByKind[k] = v
	}
	return st
}

// step produces the records due at Rate since the first step; it ends the loop at MaxEvents.
func (s *Simulator) step(ctx context.Context) poll.Step {
	// Records already made are delivered even when Stop ends the loop: Stop flushes them.
	pctx := context.WithoutCancel(ctx)
	var start time.Time
	var sent int64
	return func(context.Context) error {
		if start.IsZero() {
			start = time.Now()
		}
		due := int64(time.Since(start).Seconds() * s.cfg.Rate)
		for sent < due {
			if s.cfg.MaxEvents > 0 && sent >= int64(s.cfg.MaxEvents) {
				break
			}
			for _, rec := range s.Next(time.Now()) {
				s.client.Produce(pctx, rec, func(_ *kgo.Record, err error) {
					if err != nil {
						s.perr.Store(err)
					}
				})
				sent++
			}
		}
		if s.cfg.MaxEvents > 0 && sent >= int64(s.cfg.MaxEvents) {
			return poll.Done
		}
		return nil
	}
}

// Next makes the next record(s) of the stream at time now (an order makes two). Exported so
// the stream can be inspected and tested without a broker. The draws from the seeded source
// happen in a fixed order (malformed or not, which SKU, which kind, then the kind's own), so
// the stream for a seed stays the same.
func (s *Simulator) Next(now time.Time) []*kgo.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = now.UTC()
	if len(s.skus) == 0 {
		return nil
	}
	if s.r.Float64() < s.cfg.MalformedShare {
		s.byKind["malformed"]++
		return []*kgo.Record{s.malformed(s.eventID(), now)}
	}
	i := int(s.zipf.Uint64())
	k := &s.skus[i]
	c := &s.cuts
	switch p := s.r.Float64(); {
	case p < c[0]:
		return s.priceChange(k, now)
	case p < c[1]:
		return s.order(k, now)
	case p < c[2]:
		return s.restock(k, now)
	case p < c[3]:
		return s.views(k, now)
	case p < c[4]:
		return s.titleEdit(k, now)
	case p < c[5]:
		return s.newVariant(k, now)
	default:
		return s.deletion(i, now)
	}
}

// eventID numbers the next event of the run.
func (s *Simulator) eventID() string {
	s.n++
	return "sim-" + strconv.FormatUint(s.cfg.Seed, 10) + "-" + s.runID + "-" + strconv.FormatInt(s.n, 10)
}

// record makes the record of one event of kind about sku, counting it by kind.
func (s *Simulator) record(kind Kind, sku *SimSKU, now time.Time, data any) *kgo.Record {
	s.byKind[string(kind)]++
	e, err := NewEvent(s.eventID(), kind, sku.ID, sku.Market, now, data)
	if err != nil { // the payload types always marshal
		panic(err)
	}
	b, _ := e.Marshal()
	return &kgo.Record{Topic: s.cfg.Topic, Key: []byte(strconv.FormatInt(sku.ID, 10)), Value: b}
}

// priceChange is a small move, or a flash discount off the list price. The price stays between
// half the list price and the list price, which does not move: a walk without bounds (the list
// price following every rise) drifts without end on the SKUs that take most events, until
// their GMV overflows.
func (s *Simulator) priceChange(k *SimSKU, now time.Time) []*kgo.Record {
	list := max(k.ListPrice, k.Price, 1)
	if s.r.IntN(5) == 0 {
		k.Price = list * int64(60+s.r.IntN(31)) / 100
	} else {
		k.Price = k.Price + k.Price*int64(s.r.IntN(21)-10)/100
	}
	k.Price = min(max(k.Price, list/2, 1), list)
	k.ListPrice = list
	return []*kgo.Record{s.record(KindPrice, k, now, PriceData{Price: k.Price, ListPrice: &k.ListPrice})}
}

// order takes stock down and sales and GMV up: a stock and a metrics event.
func (s *Simulator) order(k *SimSKU, now time.Time) []*kgo.Record {
	qty := int64(1 + s.r.IntN(3))
	if k.Stock < qty {
		k.Stock += int64(20 + s.r.IntN(200)) // restocked before the order
	}
	k.Stock -= qty
	s.decay(k, now)
	m := &k.Metrics
	m.Sales1h, m.Sales24h, m.Sales7d = satAdd(m.Sales1h, qty), satAdd(m.Sales24h, qty), satAdd(m.Sales7d, qty)
	gmv := qty * min(k.Price, math.MaxInt64/4)
	m.GMV1h, m.GMV24h, m.GMV7d = satAdd(m.GMV1h, gmv), satAdd(m.GMV24h, gmv), satAdd(m.GMV7d, gmv)
	m.Views1h, m.Views24h, m.Views7d = satAdd(m.Views1h, 1), satAdd(m.Views24h, 1), satAdd(m.Views7d, 1)
	stock := s.record(KindStock, k, now, StockData{Stock: k.Stock})
	return []*kgo.Record{stock, s.record(KindMetrics, k, now, MetricsDataOf(k.Metrics))}
}

// restock adds stock.
func (s *Simulator) restock(k *SimSKU, now time.Time) []*kgo.Record {
	k.Stock += int64(20 + s.r.IntN(200))
	return []*kgo.Record{s.record(KindStock, k, now, StockData{Stock: k.Stock})}
}

// views adds page views and sometimes a new rating.
func (s *Simulator) views(k *SimSKU, now time.Time) []*kgo.Record {
	s.decay(k, now)
	v := int64(1 + s.r.IntN(30))
	m := &k.Metrics
	m.Views1h, m.Views24h, m.Views7d = satAdd(m.Views1h, v), satAdd(m.Views24h, v), satAdd(m.Views7d, v)
	if s.r.IntN(10) == 0 {
		stars := float32(1 + s.r.IntN(5))
		m.Rating = (m.Rating*float32(m.RatingCount) + stars) / float32(m.RatingCount+1)
		m.Rating = float32(math.Round(float64(m.Rating)*100) / 100)
		m.RatingCount++
	}
	return []*kgo.Record{s.record(KindMetrics, k, now, MetricsDataOf(k.Metrics))}
}

// titleEdit changes the title's suffix: the text changes, the SKU is queued for embedding.
func (s *Simulator) titleEdit(k *SimSKU, now time.Time) []*kgo.Record {
	suffix := []string{" (2025 model)", " - new packaging", " [bundle]", ""}[s.r.IntN(4)]
	base := k.Title
	for _, sfx := range []string{" (2025 model)", " - new packaging", " [bundle]"} {
		if len(base) >= len(sfx) && base[len(base)-len(sfx):] == sfx {
			base = base[:len(base)-len(sfx)]
		}
	}
	k.Title = base + suffix
	if k.Title == "" {
		k.Title = "Untitled " + strconv.FormatInt(k.ID, 10)
	}
	return []*kgo.Record{s.record(KindUpsert, k, now, UpsertData{Title: &k.Title})}
}

// newVariant launches a new SKU, a variant of k released today, and adds it to the catalogue.
func (s *Simulator) newVariant(k *SimSKU, now time.Time) []*kgo.Record {
	n := *k
	n.ID = s.nextID
	s.nextID++
	n.Title = k.Title + " (variant " + strconv.FormatInt(n.ID%1000, 10) + ")"
	n.Stock = int64(10 + s.r.IntN(100))
	n.Metrics = catalog.Metrics{}
	n.metricsAt = time.Time{}
	s.skus = append(s.skus, n) // k may point into the old array from here on
	s.zipf = rand.NewZipf(s.r, 1.1, 4, uint64(len(s.skus)-1))
	cur := n.Currency
	if cur == "" {
		cur = "USD"
	}
	attrs, _ := json.Marshal(map[string]any{"_generated": []string{"simulator"}})
	m := MetricsDataOf(n.Metrics)
	released := now.UTC().Truncate(24 * time.Hour) // a launch: released today
	return []*kgo.Record{s.record(KindUpsert, &n, now, UpsertData{Title: &n.Title, Brand: &n.Brand, Category: &n.Category,
		ProductType: &n.ProductType, Attributes: attrs, ReleasedAt: &released, Currency: &cur, Price: &n.Price,
		ListPrice: &n.ListPrice, Stock: &n.Stock, Metrics: &m})}
}

// deletion discontinues the SKU at index i (the last one stays, so that there is always one).
func (s *Simulator) deletion(i int, now time.Time) []*kgo.Record {
	gone := s.skus[i]
	if len(s.skus) > 1 {
		s.skus[i] = s.skus[len(s.skus)-1]
		s.skus = s.skus[:len(s.skus)-1]
		s.zipf = rand.NewZipf(s.r, 1.1, 4, uint64(len(s.skus)-1))
	}
	return []*kgo.Record{s.record(KindDelete, &gone, now, DeleteData{Reason: "discontinued"})}
}

// satAdd is a+b for counters that are never negative, held at math.MaxInt64 rather than
// wrapping (a catalogue read from a data set may hold any value the events allow).
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// decay shrinks the moving windows by the time since the SKU's last metrics update.
func (s *Simulator) decay(k *SimSKU, now time.Time) {
	if !k.metricsAt.IsZero() {
		dt := now.Sub(k.metricsAt).Seconds()
		f := func(v int64, window float64) int64 { return int64(float64(v) * math.Exp(-dt/window)) }
		m := &k.Metrics
		m.Sales1h, m.Sales24h, m.Sales7d = f(m.Sales1h, 3600), f(m.Sales24h, 86400), f(m.Sales7d, 604800)
		m.GMV1h, m.GMV24h, m.GMV7d = f(m.GMV1h, 3600), f(m.GMV24h, 86400), f(m.GMV7d, 604800)
		m.Views1h, m.Views24h, m.Views7d = f(m.Views1h, 3600), f(m.Views24h, 86400), f(m.Views7d, 604800)
	}
	k.metricsAt = now
}

func (s *Simulator) malformed(eid string, now time.Time) *kgo.Record {
	k := &s.skus[s.r.IntN(len(s.skus))]
	id := strconv.FormatInt(k.ID, 10)
	at := now.Format(time.RFC3339Nano)
	var v string
	switch s.r.IntN(6) {
	case 0:
		v = `{"v":1,"event_id":"` + eid + `","kind":"price.update","sku_id":"` + id + `","market":"` + k.Market + `","event_time":"` + at + `","data":{"price":` // cut off
	case 1:
		v = `{"v":1,"event_id":"` + eid + `","kind":"price.update","sku_id":"` + id + `","market":"` + k.Market + `","event_time":"` + at + `","data":{"price":-100}}`
	case 2:
		v = `{"v":1,"event_id":"` + eid + `","kind":"price.changed","sku_id":"` + id + `","market":"` + k.Market + `","event_time":"` + at + `","data":{"price":100}}`
	case 3:
		v = `{"v":1,"event_id":"` + eid + `","kind":"stock.update","sku_id":"` + id + `","market":"US","event_time":"` + at + `","data":{"stock":5}}`
	case 4:
		v = `{"v":1,"event_id":"` + eid + `","kind":"stock.update","sku_id":"` + id + `","market":"` + k.Market + `","event_time":"` + now.Add(48*time.Hour).Format(time.RFC3339Nano) + `","data":{"stock":5}}`
	default:
		v = `{"v":2,"event_id":"` + eid + `","kind":"stock.update","sku_id":"` + id + `"}`
	}
	return &kgo.Record{Topic: s.cfg.Topic, Key: []byte(id), Value: []byte(v)}
}

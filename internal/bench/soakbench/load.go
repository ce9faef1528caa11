package soakbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// The routes the load drives, in report order.
const (
	RouteSearch     = "POST /v1/search"
	RoutePlan       = "POST /v1/plan"
	RoutePoolCreate = "POST /v1/pools"
	RoutePoolDelete = "DELETE /v1/pools/{id}"
	RouteRefresh    = "POST /v1/pools/{id}/refresh"
	RouteItems      = "GET /v1/pools/{id}/items"
	RouteExport     = "GET /v1/pools/{id}/export"
	RouteDiff       = "GET /v1/pools/{id}/diff"
)

// Routes lists the routes in report order.
var Routes = []string{RouteSearch, RoutePlan, RoutePoolCreate, RouteRefresh, RouteItems, RouteExport, RouteDiff, RoutePoolDelete}

// Scenarios are the planner's texts the load plans, searches and saves as pools: product
// types of the Icecat catalogue with price, stock and ranking words.
var Scenarios = []string{
	"toner cartridge under $100 in stock, best sellers, top 20",
	"gaming mouse by Logitech, top rated",
	"laptops under $1500 in stock, best sellers",
	"cheapest usb cables",
	"notebook bags, most viewed, top 30",
	"ink cartridges by HP in stock",
	"computer monitors 27 inch, best sellers",
	"keyboards under $50",
}

// LoadConfig configures a Load.
type LoadConfig struct {
	// Base is the service's base URL (http://host:port). Required.
	Base string
	// Key is an API key with the planner role. Required.
	Key string
	// Clients is the number of concurrent clients. Default: 8.
	Clients int
	// Rate is requests per second of all clients together; each client waits its share
	// between requests. 0: every client sends its next request as soon as it has the answer.
	// Default: 0.
	Rate float64
	// Seed of the clients' choices. Default: 1.
	Seed uint64
	// Timeout of one request. Default: 60s (above the server's 30 s request limit).
	Timeout time.Duration
}

// Bad is an answer the load counts against the service: a 5xx other than 503, or a 503 (or
// any error answer) whose body is not problem+json.
type Bad struct {
	Route  string
	Status int
	Body   string
}

// RouteStats are one route's answers.
type RouteStats struct {
	Route     string
	Requests  int
	ByStatus  map[int]int
	Errors    int        // transport errors (no answer)
	Latencies *Latencies // of answered requests
}

// Count5xx is the route's answers with a 5xx status.
func (r RouteStats) Count5xx() int {
	n := 0
	for s, c := range r.ByStatus {
		if s >= 500 {
			n += c
		}
	}
	return n
}

// Quantile is the q-quantile of the route's latencies (0 without answers).
func (r RouteStats) Quantile(q float64) time.Duration {
	if r.Latencies == nil {
		return 0
	}
	return r.Latencies.Quantile(q)
}

// Load drives the API with a mix of routes from concurrent clients: search and plan (most of
// the traffic), pool creation, refresh, items paging (three pages), export and diff of the
// client's pools, and deletion of its oldest pool once it holds four. It records the status
// and latency of every answer by route.
type Load struct {
	cfg  LoadConfig
	http *http.Client

	mu    sync.Mutex
	stats map[string]*RouteStats
	bad   []Bad
	nbad  int

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartLoad starts the clients; Stop ends them.
func StartLoad(ctx context.Context, cfg LoadConfig) (*Load, error) {
	if cfg.Base == "" || cfg.Key == "" {
		return nil, errors.New("soak load: Base and Key are required")
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 8
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	l := &Load{cfg: cfg, stats: map[string]*RouteStats{},
		http: &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Clients}}}
	for _, r := range Routes {
		l.stats[r] = &RouteStats{Route: r, ByStatus: map[int]int{}, Latencies: new(Latencies)}
	}
	ctx, l.cancel = context.WithCancel(ctx)
	for i := range cfg.Clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.client(ctx, rand.New(rand.NewPCG(cfg.Seed, uint64(i))))
		}()
	}
	return l, nil
}

// Stop ends the clients (a request in flight is abandoned) and waits for them.
func (l *Load) Stop() {
	l.cancel()
	l.wg.Wait()
	l.http.CloseIdleConnections()
}

// Stats returns the answers so far, by route in report order, and the bad answers (at most 20
// kept) with their number.
func (l *Load) Stats() ([]RouteStats, []Bad, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]RouteStats, 0, len(Routes))
	for _, r := range Routes {
		s := *l.stats[r]
		s.ByStatus = make(map[int]int, len(l.stats[r].ByStatus))
		for k, v := range l.stats[r].ByStatus {
			s.ByStatus[k] = v
		}
		lat := *s.Latencies
		s.Latencies = &lat
		out = append(out, s)
	}
	return out, slices.Clone(l.bad), l.nbad
}

// Reset forgets the answers so far (after a warm-up).
func (l *Load) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range Routes {
		l.stats[r] = &RouteStats{Route: r, ByStatus: map[int]int{}, Latencies: new(Latencies)}
	}
	l.bad, l.nbad = nil, 0
}

type clientPool struct {
	id      string
	version int
}

func (l *Load) client(ctx context.Context, r *rand.Rand) {
	var pools []clientPool
	var gap time.Duration
	if l.cfg.Rate > 0 {
		gap = time.Duration(float64(l.cfg.Clients) / l.cfg.Rate * float64(time.Second))
	}
	next := time.Now()
	for ctx.Err() == nil {
		if gap > 0 {
			next = next.Add(gap)
			if d := time.Until(next); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			} else if d < -10*gap {
				next = time.Now() // fallen far behind: do not burst to catch up
			}
		}
		scenario := Scenarios[r.IntN(len(Scenarios))]
		p := r.Float64()
		switch {
		case len(pools) == 0 || p < 0.05:
			var resp struct {
				ID             string `json:"id"`
				CurrentVersion int    `json:"current_version"`
			}
			if l.do(ctx, RoutePoolCreate, "POST", "/v1/pools", map[string]any{"name": fmt.Sprintf("soak %d", r.Uint32()), "scenario": scenario}, &resp) {
				pools = append(pools, clientPool{id: resp.ID, version: resp.CurrentVersion})
			}
			if len(pools) > 4 {
				l.do(ctx, RoutePoolDelete, "DELETE", "/v1/pools/"+pools[0].id, nil, nil)
				pools = pools[1:]
			}
		case p < 0.40:
			l.do(ctx, RouteSearch, "POST", "/v1/search", map[string]any{"scenario": scenario, "limit": 20}, nil)
		case p < 0.60:
			l.do(ctx, RoutePlan, "POST", "/v1/plan", map[string]any{"scenario": scenario}, nil)
		case p < 0.70:
			pl := &pools[r.IntN(len(pools))]
			var out struct {
				Version int `json:"version"`
			}
			if l.do(ctx, RouteRefresh, "POST", "/v1/pools/"+pl.id+"/refresh", nil, &out) {
				pl.version = out.Version
			}
		case p < 0.85:
			pl := pools[r.IntN(len(pools))]
			cursor := ""
			for range 3 {
				var page struct {
					Next string `json:"next_cursor"`
				}
				path := "/v1/pools/" + pl.id + "/items?limit=10"
				if cursor != "" {
					path += "&cursor=" + cursor
				}
				if !l.do(ctx, RouteItems, "GET", path, nil, &page) || page.Next == "" {
					break
				}
				cursor = page.Next
			}
		case p < 0.92:
			pl := pools[r.IntN(len(pools))]
			l.do(ctx, RouteExport, "GET", "/v1/pools/"+pl.id+"/export?format=csv", nil, nil)
		default:
			pl := pools[r.IntN(len(pools))]
			l.do(ctx, RouteDiff, "GET", "/v1/pools/"+pl.id+"/diff?from=1", nil, nil)
		}
	}
}

// do sends one request and records its answer; it decodes a 2xx JSON body into out and
// reports whether the answer was a 2xx.
func (l *Load) do(ctx context.Context, route, method, path string, body any, out any) bool {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.cfg.Base+path, rd)
	if err != nil {
		return false
	}
	req.Header.Set("X-API-Key", l.cfg.Key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := l.http.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			l.mu.Lock()
			l.stats[route].Requests++
			l.stats[route].Errors++
			l.mu.Unlock()
		}
		return false
	}
	data, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if ctx.Err() != nil {
		return false // stopped meanwhile: not an answer to count
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300 && rerr == nil
	l.mu.Lock()
	s := l.stats[route]
	s.Requests++
	s.ByStatus[resp.StatusCode]++
	s.Latencies.Add(took)
	problem := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json")
	if (resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable) || (resp.StatusCode >= 400 && !problem) || rerr != nil {
		l.nbad++
		if len(l.bad) < 20 {
			if rerr != nil {
				data = append(data, " (read: "+rerr.Error()+")"...)
			}
			l.bad = append(l.bad, Bad{Route: route, Status: resp.StatusCode, Body: string(data[:min(len(data), 300)])})
		}
	}
	l.mu.Unlock()
	if ok && out != nil {
		_ = json.Unmarshal(data, out)
	}
	return ok
}

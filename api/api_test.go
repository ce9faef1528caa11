package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"selection/api"
	"selection/catalog"
	"selection/internal/testdb"
	"selection/selection"
	"selection/tagger"
	"selection/web"
)

var update = flag.Bool("update", false, "rewrite golden files")

type harness struct {
	t       testing.TB
	srv     *api.Server
	h       http.Handler
	planner string
	reader  string
	db      *testdb.DB
	reg     *prometheus.Registry
	tg      *tagger.Tagger
	svc     *selection.Service
}

// newHarness serves 30 SKUs with a planner key (alice) and a reader key (bob); opts adjust the
// server's configuration.
func newHarness(t *testing.T, opts ...func(*api.Config)) *harness {
	t.Helper()
	cfg := api.Config{MaxBodyBytes: 4096}
	for _, o := range opts {
		o(&cfg)
	}
	return newHarnessWith(t, cfg)
}

// newHarnessWith is newHarness with the server's configuration.
func newHarnessWith(t testing.TB, cfg api.Config) *harness {
	t.Helper()
	ctx := context.Background()
	db := testdb.New(t)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var ps []catalog.Patch
	for i := int64(1); i <= 30; i++ {
		brand := "Logitech"
		if i%3 == 0 {
			brand = "Razer"
		}
		ps = append(ps, catalog.Patch{ID: 9_000_000_000_000_000_000 + i, Fields: catalog.FieldMarket | catalog.FieldTitle | catalog.FieldBrand |
			catalog.FieldCurrency | catalog.FieldPrice | catalog.FieldListPrice | catalog.FieldStock | catalog.FieldMetrics,
			Market: "SG", Title: fmt.Sprintf("gaming mouse %d", i), Brand: brand, Currency: "USD", Price: i * 100, ListPrice: i * 150,
			Stock: i % 4, Metrics: catalog.Metrics{Sales7d: 100 - i}, ContentAt: at, PriceAt: at, StockAt: at, MetricsAt: at})
	}
	store := catalog.NewStore(db.Pool)
	_, err := store.Upsert(ctx, ps)
	require.NoError(t, err)
	pools := selection.NewPoolStore(db.Pool)
	tg, err := tagger.New(db.Pool, nil, nil, tagger.Config{SaveInterval: -1, Referrers: pools.ReferringTo})
	require.NoError(t, err)
	_, err = tg.Load(ctx)
	require.NoError(t, err)
	ix := tg.Index()
	svc := &selection.Service{Executor: &selection.Executor{Index: ix}, Pools: pools, DB: db.Pool,
		Vocabulary: func() selection.Vocabulary {
			return selection.StaticVocabulary{BrandList: []string{"Logitech", "Razer"}}
		}}
	planner, err := api.CreateKey(ctx, db.Pool, "alice", api.RolePlanner)
	require.NoError(t, err)
	reader, err := api.CreateKey(ctx, db.Pool, "bob", api.RoleReader)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	srv, err := api.New(cfg, api.Deps{DB: db.Pool, Service: svc, Catalog: store, Index: ix,
		Tags: api.TaggerService{Tagger: tg}, Registry: reg})
	require.NoError(t, err)
	return &harness{t: t, srv: srv, h: srv.Handler(), planner: planner, reader: reader, db: db, reg: reg, tg: tg, svc: svc}
}

func (h *harness) do(method, path, key string, body any, hdr ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(h.t, err)
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, r)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, req)
	return w
}

func decodeJSON[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v), w.Body.String())
	return v
}

func requireProblem(t *testing.T, w *httptest.ResponseRecorder, status int) api.Problem {
	t.Helper()
	require.Equal(t, status, w.Code, w.Body.String())
	require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	p := decodeJSON[api.Problem](t, w)
	require.Equal(t, status, p.Status)
	return p
}

func TestAuthAndRoles(t *testing.T) {
	h := newHarness(t)
	requireProblem(t, h.do("GET", "/v1/pools", "", nil), 401)
	requireProblem(t, h.do("GET", "/v1/pools", "sk_r_wrong", nil), 401)
	w := h.do("GET", "/v1/pools", "", nil, "Authorization", "Bearer "+h.reader)
	require.Equal(t, 200, w.Code, w.Body.String())
	p := requireProblem(t, h.do("POST", "/v1/plan", h.reader, map[string]string{"scenario": "mice"}), 403)
	require.Contains(t, p.Detail, "planner role")
	requireProblem(t, h.do("POST", "/v1/pools", h.reader, map[string]any{"name": "x", "scenario": "mice"}), 403)
	require.Equal(t, 200, h.do("POST", "/v1/plan", h.planner, map[string]string{"scenario": "mice"}).Code)
	// Health and the API document need no key.
	require.Equal(t, 200, h.do("GET", "/healthz", "", nil).Code)
	require.Equal(t, 200, h.do("GET", "/readyz", "", nil).Code)
	require.Equal(t, 200, h.do("GET", "/v1/openapi.json", "", nil).Code)
	metrics := h.do("GET", "/metrics", "", nil)
	require.Equal(t, 200, metrics.Code)
	require.Contains(t, metrics.Body.String(), "selection_http_request_duration_seconds")
}

func TestBadInputIsAProblem(t *testing.T) {
	h := newHarness(t)
	requireProblem(t, h.do("POST", "/v1/plan", h.planner, "{not json"), 400)
	requireProblem(t, h.do("POST", "/v1/plan", h.planner, `{"scenario":"x","extra":1}`), 400)
	requireProblem(t, h.do("POST", "/v1/plan", h.planner, `{"scenario":""}`), 400)
	requireProblem(t, h.do("POST", "/v1/plan", h.planner, `{"scenario":"`+strings.Repeat("a", 5000)+`"}`), 413)
	requireProblem(t, h.do("POST", "/v1/search", h.reader, `{"plan":{"version":1,"query":"","ranking":{"by":"fastest"},"limit":5}}`), 400)
	requireProblem(t, h.do("POST", "/v1/search", h.reader, `{"plan":{"version":1,"query":"","filter":{"tag":"nope"},"ranking":{"by":"sales"},"limit":5}}`), 400)
	requireProblem(t, h.do("POST", "/v1/search", h.reader, `{"plan":{"version":1,"query":"","filter":{"range":{"field":"colour","gte":1}},"ranking":{"by":"sales"},"limit":5}}`), 400)
	requireProblem(t, h.do("GET", "/v1/pools/abc", h.reader, nil), 400)
	requireProblem(t, h.do("GET", "/v1/pools/77", h.reader, nil), 404)
	requireProblem(t, h.do("GET", "/v1/pools/77/items?cursor=zzz", h.reader, nil), 400)
	requireProblem(t, h.do("GET", "/v1/pools/77/items?limit=0", h.reader, nil), 400)
	requireProblem(t, h.do("GET", "/v1/skus?ids=1,x", h.reader, nil), 400)
	requireProblem(t, h.do("GET", "/v1/skus/5", h.reader, nil), 404)
	requireProblem(t, h.do("GET", "/v1/nothing", h.reader, nil), 404)
	requireProblem(t, h.do("POST", "/v1/pools", h.planner, map[string]any{"name": "", "scenario": "mice"}), 400)
	requireProblem(t, h.do("POST", "/v1/pools", h.planner, map[string]any{"name": "w", "scenario": "mice",
		"valid_from": "2026-12-01T00:00:00Z", "valid_until": "2026-11-01T00:00:00Z"}), 400)
}

func TestPoolLifecycle(t *testing.T) {
	h := newHarness(t)
	// Plan for review, edit, create from the edited plan.
	pr := decodeJSON[selection.PlanResponse](t, h.do("POST", "/v1/plan", h.planner,
		map[string]string{"scenario": "best sellers by Razer in stock, top 4"}))
	require.Equal(t, "sales", pr.Plan.Ranking.By)
	require.Equal(t, 4, pr.Plan.Limit)
	pr.Plan.Limit = 6
	w := h.do("POST", "/v1/pools", h.planner, map[string]any{"name": "razer", "plan": pr.Plan})
	require.Equal(t, 201, w.Code, w.Body.String())
	require.NotEmpty(t, w.Header().Get("Location"))
	pool := decodeJSON[selection.Pool](t, w)
	require.Equal(t, 1, pool.CurrentVersion)
	base := fmt.Sprintf("/v1/pools/%d", pool.ID)

	// Page through with a cursor; the ETag answers 304 when nothing changed.
	w = h.do("GET", base+"/items?limit=4", h.reader, nil)
	require.Equal(t, 200, w.Code, w.Body.String())
	type page struct {
		Version    int            `json:"version"`
		Total      int            `json:"total"`
		Items      []api.ItemView `json:"items"`
		NextCursor string         `json:"next_cursor"`
	}
	p1 := decodeJSON[page](t, w)
	require.Equal(t, 4, len(p1.Items))
	// Razer = multiples of 3 with stock = i%4 > 0: 3, 6, 9, 15, 18, 21, 27, 30 -> best sellers first.
	require.Equal(t, "gaming mouse 3", p1.Items[0].Title)
	require.Equal(t, 1, p1.Items[0].Rank)
	etag := w.Header().Get("ETag")
	require.NotEmpty(t, etag)
	require.Equal(t, 304, h.do("GET", base+"/items?limit=4", h.reader, nil, "If-None-Match", etag).Code)
	p2 := decodeJSON[page](t, h.do("GET", base+"/items?limit=4&cursor="+p1.NextCursor, h.reader, nil))
	require.Equal(t, 2, len(p2.Items))
	require.Equal(t, 5, p2.Items[0].Rank)
	require.Empty(t, p2.NextCursor)
	// A cursor past the end (even one whose offset would overflow) is an empty page, not a 500.
	far := base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"o":9223372036854775807}`))
	w = h.do("GET", base+"/items?limit=4&cursor="+far, h.reader, nil)
	require.Equal(t, 200, w.Code, w.Body.String())
	require.Empty(t, decodeJSON[page](t, w).Items)

	// Edit: pin a SKU and exclude the best seller, refresh, diff.
	pr.Plan.Pins = selection.IDs{9_000_000_000_000_000_001}
	pr.Plan.Exclusions = selection.IDs{9_000_000_000_000_000_003}
	w = h.do("PUT", base, h.planner, map[string]any{"name": "razer+", "plan": pr.Plan})
	require.Equal(t, 200, w.Code, w.Body.String())
	out := decodeJSON[selection.RefreshOutcome](t, h.do("POST", base+"/refresh", h.planner, nil))
	require.True(t, out.Changed)
	require.Equal(t, 2, out.Version)
	d := decodeJSON[selection.Diff](t, h.do("GET", base+"/diff", h.reader, nil))
	require.Equal(t, 1, d.From)
	require.Equal(t, []selection.Moved{{SKUID: 9_000_000_000_000_000_001, ToRank: 1}}, d.Added)
	require.Contains(t, d.Removed, selection.Moved{SKUID: 9_000_000_000_000_000_003, FromRank: 1})
	// The old cursor still pages version 1.
	old := decodeJSON[page](t, h.do("GET", base+"/items?limit=4&cursor="+p1.NextCursor, h.reader, nil))
	require.Equal(t, 1, old.Version)
	// A second refresh changes nothing.
	out = decodeJSON[selection.RefreshOutcome](t, h.do("POST", base+"/refresh", h.planner, nil))
	require.False(t, out.Changed)

	vs := decodeJSON[map[string][]selection.VersionInfo](t, h.do("GET", base+"/versions", h.reader, nil))
	require.Len(t, vs["versions"], 2)
	// Paged: newest first, next_before the cursor of the older page, absent on the last.
	type versionPage struct {
		Versions   []selection.VersionInfo `json:"versions"`
		NextBefore string                  `json:"next_before"`
	}
	vp := decodeJSON[versionPage](t, h.do("GET", base+"/versions?limit=1", h.reader, nil))
	require.Len(t, vp.Versions, 1)
	require.Equal(t, 2, vp.Versions[0].Version)
	require.Equal(t, "2", vp.NextBefore)
	vp = decodeJSON[versionPage](t, h.do("GET", base+"/versions?limit=1&before="+vp.NextBefore, h.reader, nil))
	require.Len(t, vp.Versions, 1)
	require.Equal(t, 1, vp.Versions[0].Version)
	require.Empty(t, vp.NextBefore)
	require.Equal(t, 400, h.do("GET", base+"/versions?before=x", h.reader, nil).Code)
	require.Equal(t, 400, h.do("GET", base+"/versions?limit=0", h.reader, nil).Code)

	// Export both forms.
	w = h.do("GET", base+"/export?format=csv", h.reader, nil)
	require.Equal(t, 200, w.Code)
	lines := strings.Split(strings.TrimSpace(w.Body.String()), "\n")
	require.Equal(t, 7, len(lines))
	require.True(t, strings.HasPrefix(lines[1], "1,9000000000000000001,gaming mouse 1,"), lines[1])
	w = h.do("GET", base+"/export?format=jsonl&version=1", h.reader, nil)
	require.Equal(t, 200, w.Code)
	require.Equal(t, 6, strings.Count(w.Body.String(), "\n"))
	requireProblem(t, h.do("GET", base+"/export?format=xml", h.reader, nil), 400)

	// List, look up, delete.
	lst := decodeJSON[map[string][]selection.Pool](t, h.do("GET", "/v1/pools", h.reader, nil))
	require.Len(t, lst["pools"], 1)
	sk := decodeJSON[map[string]any](t, h.do("GET", "/v1/skus/9000000000000000001", h.reader, nil))
	require.Equal(t, "9000000000000000001", sk["id"])
	require.Equal(t, 204, h.do("DELETE", base, h.planner, nil).Code)
	requireProblem(t, h.do("GET", base, h.reader, nil), 404)
}

func TestSearchPreview(t *testing.T) {
	h := newHarness(t)
	f := decodeJSON[map[string]any](t, h.do("POST", "/v1/filters/parse", h.reader, map[string]string{"text": "brand = Logitech and price <= 500"}))
	require.Equal(t, map[string]any{"and": []any{map[string]any{"attr": map[string]any{"field": "brand", "value": "Logitech"}},
		map[string]any{"range": map[string]any{"field": "price", "lte": float64(500)}}}}, f["filter"])
	requireProblem(t, h.do("POST", "/v1/filters/parse", h.reader, map[string]string{"text": "brand ="}), 400)
	w := h.do("POST", "/v1/search", h.reader, map[string]any{"scenario": "cheapest by Logitech under $5", "limit": 3})
	require.Equal(t, 200, w.Code, w.Body.String())
	res := decodeJSON[map[string]any](t, w)
	items := res["items"].([]any)
	require.Len(t, items, 3)
	require.Equal(t, "gaming mouse 1", items[0].(map[string]any)["title"])
	require.Equal(t, float64(100), items[0].(map[string]any)["price"])
}

func TestOpenAPIGolden(t *testing.T) {
	got := api.OpenAPI()
	path := "testdata/openapi.golden.json"
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./api -run TestOpenAPIGolden -update")
	require.Equal(t, string(want), string(got), "the API changed: review and run go test ./api -run TestOpenAPIGolden -update")
	var doc map[string]any
	require.NoError(t, json.Unmarshal(got, &doc))
	require.Equal(t, "3.0.3", doc["openapi"])
	// redocly lint's recommended rules want servers and a license with a URL; the URL is
	// served (npm exec @redocly/cli lint openapi.json: valid, no warnings, 2026-12-05).
	require.NotEmpty(t, doc["servers"])
	license := doc["info"].(map[string]any)["license"].(map[string]any)
	srv, err := api.New(api.Config{}, api.Deps{Web: web.FS()})
	require.NoError(t, err)
	h := &harness{t: t, srv: srv, h: srv.Handler()}
	w := h.do("GET", license["url"].(string), "", nil)
	require.Equal(t, 200, w.Code)
	require.Contains(t, w.Body.String(), "All rights reserved")
}

func TestEveryRouteIsDocumented(t *testing.T) {
	h := newHarness(t)
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(h.do("GET", "/v1/openapi.json", "", nil).Body.Bytes(), &doc))
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(documented)
	require.Equal(t, api.Documented(), h.srv.Routes(), "every registered route is documented and the other way round")
	// Every documented operation answers something other than 404/405 for its route.
	for _, d := range documented {
		parts := strings.SplitN(d, " ", 2)
		path := strings.ReplaceAll(parts[1], "{id}", "1")
		w := h.do(parts[0], path, h.planner, "{}")
		require.NotEqual(t, 405, w.Code, d)
		if w.Code == 404 {
			p := decodeJSON[api.Problem](t, w)
			require.NotContains(t, p.Detail, "no route", d)
		}
	}
}

// Tags over the API: a planner defines a rule tag, it is listed with its members, a pool and
// another tag that use it keep it from being deleted (409), and then it is deleted (204).
func TestTagsDefineAndDelete(t *testing.T) {
	h := newHarness(t)
	w := h.do("POST", "/v1/tags", h.planner, map[string]any{"name": "Razer-Mice", "kind": "rule",
		"rule": map[string]any{"attr": map[string]any{"field": "brand", "value": "Razer"}}})
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	created := decodeJSON[map[string]any](t, w)
	require.EqualValues(t, 10, created["members"])
	requireProblem(t, h.do("POST", "/v1/tags", h.planner, map[string]any{"name": "razer-mice", "kind": "rule",
		"rule": map[string]any{"all": true}}), http.StatusBadRequest)
	requireProblem(t, h.do("POST", "/v1/tags", h.reader, map[string]any{"name": "x", "kind": "rule",
		"rule": map[string]any{"all": true}}), http.StatusForbidden)
	w = h.do("POST", "/v1/tags", h.planner, map[string]any{"name": "cheap-razer", "kind": "rule",
		"rule": map[string]any{"and": []any{map[string]any{"tag": "razer-mice"}, map[string]any{"range": map[string]any{"field": "price", "lt": 1500}}}}})
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	w = h.do("GET", "/v1/tags", h.reader, nil)
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), `"name":"Razer-Mice","kind":"rule","members":10`)
	// A rule tag by its titles' words ("gaming mouse 3", ...; a phrase needs all its words),
	// with a rule or alone; words without a letter are refused.
	w = h.do("POST", "/v1/tags", h.planner, map[string]any{"name": "razer-gaming", "kind": "rule", "words": []string{"Gaming Mouse"},
		"rule": map[string]any{"tag": "razer-mice"}})
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	require.EqualValues(t, 10, decodeJSON[map[string]any](t, w)["members"])
	w = h.do("POST", "/v1/tags", h.planner, map[string]any{"name": "trackballs", "kind": "rule", "words": []string{"trackball"}})
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	require.EqualValues(t, 0, decodeJSON[map[string]any](t, w)["members"])
	requireProblem(t, h.do("POST", "/v1/tags", h.planner, map[string]any{"name": "x", "kind": "rule", "words": []string{"--"}}), http.StatusBadRequest)
	require.Equal(t, http.StatusNoContent, h.do("DELETE", "/v1/tags/razer-gaming", h.planner, nil).Code)
	require.Equal(t, http.StatusNoContent, h.do("DELETE", "/v1/tags/trackballs", h.planner, nil).Code)

	w = h.do("POST", "/v1/pools", h.planner, map[string]any{"name": "razer week",
		"plan": map[string]any{"version": 1, "filter": map[string]any{"tag": "cheap-razer"}, "ranking": map[string]any{"by": "sales"}, "limit": 5}})
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	poolID := decodeJSON[map[string]any](t, w)["id"].(string)

	p := requireProblem(t, h.do("DELETE", "/v1/tags/razer-mice", h.planner, nil), http.StatusConflict)
	require.Contains(t, p.Detail, "in use by tag cheap-razer")
	p = requireProblem(t, h.do("DELETE", "/v1/tags/cheap-razer", h.planner, nil), http.StatusConflict)
	require.Contains(t, p.Detail, `pool "razer week"`)
	requireProblem(t, h.do("DELETE", "/v1/tags/cheap-razer", h.reader, nil), http.StatusForbidden)
	requireProblem(t, h.do("DELETE", "/v1/tags/nosuch", h.planner, nil), http.StatusNotFound)
	requireProblem(t, h.do("DELETE", "/v1/tags/", h.planner, nil), http.StatusBadRequest)

	require.Equal(t, http.StatusNoContent, h.do("DELETE", "/v1/pools/"+poolID, h.planner, nil).Code)
	require.Equal(t, http.StatusNoContent, h.do("DELETE", "/v1/tags/cheap-razer", h.planner, nil).Code)
	require.Equal(t, http.StatusNoContent, h.do("DELETE", "/v1/tags/RAZER-MICE", h.planner, nil).Code)
	// Discovered tags are named family/topic: the slash is part of the name.
	w = h.do("POST", "/v1/tags", h.planner, map[string]any{"name": "deals/razer", "kind": "rule",
		"rule": map[string]any{"attr": map[string]any{"field": "brand", "value": "Razer"}}})
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	require.Equal(t, http.StatusNoContent, h.do("DELETE", "/v1/tags/deals/razer", h.planner, nil).Code)
	w = h.do("GET", "/v1/tags", h.reader, nil)
	require.Equal(t, `{"tags":[]}`, w.Body.String())
}

// Boost and bury rules and slots through the API: the plan carries them as filter text, each
// item names what moved it, and bad ones are refused with 400.
func TestRulesAndSlotsThroughTheAPI(t *testing.T) {
	h := newHarness(t)
	plan := map[string]any{"version": 1, "query": "", "ranking": map[string]any{"by": "sales"}, "limit": 6,
		"rules": []any{map[string]any{"name": "razer up", "filter": "brand = Razer", "factor": 0.5}},
		"slots": []any{map[string]any{"from": 1, "to": 1, "filter": "stock = 0"}}}
	w := h.do("POST", "/v1/search", h.reader, map[string]any{"plan": plan})
	require.Equal(t, 200, w.Code, w.Body.String())
	res := decodeJSON[map[string]any](t, w)
	var got []string
	items := res["items"].([]any)
	for _, it := range items {
		got = append(got, strings.TrimPrefix(it.(map[string]any)["sku_id"].(string), "90000000000000000"))
	}
	// By sales: 1, 2, 3, ...; Razer (3, 6, 9) up by a quarter of the list, the first SKU out of
	// stock (4) in position 1.
	require.Equal(t, []string{"04", "03", "01", "02", "06", "05"}, got)
	require.Equal(t, "stock = 0", items[0].(map[string]any)["slot"])
	require.Equal(t, []any{"razer up +0.50"}, items[1].(map[string]any)["rules"])
	require.Nil(t, items[2].(map[string]any)["rules"])
	rules := res["plan"].(map[string]any)["rules"].([]any)
	require.Equal(t, "brand = Razer", rules[0].(map[string]any)["filter"])

	// Bury: SKUs without stock (4, 8, 12) sink by half the list; the others keep their order.
	w = h.do("POST", "/v1/search", h.reader, map[string]any{"plan": map[string]any{"version": 1, "query": "", "ranking": map[string]any{"by": "sales"},
		"limit": 6, "rules": []any{map[string]any{"name": "no stock", "filter": "stock = 0", "factor": -1}}}})
	require.Equal(t, 200, w.Code, w.Body.String())
	got = nil
	for _, it := range decodeJSON[map[string]any](t, w)["items"].([]any) {
		got = append(got, strings.TrimPrefix(it.(map[string]any)["sku_id"].(string), "90000000000000000"))
	}
	require.Equal(t, []string{"01", "02", "03", "05", "06", "07"}, got)

	for _, bad := range []map[string]any{
		{"name": "x", "filter": "brand = Razer", "factor": 3},
		{"filter": "brand = ", "factor": 0.5},
		{"filter": "tag = nosuchtag", "factor": 0.5},
	} {
		plan["rules"] = []any{bad}
		requireProblem(t, h.do("POST", "/v1/search", h.reader, map[string]any{"plan": plan}), 400)
	}
	plan["rules"] = nil
	plan["slots"] = []any{map[string]any{"from": 5, "to": 9, "filter": "brand = Razer"}} // past the limit
	requireProblem(t, h.do("POST", "/v1/search", h.reader, map[string]any{"plan": plan}), 400)

	// Pins through the API close the gap of an out-of-stock pin (SKU 4 has none) and say so.
	w = h.do("POST", "/v1/search", h.reader, map[string]any{"plan": map[string]any{"version": 1, "query": "", "ranking": map[string]any{"by": "sales"},
		"limit": 3, "pins": []string{"9000000000000000004", "9000000000000000030"}}})
	require.Equal(t, 200, w.Code, w.Body.String())
	res = decodeJSON[map[string]any](t, w)
	got = nil
	for _, it := range res["items"].([]any) {
		got = append(got, strings.TrimPrefix(it.(map[string]any)["sku_id"].(string), "90000000000000000"))
	}
	require.Equal(t, []string{"30", "01", "02"}, got)
	require.Contains(t, res["warnings"], "pinned SKU 9000000000000000004 is out of stock: the SKUs after it move up until it is back")

	// A pool keeps its rules and slots; its items are ranked by them.
	plan["slots"] = []any{map[string]any{"from": 1, "to": 2, "filter": "brand = Razer"}}
	loc, _ := h.createPool(h.planner, "razer first", plan)
	w = h.do("GET", loc+"/items", h.reader, nil)
	require.Equal(t, 200, w.Code, w.Body.String())
	items = decodeJSON[map[string]any](t, w)["items"].([]any)
	require.Equal(t, "Razer", items[0].(map[string]any)["brand"])
	require.Equal(t, "Razer", items[1].(map[string]any)["brand"])
	require.Equal(t, "Logitech", items[2].(map[string]any)["brand"])
}

// The safety net through the API: a refresh that drops too much of a guarded pool is held;
// readers keep the published version; a planner reads the pending one and accepts or rejects
// it; a reader may do neither.
func TestGuardThroughTheAPI(t *testing.T) {
	h := newHarness(t)
	// Stock is i%4: SKUs 4, 8, 12 ... have none. By sales (100 - i): 1, 2, 3, 5, 6, 7, 9, 10.
	plan := map[string]any{"version": 1, "query": "", "filter": map[string]any{"range": map[string]any{"field": "stock", "gte": 1}},
		"ranking": map[string]any{"by": "sales"}, "limit": 8, "guard": map[string]any{"max_drop_pct": 25, "min_size": 4}}
	base, _ := h.createPool(h.planner, "guarded", plan)
	requireProblem(t, h.do("GET", base+"/pending", h.reader, nil), 404)

	outOfStock := func(at time.Time, ids ...int64) {
		var ps []catalog.Patch
		for _, i := range ids {
			ps = append(ps, catalog.Patch{ID: 9_000_000_000_000_000_000 + i, Fields: catalog.FieldStock, Stock: 0, StockAt: at})
		}
		h.change("stock.update", ps)
	}
	outOfStock(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), 1, 2, 3) // 3 of 8: 37%
	w := h.do("POST", base+"/refresh", h.planner, nil)
	require.Equal(t, 200, w.Code, w.Body.String())
	out := decodeJSON[map[string]any](t, w)
	require.Equal(t, true, out["held"], out)
	require.Equal(t, float64(1), out["version"])

	pool := decodeJSON[map[string]any](t, h.do("GET", base, h.reader, nil))
	require.Equal(t, float64(1), pool["current_version"])
	require.Contains(t, pool["pending"].(map[string]any)["reason"], "3 of its 8 SKUs (37%) would leave")
	pend := decodeJSON[map[string]any](t, h.do("GET", base+"/pending", h.reader, nil))
	require.Equal(t, float64(1), pend["based_on"])
	require.Len(t, pend["diff"].(map[string]any)["removed"], 3)
	items := decodeJSON[map[string]any](t, h.do("GET", base+"/items", h.reader, nil))["items"].([]any)
	require.Equal(t, "9000000000000000001", items[0].(map[string]any)["sku_id"], "readers keep the published version")

	requireProblem(t, h.do("POST", base+"/pending/accept", h.reader, nil), 403)
	w = h.do("POST", base+"/pending/accept", h.planner, nil)
	require.Equal(t, 200, w.Code, w.Body.String())
	require.Equal(t, float64(2), decodeJSON[map[string]any](t, w)["version"])
	items = decodeJSON[map[string]any](t, h.do("GET", base+"/items", h.reader, nil))["items"].([]any)
	require.Equal(t, "9000000000000000005", items[0].(map[string]any)["sku_id"])
	requireProblem(t, h.do("POST", base+"/pending/accept", h.planner, nil), 404)

	outOfStock(time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), 5, 6, 7)
	w = h.do("POST", base+"/refresh", h.planner, nil)
	require.Equal(t, true, decodeJSON[map[string]any](t, w)["held"], w.Body.String())
	require.Equal(t, 204, h.do("POST", base+"/pending/reject", h.planner, nil).Code)
	requireProblem(t, h.do("GET", base+"/pending", h.reader, nil), 404)
	require.Equal(t, float64(2), decodeJSON[map[string]any](t, h.do("GET", base, h.reader, nil))["current_version"])

	plan["guard"] = map[string]any{"max_drop_pct": 101}
	requireProblem(t, h.do("POST", "/v1/search", h.reader, map[string]any{"plan": plan}), 400)
}

// Governance through the API with approval required: a planner drafts and submits, only an
// approver publishes; readers see published pools only; rollback makes an earlier version
// current again as a new version; the audit log says who did what.
func TestGovernanceThroughTheAPI(t *testing.T) {
	h := newHarness(t)
	h.svc.Approval = true
	approver, err := api.CreateKey(context.Background(), h.db.Pool, "carol", api.RoleApprover)
	require.NoError(t, err)

	base, _ := h.createPool(h.planner, "draft pool", salesPlan(5))
	pool := decodeJSON[map[string]any](t, h.do("GET", base, h.planner, nil))
	require.Equal(t, "draft", pool["state"])
	// Readers do not see drafts: not in the list, not by id, not their items.
	requireProblem(t, h.do("GET", base, h.reader, nil), 404)
	requireProblem(t, h.do("GET", base+"/items", h.reader, nil), 404)
	for _, sub := range []string{"/versions", "/export", "/diff", "/analytics", "/pending", "/audit"} {
		requireProblem(t, h.do("GET", base+sub, h.reader, nil), 404)
	}
	list := decodeJSON[map[string]any](t, h.do("GET", "/v1/pools", h.reader, nil))
	require.Empty(t, list["pools"])
	// A planner may not create a published pool, nor publish one.
	w := h.do("POST", "/v1/pools", h.planner, map[string]any{"name": "x", "plan": salesPlan(3), "state": "published"})
	requireProblem(t, w, 403)
	requireProblem(t, h.do("POST", base+"/state", h.reader, map[string]any{"state": "in_review"}), 403)
	w = h.do("POST", base+"/state", h.planner, map[string]any{"state": "in_review", "note": "ready for 11.11"})
	require.Equal(t, 200, w.Code, w.Body.String())
	p := requireProblem(t, h.do("POST", base+"/state", h.planner, map[string]any{"state": "published"}), 403)
	require.Contains(t, p.Detail, "needs an approver")
	p = requireProblem(t, h.do("POST", base+"/state", h.planner, map[string]any{"state": "bogus"}), 400)
	require.Contains(t, p.Detail, "it may become")
	w = h.do("POST", base+"/state", approver, map[string]any{"state": "published"})
	require.Equal(t, 200, w.Code, w.Body.String())
	require.Equal(t, 200, h.do("GET", base+"/items", h.reader, nil).Code)
	require.Len(t, decodeJSON[map[string]any](t, h.do("GET", "/v1/pools", h.reader, nil))["pools"], 1)

	// Edit (a pin) and refresh: version 2. A planner may not edit a published pool; the
	// approver may. Rolling back a published pool needs the approver too.
	pool = decodeJSON[map[string]any](t, h.do("GET", base, h.planner, nil))
	plan := pool["plan"].(map[string]any)
	plan["pins"] = []any{"9000000000000000009"}
	requireProblem(t, h.do("PUT", base, h.planner, map[string]any{"name": "draft pool", "plan": plan}, "If-Match", `"r1"`), 403)
	w = h.do("PUT", base, approver, map[string]any{"name": "draft pool", "plan": plan}, "If-Match", `"r1"`)
	require.Equal(t, 200, w.Code, w.Body.String())
	require.Equal(t, 200, h.do("POST", base+"/refresh", h.planner, nil).Code)
	items := decodeJSON[map[string]any](t, h.do("GET", base+"/items", h.reader, nil))["items"].([]any)
	require.Equal(t, "9000000000000000009", items[0].(map[string]any)["sku_id"])
	requireProblem(t, h.do("POST", base+"/rollback", h.planner, map[string]any{"version": 1}), 403)
	requireProblem(t, h.do("POST", base+"/rollback", approver, map[string]any{"version": 9}), 404)
	w = h.do("POST", base+"/rollback", approver, map[string]any{"version": 1})
	require.Equal(t, 200, w.Code, w.Body.String())
	out := decodeJSON[map[string]any](t, w)
	require.Equal(t, float64(3), out["version"])
	items = decodeJSON[map[string]any](t, h.do("GET", base+"/items", h.reader, nil))["items"].([]any)
	require.Equal(t, "9000000000000000001", items[0].(map[string]any)["sku_id"], "version 1's ranking, without the pin")
	pool = decodeJSON[map[string]any](t, h.do("GET", base, h.planner, nil))
	require.Nil(t, pool["plan"].(map[string]any)["pins"], "version 1's plan is the pool's again")
	// A refresh now keeps it: the plan is version 1's.
	out = decodeJSON[map[string]any](t, h.do("POST", base+"/refresh", h.planner, nil))
	require.Equal(t, false, out["changed"], out)

	// Archive (approver), then the refresher leaves it alone and readers lose it.
	require.Equal(t, 200, h.do("POST", base+"/state", approver, map[string]any{"state": "archived"}).Code)
	requireProblem(t, h.do("GET", base+"/items", h.reader, nil), 404)

	audit := decodeJSON[map[string]any](t, h.do("GET", base+"/audit", h.planner, nil))["entries"].([]any)
	var got []string
	for i := len(audit) - 1; i >= 0; i-- {
		e := audit[i].(map[string]any)
		got = append(got, e["actor"].(string)+" "+e["action"].(string)+": "+e["detail"].(string))
	}
	require.Len(t, got, 6, "%q", got)
	require.True(t, strings.HasPrefix(got[0], "alice created: as draft; ranking sales, limit 5"), got[0])
	require.Equal(t, "alice state: draft -> in_review: ready for 11.11", got[1])
	require.Equal(t, "carol state: in_review -> published", got[2])
	require.Equal(t, "carol edited: pins +1 -0 (1 now)", got[3])
	require.Equal(t, "carol rollback: to version 1, as version 3", got[4])
	require.Equal(t, "carol state: published -> archived", got[5])
	page := decodeJSON[map[string]any](t, h.do("GET", base+"/audit?limit=2", h.planner, nil))
	require.Len(t, page["entries"], 2)
	require.NotEmpty(t, page["next_before"])
	requireProblem(t, h.do("GET", base+"/audit", h.reader, nil), 404)
}

// Pool analytics through the API: size, GMV, units and views by window, conversion, stock
// coverage and the mix, computed by hand for a small pool; the versions list carries size and
// GMV through time.
func TestPoolAnalyticsThroughTheAPI(t *testing.T) {
	h := newHarness(t)
	// SKUs 1..6 (the six best sellers): 24 h GMV 1000 x i and units i, 7-day GMV 5000 x i,
	// units 100 - i and views 100 x i, one unit in the last hour.
	at := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	var ps []catalog.Patch
	for i := int64(1); i <= 6; i++ {
		ps = append(ps, catalog.Patch{ID: 9_000_000_000_000_000_000 + i, Fields: catalog.FieldMetrics, MetricsAt: at,
			Metrics: catalog.Metrics{Sales7d: 100 - i, Sales24h: i, GMV24h: 1000 * i, GMV7d: 5000 * i, Views7d: 100 * i, Sales1h: 1}})
	}
	h.change("metrics.update", ps)
	base, _ := h.createPool(h.planner, "analytics", salesPlan(6))

	a := decodeJSON[map[string]any](t, h.do("GET", base+"/analytics", h.reader, nil))
	require.Equal(t, float64(6), a["size"])
	require.Equal(t, float64(21000), a["gmv"].(map[string]any)["24h"])
	require.Equal(t, float64(105000), a["gmv"].(map[string]any)["7d"])
	require.Equal(t, float64(6), a["units"].(map[string]any)["1h"])
	require.InDelta(t, float64(100*6-21)/2100, a["conversion_7d"], 1e-9, "units 7d (99+98+...+94) over views 2100")
	// Stock is i%4: 1, 2, 3, 0, 1, 2 -> 5 of 6 in stock, 9 units.
	require.Equal(t, float64(5), a["in_stock"])
	require.InDelta(t, 5.0/6, a["stock_coverage"], 1e-9)
	require.Equal(t, float64(9), a["stock_units"])
	mix := a["mix"].(map[string]any)
	require.Equal(t, []any{map[string]any{"value": "Logitech", "skus": float64(4), "gmv_7d": float64(5000 * (1 + 2 + 4 + 5)), "units_7d": float64(99 + 98 + 96 + 95)},
		map[string]any{"value": "Razer", "skus": float64(2), "gmv_7d": float64(5000 * (3 + 6)), "units_7d": float64(97 + 94)}}, mix["brand"])
	require.Equal(t, "under 10", mix["price_band"].([]any)[0].(map[string]any)["value"])
	require.Equal(t, "SG", mix["market"].([]any)[0].(map[string]any)["value"])

	versions := decodeJSON[map[string]any](t, h.do("GET", base+"/versions", h.reader, nil))["versions"].([]any)
	require.Equal(t, float64(21000), versions[0].(map[string]any)["gmv_24h"])
	require.Equal(t, float64(21), versions[0].(map[string]any)["units_24h"])
	requireProblem(t, h.do("GET", base+"/analytics?version=7", h.reader, nil), 404)
}

// change writes patches to the catalogue with an event of kind each (as ingest does) and has
// the tag index follow them.
func (h *harness) change(kind string, ps []catalog.Patch) {
	h.t.Helper()
	ctx := context.Background()
	_, err := catalog.NewStore(h.db.Pool).Upsert(ctx, ps)
	require.NoError(h.t, err)
	for _, p := range ps {
		_, err = h.db.Pool.Exec(ctx, `INSERT INTO sku_events (event_id, kind, sku_id, payload, source, tier, event_time)
			VALUES ($1, $2, $3, '{}', 'test', 'realtime', now())`, fmt.Sprintf("%s-%d-%d", kind, p.ID, time.Now().UnixNano()), kind, p.ID)
		require.NoError(h.t, err)
	}
	_, err = h.tg.Poll(ctx)
	require.NoError(h.t, err)
}

// The campaign calendar through the API: schedules in a slot never overlap; a slot's read
// answers with the pool scheduled now, else its base pool; a scheduled draft leaves the slot to
// the base pool; the calendar lists slots by market with their schedules.
func TestCampaignCalendarThroughTheAPI(t *testing.T) {
	h := newHarness(t)
	id := func(loc string) string { return strings.TrimPrefix(loc, "/v1/pools/") }
	basePath, _ := h.createPool(h.planner, "evergreen", salesPlan(3))
	salePath, _ := h.createPool(h.planner, "12.12 sale", map[string]any{"version": 1, "query": "", "ranking": map[string]any{"by": "price_asc"}, "limit": 3})
	nextPath, _ := h.createPool(h.planner, "new year", map[string]any{"version": 1, "query": "", "ranking": map[string]any{"by": "price_desc"}, "limit": 3})
	base, sale, next := id(basePath), id(salePath), id(nextPath)

	requireProblem(t, h.do("PUT", "/v1/slots/home-hero-sg", h.reader, map[string]any{"market": "SG"}), 403)
	requireProblem(t, h.do("PUT", "/v1/slots/Bad-Name", h.planner, map[string]any{"market": "SG"}), 400)
	requireProblem(t, h.do("GET", "/v1/slots/home-hero-sg/items", h.reader, nil), 404)
	w := h.do("PUT", "/v1/slots/home-hero-sg", h.planner, map[string]any{"market": "SG", "base_pool": base})
	require.Equal(t, 200, w.Code, w.Body.String())

	// Nothing scheduled: the base pool answers (by sales: SKU 1 first).
	got := decodeJSON[map[string]any](t, h.do("GET", "/v1/slots/home-hero-sg/items", h.reader, nil))
	require.Equal(t, base, got["pool_id"])
	require.Equal(t, "nothing is scheduled now: the slot's base pool", got["why"])
	require.Equal(t, "9000000000000000001", got["items"].([]any)[0].(map[string]any)["sku_id"])

	now := time.Now().UTC()
	schedule := func(pool string, from, to time.Time) *httptest.ResponseRecorder {
		return h.do("POST", "/v1/slots/home-hero-sg/schedules", h.planner, map[string]any{"pool_id": pool, "starts_at": from, "ends_at": to})
	}
	w = schedule(sale, now.Add(-time.Hour), now.Add(24*time.Hour))
	require.Equal(t, 201, w.Code, w.Body.String())
	saleSched := decodeJSON[map[string]any](t, w)
	p := requireProblem(t, schedule(next, now.Add(23*time.Hour), now.Add(48*time.Hour)), 409)
	require.Contains(t, p.Detail, `already shows pool "12.12 sale"`)
	require.Equal(t, 201, schedule(next, now.Add(24*time.Hour), now.Add(48*time.Hour)).Code, "back to back is no overlap")
	requireProblem(t, schedule(next, now.Add(72*time.Hour), now.Add(71*time.Hour)), 400)
	requireProblem(t, schedule("424242", now.Add(96*time.Hour), now.Add(97*time.Hour)), 400)

	// The sale is live now (by price: SKU 1 first too, so compare the pool), until its end.
	got = decodeJSON[map[string]any](t, h.do("GET", "/v1/slots/home-hero-sg/items?limit=2", h.reader, nil))
	require.Equal(t, sale, got["pool_id"])
	require.Contains(t, got["why"], "scheduled from")
	require.Len(t, got["items"], 2)
	require.NotEmpty(t, got["next_cursor"])
	until, err := time.Parse(time.RFC3339Nano, got["until"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, now.Add(24*time.Hour), until, time.Second)

	// Unpublished, the sale leaves the slot to its base pool.
	h.svc.Approval = false
	require.Equal(t, 200, h.do("POST", salePath+"/state", h.planner, map[string]any{"state": "draft"}).Code)
	got = decodeJSON[map[string]any](t, h.do("GET", "/v1/slots/home-hero-sg/items", h.reader, nil))
	require.Equal(t, base, got["pool_id"])
	require.Contains(t, got["why"], "is scheduled now but is draft")

	// The calendar: SG's slots with the two schedules; another market has none.
	cal := decodeJSON[map[string]any](t, h.do("GET", "/v1/slots?market=SG", h.reader, nil))
	slots := cal["slots"].([]any)
	require.Len(t, slots, 1)
	require.Len(t, slots[0].(map[string]any)["schedules"], 2)
	require.Empty(t, decodeJSON[map[string]any](t, h.do("GET", "/v1/slots?market=MY", h.reader, nil))["slots"])
	requireProblem(t, h.do("GET", "/v1/slots?from=yesterday", h.reader, nil), 400)

	require.Equal(t, 204, h.do("DELETE", "/v1/slots/home-hero-sg/schedules/"+saleSched["id"].(string), h.planner, nil).Code)
	requireProblem(t, h.do("DELETE", "/v1/slots/home-hero-sg/schedules/"+saleSched["id"].(string), h.planner, nil), 404)
	require.Equal(t, 204, h.do("DELETE", "/v1/slots/home-hero-sg", h.planner, nil).Code)
	requireProblem(t, h.do("GET", "/v1/slots/home-hero-sg/items", h.reader, nil), 404)
}

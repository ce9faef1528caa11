package api_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"selection/api"
	"selection/catalog"
	"selection/selection"
)

func salesPlan(limit int) map[string]any {
	return map[string]any{"version": 1, "query": "", "ranking": map[string]any{"by": "sales"}, "limit": limit}
}

// createPool creates a pool as key and returns its path and ETag.
func (h *harness) createPool(key, name string, plan map[string]any) (string, string) {
	h.t.Helper()
	w := h.do("POST", "/v1/pools", key, map[string]any{"name": name, "plan": plan})
	require.Equal(h.t, http.StatusCreated, w.Code, w.Body.String())
	return w.Header().Get("Location"), w.Header().Get("ETag")
}

// Finding 6: concurrent edits of a pool overwrote each other. GET gives the pool's revision as
// its ETag; PUT takes If-Match: 412 when stale, 428 when absent on a pool whose current revision
// another key wrote, 200 and a new ETag when it matches. Refreshes leave the revision alone.
func TestFinding6PoolEditNeedsIfMatch(t *testing.T) {
	h := newHarness(t)
	carol, err := api.CreateKey(context.Background(), h.db.Pool, "carol", api.RolePlanner)
	require.NoError(t, err)
	base, created := h.createPool(h.planner, "shared", salesPlan(5))
	require.Equal(t, `"r1"`, created)
	w := h.do("GET", base, h.reader, nil)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, `"r1"`, w.Header().Get("ETag"))
	require.Equal(t, 1, decodeJSON[selection.Pool](t, w).Revision)

	edit := func(key, name string, ifMatch ...string) *httptest.ResponseRecorder {
		var hdr []string
		if len(ifMatch) > 0 {
			hdr = []string{"If-Match", ifMatch[0]}
		}
		return h.do("PUT", base, key, map[string]any{"name": name, "plan": salesPlan(5)}, hdr...)
	}
	// alice created it; carol's unconditional edit is refused, and so is one from a stale or a
	// weak ETag (If-Match compares strongly).
	p := requireProblem(t, edit(carol, "carol's"), http.StatusPreconditionRequired)
	require.Contains(t, p.Detail, `written by key "alice"`)
	requireProblem(t, edit(carol, "carol's", `"r7"`), http.StatusPreconditionFailed)
	requireProblem(t, edit(carol, "carol's", `W/"r1"`), http.StatusPreconditionFailed)
	requireProblem(t, edit(carol, "carol's", `"nonsense"`), http.StatusPreconditionFailed)
	w = edit(carol, "carol's", `"r0", "r1"`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, `"r2"`, w.Header().Get("ETag"))
	got := decodeJSON[selection.Pool](t, w)
	require.Equal(t, 2, got.Revision)
	require.Equal(t, "carol", got.UpdatedBy)

	// alice still holds revision 1: her edit would undo carol's without her seeing it.
	requireProblem(t, edit(h.planner, "alice's", `"r1"`), http.StatusPreconditionFailed)
	requireProblem(t, edit(h.planner, "alice's"), http.StatusPreconditionRequired)
	w = edit(h.planner, "alice's", `"r2"`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, `"r3"`, w.Header().Get("ETag"))
	// The current revision is alice's own: her next edit needs no If-Match.
	w = edit(h.planner, "alice's again")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, `"r4"`, w.Header().Get("ETag"))

	// A refresh writes a version, not a revision.
	require.Equal(t, http.StatusOK, h.do("POST", base+"/refresh", h.planner, nil).Code)
	w = h.do("GET", base, h.reader, nil)
	require.Equal(t, `"r4"`, w.Header().Get("ETag"))
	require.Equal(t, "alice's again", decodeJSON[selection.Pool](t, w).Name)
	// "*" overwrites whatever is there; a pool that does not exist is still a 404.
	require.Equal(t, http.StatusOK, edit(carol, "forced", "*").Code)
	requireProblem(t, h.do("PUT", "/v1/pools/987654", h.planner, map[string]any{"name": "x", "plan": salesPlan(5)}, "If-Match", `"r1"`), http.StatusNotFound)
	// A refused edit changed nothing.
	requireProblem(t, edit(h.planner, "lost", `"r4"`), http.StatusPreconditionFailed)
	require.Equal(t, "forced", decodeJSON[selection.Pool](t, h.do("GET", base, h.reader, nil)).Name)
}

// Finding 6: of two edits from the same revision, racing, exactly one applies (the revision is
// checked under the pool's row lock, not only before the plan runs).
func TestFinding6ConcurrentEditsOneWins(t *testing.T) {
	h := newHarness(t)
	base, etag := h.createPool(h.planner, "race", salesPlan(5))
	const n = 4
	codes := make(chan int, n)
	for i := range n {
		go func() {
			body := fmt.Sprintf(`{"name":"edit %d","plan":{"version":1,"query":"","ranking":{"by":"sales"},"limit":5}}`, i)
			req := httptest.NewRequest("PUT", base, strings.NewReader(body))
			req.Header.Set("X-API-Key", h.planner)
			req.Header.Set("If-Match", etag)
			w := httptest.NewRecorder()
			h.h.ServeHTTP(w, req)
			codes <- w.Code
		}()
	}
	count := map[int]int{}
	for range n {
		count[<-codes]++
	}
	require.Equal(t, map[int]int{http.StatusOK: 1, http.StatusPreconditionFailed: n - 1}, count)
	require.Equal(t, `"r2"`, h.do("GET", base, h.reader, nil).Header().Get("ETag"))
}

// Finding 7: a pool's scenario and its plan's campaign and currency had no length check.
func TestFinding7TextLengthCaps(t *testing.T) {
	h := newHarness(t, func(c *api.Config) { c.MaxBodyBytes = 64 << 10 })
	long := strings.Repeat("s", selection.MaxScenarioBytes+1)
	withPlan := func(mod func(map[string]any)) map[string]any {
		p := salesPlan(5)
		mod(p)
		return p
	}
	for name, body := range map[string]map[string]any{
		"scenario":      {"name": "x", "scenario": long, "plan": salesPlan(5)},
		"campaign":      {"name": "x", "plan": withPlan(func(p map[string]any) { p["campaign"] = strings.Repeat("c", selection.MaxCampaignBytes+1) })},
		"currency":      {"name": "x", "plan": withPlan(func(p map[string]any) { p["currency"] = strings.Repeat("USD", 1000) })},
		"currency form": {"name": "x", "plan": withPlan(func(p map[string]any) { p["currency"] = "usd" })},
	} {
		p := requireProblem(t, h.do("POST", "/v1/pools", h.planner, body), http.StatusBadRequest)
		require.Contains(t, p.Detail, strings.Fields(name)[0], name)
	}
	// At the caps they are fine, and an edit is held to them too.
	base, _ := h.createPool(h.planner, "caps", withPlan(func(p map[string]any) {
		p["campaign"] = strings.Repeat("c", selection.MaxCampaignBytes)
		p["currency"] = "SGD"
	}))
	w := h.do("PUT", base, h.planner, map[string]any{"name": "caps", "scenario": long[1:], "plan": salesPlan(5)})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	requireProblem(t, h.do("PUT", base, h.planner, map[string]any{"name": "caps", "scenario": long, "plan": salesPlan(5)}), http.StatusBadRequest)
	requireProblem(t, h.do("POST", "/v1/search", h.reader, map[string]any{"plan": withPlan(func(p map[string]any) { p["currency"] = "DOLLARS" })}), http.StatusBadRequest)
}

// Finding 7: GET /v1/pools returned whole pools (plans with up to 11,000 pinned and excluded
// ids, whole scenarios): a page of 500 could run to hundreds of megabytes. It now pages
// summaries (no plan, the scenario's beginning) with a cursor, so a page's size is bounded by
// its length whatever the pools hold.
func TestFinding7PoolListIsPagedSummaries(t *testing.T) {
	h := newHarness(t)
	scenario := strings.Repeat("gaming mice ", 300) // 3,600 bytes
	var ids []string
	for i := range 3 {
		w := h.do("POST", "/v1/pools", h.planner, map[string]any{"name": fmt.Sprintf("pool %d", i), "scenario": scenario,
			"plan": map[string]any{"version": 1, "query": "mouse", "ranking": map[string]any{"by": "sales"}, "limit": 5,
				"pins": []string{"9000000000000000001"}, "exclusions": []string{"9000000000000000002", "9000000000000000003"}}})
		require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
		ids = append(ids, strconv.FormatInt(decodeJSON[selection.Pool](t, w).ID, 10))
	}

	type page struct {
		Pools      []map[string]any `json:"pools"`
		NextBefore string           `json:"next_before"`
	}
	w := h.do("GET", "/v1/pools?limit=2", h.reader, nil)
	require.Equal(t, http.StatusOK, w.Code)
	// Two summaries of pools holding 3.6 KB scenarios fit in well under 2 KB.
	require.Less(t, w.Body.Len(), 2048, w.Body.String())
	p1 := decodeJSON[page](t, w)
	require.Len(t, p1.Pools, 2)
	require.Equal(t, []any{ids[2], ids[1]}, []any{p1.Pools[0]["id"], p1.Pools[1]["id"]})
	for _, s := range p1.Pools {
		require.NotContains(t, s, "plan")
		require.Equal(t, selection.SummaryScenarioChars, utf8.RuneCountInString(s["scenario"].(string)))
		require.Equal(t, true, s["scenario_truncated"])
		require.Equal(t, "sales", s["ranking"])
		require.EqualValues(t, 1, s["pins"])
		require.EqualValues(t, 2, s["exclusions"])
		require.EqualValues(t, 1, s["current_version"])
	}
	require.Equal(t, ids[1], p1.NextBefore)
	p2 := decodeJSON[page](t, h.do("GET", "/v1/pools?limit=2&before="+p1.NextBefore, h.reader, nil))
	require.Len(t, p2.Pools, 1)
	require.Equal(t, ids[0], p2.Pools[0]["id"])
	require.Empty(t, p2.NextBefore, "no cursor after the last page")
	// The whole pool is one GET away.
	require.Equal(t, scenario, decodeJSON[selection.Pool](t, h.do("GET", "/v1/pools/"+ids[0], h.reader, nil)).Scenario)
	requireProblem(t, h.do("GET", "/v1/pools?limit=501", h.reader, nil), http.StatusBadRequest)
}

// flushRecorder records how much of the body had been written at each Flush.
type flushRecorder struct {
	*httptest.ResponseRecorder
	flushedAt []int
}

func (f *flushRecorder) Flush() {
	f.flushedAt = append(f.flushedAt, f.Body.Len())
	f.ResponseRecorder.Flush()
}

// Finding 7: export built the whole file in memory before sending a byte. It now reads the
// catalogue a page at a time and writes and flushes each page before reading the next.
func TestFinding7ExportStreamsPages(t *testing.T) {
	h := newHarness(t)
	api.SetExportPage(t, 4)
	base, _ := h.createPool(h.planner, "ten", salesPlan(10))
	for _, format := range []string{"csv", "jsonl"} {
		req := httptest.NewRequest("GET", base+"/export?format="+format, nil)
		req.Header.Set("X-API-Key", h.reader)
		w := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
		h.h.ServeHTTP(w, req)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		body := w.Body.String()
		header := 0
		if format == "csv" {
			header = 1
		}
		require.Equal(t, header+10, strings.Count(body, "\n"), body)
		// Pages of 4, 4 and 2 rows, each sent before the next was read.
		require.Len(t, w.flushedAt, 3, format)
		for i, rows := range []int{4, 8, 10} {
			require.Equal(t, header+rows, strings.Count(body[:w.flushedAt[i]], "\n"), "%s flush %d", format, i)
		}
	}
}

// Finding 7: a CSV export carried catalogue text as it was, so a title such as
// =HYPERLINK(...) ran as a formula in a spreadsheet. Text cells starting with = + - @ (or a tab
// or carriage return) now get a leading apostrophe; JSONL keeps the text as it is.
func TestFinding7CSVNeutralisesFormulas(t *testing.T) {
	h := newHarness(t)
	base, _ := h.createPool(h.planner, "formulas", salesPlan(6))
	// The six best sellers are SKUs 1..6; their catalogue text changes after the pool was made
	// (exports show the SKUs' current data).
	titles := map[int64]string{1: `=HYPERLINK("http://evil.example","click")`, 2: "+1+2", 3: "-2+3", 4: "@SUM(A1:A9)", 5: "\t=1+1", 6: "plain - title"}
	at := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	var ps []catalog.Patch
	for i, title := range titles {
		ps = append(ps, catalog.Patch{ID: 9_000_000_000_000_000_000 + i, Fields: catalog.FieldTitle | catalog.FieldBrand,
			Title: title, Brand: "=cmd|' /C calc'!A0", ContentAt: at})
	}
	_, err := catalog.NewStore(h.db.Pool).Upsert(context.Background(), ps)
	require.NoError(t, err)

	w := h.do("GET", base+"/export?format=csv", h.reader, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	rows, err := csv.NewReader(strings.NewReader(w.Body.String())).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 7)
	for _, r := range rows[1:] {
		id, err := strconv.ParseInt(r[1], 10, 64)
		require.NoError(t, err)
		want := titles[id-9_000_000_000_000_000_000]
		if want != "plain - title" {
			want = "'" + want
		}
		require.Equal(t, want, r[2], "title of %s", r[1])
		require.Equal(t, "'=cmd|' /C calc'!A0", r[3])
		for _, c := range r {
			require.False(t, c != "" && strings.ContainsAny(c[:1], "=+-@\t\r"), "cell %q of row %v", c, r)
		}
	}
	w = h.do("GET", base+"/export?format=jsonl", h.reader, nil)
	require.Equal(t, http.StatusOK, w.Code)
	var first api.ItemView
	require.NoError(t, json.NewDecoder(strings.NewReader(w.Body.String())).Decode(&first))
	require.Equal(t, titles[1], first.Title)
}

package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"selection/api"
	"selection/filter"
	"selection/selection"
)

// jsonRoutes are the routes whose OpenAPI operation has a request body, with a sample body
// each, from the served document (so a new JSON route is covered without editing this list).
func jsonRoutes(t *testing.T, h *harness) map[string]string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody map[string]any `json:"requestBody"`
			Responses   map[string]any `json:"responses"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(h.do("GET", "/v1/openapi.json", "", nil).Body.Bytes(), &doc))
	samples := map[string]string{
		"POST /v1/plan":                   `{"scenario":"gaming mice"}`,
		"POST /v1/search":                 `{"scenario":"gaming mice"}`,
		"POST /v1/pools":                  `{"name":"p","scenario":"gaming mice"}`,
		"PUT /v1/pools/{id}":              `{"name":"p","scenario":"gaming mice"}`,
		"POST /v1/tags":                   `{"name":"t","kind":"rule","rule":{"attr":{"field":"brand","value":"Razer"}}}`,
		"POST /v1/filters/parse":          `{"text":"brand = Razer"}`,
		"POST /v1/pools/{id}/state":       `{"state":"in_review"}`,
		"POST /v1/pools/{id}/rollback":    `{"version":1}`,
		"PUT /v1/slots/{slot}":            `{"market":"SG"}`,
		"POST /v1/slots/{slot}/schedules": `{"pool_id":"1","starts_at":"2026-12-01T00:00:00Z","ends_at":"2026-12-02T00:00:00Z"}`,
	}
	out := map[string]string{}
	for path, ops := range doc.Paths {
		for m, o := range ops {
			name := strings.ToUpper(m) + " " + path
			_, declares415 := o.Responses["415"]
			require.Equal(t, o.RequestBody != nil, declares415, "%s: 415 is declared exactly on the routes that read a body", name)
			if o.RequestBody != nil {
				require.Contains(t, samples, name, "give the new JSON route a sample body here")
				out[name] = samples[name]
			}
		}
	}
	require.Len(t, out, len(samples))
	return out
}

// Finding 17: a JSON body sent as a form (curl -d's default Content-Type,
// application/x-www-form-urlencoded) was read as JSON anyway, or answered as a malformed or
// empty body; every route that reads JSON now answers 415 naming application/json, without
// reading the body. JSON types pass, and so does a request without a Content-Type.
func TestFinding17FormBodyIs415(t *testing.T) {
	h := newHarness(t)
	for name, body := range jsonRoutes(t, h) {
		method, path, _ := strings.Cut(name, " ")
		path = strings.ReplaceAll(path, "{id}", "1")
		for _, ct := range []string{"application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x",
			"application/json; charset=latin1", "application/xml", "json", ";;"} {
			w := h.do(method, path, h.planner, body, "Content-Type", ct)
			p := requireProblem(t, w, http.StatusUnsupportedMediaType)
			require.Equal(t, "/problems/unsupported-media-type", p.Type)
			require.Contains(t, p.Detail, "application/json", "%s with %s", name, ct)
			require.Equal(t, "close", w.Header().Get("Connection"), "the body is not read")
		}
		// curl -d 'scenario=mice': the form itself.
		requireProblem(t, h.do(method, path, h.planner, "scenario=mice", "Content-Type", "application/x-www-form-urlencoded"), 415)
	}
	for _, ct := range []string{"", "application/json", "application/json; charset=utf-8", "Application/JSON; charset=UTF-8", "application/merge-patch+json"} {
		w := h.do("POST", "/v1/filters/parse", h.reader, `{"text":"brand = Razer"}`, "Content-Type", ct)
		require.Equal(t, 200, w.Code, "%q: %s", ct, w.Body.String())
	}
	// Routes without a body do not look at the Content-Type.
	require.Equal(t, 200, h.do("GET", "/v1/tags", h.reader, nil, "Content-Type", "text/plain").Code)
}

// nested is a filter nested depth deep in op (and, or, not) around a brand term.
func nested(op string, depth int) string {
	f := `{"attr":{"field":"brand","value":"Razer"}}`
	for range depth {
		if op == "not" {
			f = `{"not":` + f + `}`
		} else {
			f = `{"` + op + `":[` + f + `]}`
		}
	}
	return f
}

// Finding 17: a filter nested thousands deep was refused, but its 400 carried the path down to
// the refusal, one segment per level (64 of them, 400 to 700 bytes); the path now shows three
// steps at each end and the count of levels, and any detail is at most MaxDetailBytes.
func TestFinding17DeepFilterDetailIsBounded(t *testing.T) {
	h := newHarness(t, func(c *api.Config) { c.MaxBodyBytes = 1 << 20 })
	for _, tc := range []struct {
		op    string
		depth int
	}{{"and", 4000}, {"or", 4000}, {"not", 5000}, {"and", filter.MaxDepth + 1}} {
		f := nested(tc.op, tc.depth)
		quoted, err := json.Marshal(f)
		require.NoError(t, err)
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/v1/search", `{"plan":{"version":1,"ranking":{"by":"sales"},"limit":5,"filter":` + f + `}}`},
			{"POST", "/v1/pools", `{"name":"deep","plan":{"version":1,"ranking":{"by":"sales"},"limit":5,"filter":` + f + `}}`},
			{"POST", "/v1/filters/parse", `{"text":` + string(quoted) + `}`},
			{"POST", "/v1/tags", `{"name":"deep","kind":"rule","rule":` + f + `}`},
		} {
			p := requireProblem(t, h.do(r.method, r.path, h.planner, r.body), 400)
			require.LessOrEqual(t, len(p.Detail), api.MaxDetailBytes, "%s %d deep on %s: %s", tc.op, tc.depth, r.path, p.Detail)
			require.Contains(t, p.Detail, fmt.Sprintf("nested deeper than %d", filter.MaxDepth), r.path)
			require.Contains(t, p.Detail, fmt.Sprintf("(%d levels)", filter.MaxDepth+1), r.path)
		}
	}
	// Details quoting other input are bounded too, keeping their start and end.
	long := strings.Repeat("x", 100_000)
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/plan", `{"` + long + `":1}`},
		{"POST", "/v1/filters/parse", `{"text":"` + long + ` = 1"}`},
		{"GET", "/v1/skus?ids=" + long, ""},
		{"GET", "/v1/pools/" + long, ""},
		{"GET", "/v1/pools/1/items?cursor=" + long, ""},
		{"GET", "/v1/pools/" + strings.Repeat("%C3%A9", 20_000), ""}, // cut at a rune boundary
	} {
		var body any
		if r.body != "" {
			body = r.body
		}
		w := h.do(r.method, r.path, h.planner, body)
		require.Less(t, w.Code, 500, w.Body.String())
		p := requireProblem(t, w, w.Code)
		require.LessOrEqual(t, len(p.Detail), api.MaxDetailBytes, "%s %.40s: %s", r.method, r.path, p.Detail)
		require.Contains(t, p.Detail, "bytes left out", p.Detail)
		require.True(t, utf8.ValidString(p.Detail), p.Detail)
	}
}

// planBody is a /v1/search body previewing a plan with extra fields.
func planBody(extra string) string {
	return `{"plan":{"version":1,"query":"","ranking":{"by":"sales"},"limit":5` + extra + `}}`
}

func idList(n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf(`"%d"`, 9_000_000_000_000_000_000+int64(i%30+1))
	}
	return "[" + strings.Join(ids, ",") + "]"
}

// Finding 17: every limit the README states is enforced at its value, through the handler.
func TestFinding17LimitsEnforced(t *testing.T) {
	h := newHarness(t, func(c *api.Config) { c.MaxBodyBytes = 1 << 20 })
	search := func(body string) (int, api.Problem) {
		w := h.do("POST", "/v1/search", h.reader, body)
		if w.Code == 200 {
			return 200, api.Problem{}
		}
		return w.Code, requireProblem(t, w, w.Code)
	}
	t.Run("filter depth", func(t *testing.T) {
		code, _ := search(planBody(`,"filter":` + nested("not", filter.MaxDepth)))
		require.Equal(t, 200, code)
		code, p := search(planBody(`,"filter":` + nested("not", filter.MaxDepth+1)))
		require.Equal(t, 400, code)
		require.Contains(t, p.Detail, "nested deeper than 64")
		text := strings.Repeat("not ", filter.MaxDepth+1) + "brand = Razer"
		p = requireProblem(t, h.do("POST", "/v1/filters/parse", h.reader, map[string]string{"text": text}), 400)
		require.Contains(t, p.Detail, "nested deeper than 64")
	})
	t.Run("filter width", func(t *testing.T) {
		clauses := func(n int) string {
			c := make([]string, n)
			for i := range c {
				c[i] = fmt.Sprintf(`{"tag":"t%d"}`, i)
			}
			return `,"filter":{"or":[` + strings.Join(c, ",") + `]}`
		}
		// The or is one term, each clause another: 999 clauses fit in MaxTerms.
		p := requireProblem(t, h.do("POST", "/v1/search", h.reader, planBody(clauses(filter.MaxTerms-1))), 400)
		require.Contains(t, p.Detail, "unknown tag", "within the width, the filter is read (and its tags looked up)")
		_, p = search(planBody(clauses(filter.MaxTerms)))
		require.Contains(t, p.Detail, fmt.Sprintf("more than %d terms", filter.MaxTerms))
		text := "brand = Razer" + strings.Repeat(" or brand = Razer", filter.MaxTerms)
		p = requireProblem(t, h.do("POST", "/v1/filters/parse", h.reader, map[string]string{"text": text}), 400)
		require.Contains(t, p.Detail, fmt.Sprintf("more than %d terms", filter.MaxTerms))
	})
	t.Run("scenario length", func(t *testing.T) {
		s := strings.Repeat("mice ", selection.MaxScenarioBytes/5) + "mice"
		require.Greater(t, len(s), selection.MaxScenarioBytes)
		for path, body := range map[string]map[string]string{"/v1/plan": {"scenario": s}, "/v1/search": {"scenario": s},
			"/v1/pools": {"name": "long", "scenario": s}} {
			p := requireProblem(t, h.do("POST", path, h.planner, body), 400)
			require.Contains(t, p.Detail, fmt.Sprintf("scenario longer than %d bytes", selection.MaxScenarioBytes), path)
		}
		require.Equal(t, 200, h.do("POST", "/v1/plan", h.planner, map[string]string{"scenario": s[:selection.MaxScenarioBytes]}).Code)
	})
	t.Run("pins and exclusions", func(t *testing.T) {
		code, _ := search(planBody(`,"pins":` + idList(selection.MaxPins) + `,"exclusions":` + idList(selection.MaxExclusions)))
		require.Equal(t, 200, code)
		for _, tc := range []struct{ field, what string }{{"pins", "pins"}, {"exclusions", "exclusions"}} {
			n := map[string]int{"pins": selection.MaxPins, "exclusions": selection.MaxExclusions}[tc.field]
			plan := `"plan":{"version":1,"query":"","ranking":{"by":"sales"},"limit":5,"` + tc.field + `":` + idList(n+1) + `}}`
			for path, body := range map[string]string{"/v1/search": "{" + plan, "/v1/pools": `{"name":"many",` + plan} {
				p := requireProblem(t, h.do("POST", path, h.planner, body), 400)
				require.Contains(t, p.Detail, fmt.Sprintf("%d %s, at most %d", n+1, tc.what, n), path)
			}
		}
	})
	t.Run("ids per lookup", func(t *testing.T) {
		ids := strings.TrimSuffix(strings.TrimPrefix(strings.ReplaceAll(idList(1000), `"`, ""), "["), "]")
		require.Equal(t, 200, h.do("GET", "/v1/skus?ids="+ids, h.reader, nil).Code)
		p := requireProblem(t, h.do("GET", "/v1/skus?ids="+ids+",1", h.reader, nil), 400)
		require.Contains(t, p.Detail, "1001 ids, at most 1000 per lookup")
		small := newHarness(t, func(c *api.Config) { c.MaxLookupIDs = 2 })
		require.Equal(t, 200, small.do("GET", "/v1/skus?ids=1,2", small.reader, nil).Code)
		p = requireProblem(t, small.do("GET", "/v1/skus?ids=1,2,3", small.reader, nil), 400)
		require.Contains(t, p.Detail, "3 ids, at most 2 per lookup")
	})
	t.Run("body size", func(t *testing.T) {
		small := newHarness(t, func(c *api.Config) { c.MaxBodyBytes = 100 })
		p := requireProblem(t, small.do("POST", "/v1/filters/parse", small.reader, `{"text":"`+strings.Repeat("a", 100)+`"}`), 413)
		require.Contains(t, p.Detail, "at most 100 bytes")
	})
}

// The README's table of limits states the values the code enforces.
func TestFinding17ReadmeStatesLimits(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	readme := string(b)
	comma := func(n int) string {
		s := fmt.Sprint(n)
		if n >= 1000 {
			s = s[:len(s)-3] + "," + s[len(s)-3:]
		}
		return s
	}
	for _, row := range []string{
		"| request body | 1 MiB | 413 | `SELECTION_HTTP_MAX_BODY_BYTES` |",
		fmt.Sprintf("| filter nesting (JSON and text forms) | %d levels | 400 |", filter.MaxDepth),
		fmt.Sprintf("no `and`/`or` has more than %d clauses) | %s | 400 |", filter.MaxTerms-1, comma(filter.MaxTerms)),
		fmt.Sprintf("| numeric terms of a filter (ranges, values of numeric fields) | %d | 400 |", filter.MaxRanges),
		fmt.Sprintf("| scenario text, and a plan's query | %s bytes | 400 |", comma(selection.MaxScenarioBytes)),
		fmt.Sprintf("| pins / exclusions / excluded terms of a plan (so of a pool) | %s / %s / %d | 400 |",
			comma(selection.MaxPins), comma(selection.MaxExclusions), selection.MaxExcludeTerms),
		fmt.Sprintf("| product types of a plan's intent | %d | 400 |", selection.MaxIntentTypes),
		fmt.Sprintf("| a plan's limit (items) | 1..%s | 400 |", comma(selection.MaxLimit)),
		"| ids of one `GET /v1/skus?ids=` | 1,000 | 400 | `api.Config.MaxLookupIDs` |",
		fmt.Sprintf("A `detail` is at most %d bytes", api.MaxDetailBytes),
	} {
		require.Contains(t, readme, row)
	}
	require.Equal(t, int64(1<<20), api.Config{}.WithDefaults().MaxBodyBytes)
	require.Equal(t, 1000, api.Config{}.WithDefaults().MaxLookupIDs)
}

// Finding 17 (found by FuzzRequestBodies): a prototype tag defined on a server whose tagger has
// no vector index answered 500; it is the client's request this server cannot serve, a 400
// that says why.
func TestFinding17PrototypeTagWithoutVectorsIs400(t *testing.T) {
	h := newHarness(t)
	p := requireProblem(t, h.do("POST", "/v1/tags", h.planner,
		`{"name":"proto","kind":"prototype","descriptions":["gaming mouse"]}`, "Content-Type", "application/json"), 400)
	require.Contains(t, p.Detail, "need the vector index")
}

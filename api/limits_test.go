package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"selection/api"
)

// doFrom is h.do from a client address of its own.
func (h *harness) doFrom(addr, method, path, key string) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.RemoteAddr = addr
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, req)
	return w
}

// metricFamily gathers one metric family from the harness's registry.
func (h *harness) metricFamily(name string) *dto.MetricFamily {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	require.NoError(h.t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

func (h *harness) counter(name string) float64 {
	h.t.Helper()
	mf := h.metricFamily(name)
	require.NotNil(h.t, mf, name)
	var sum float64
	for _, m := range mf.GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

// Finding 3: unauthenticated requests with made-up methods, on routes that exist and routes
// that do not, add no series to /metrics: methods outside the standard set are OTHER, routes
// are their patterns (unmatched for none).
func TestFinding3MetricsLabelsStayBounded(t *testing.T) {
	h := newHarnessWith(t, api.Config{RatePerAddress: -1})
	for i := range 40 {
		h.do(fmt.Sprintf("M%d", i), fmt.Sprintf("/v1/nothing/%d", i), "", nil)
		h.do(fmt.Sprintf("X%d", i), "/v1/pools", "", nil)
		h.do("GET", fmt.Sprintf("/v1/pools/%d", i), h.reader, nil)
		h.do("GET", fmt.Sprintf("/no/such/page/%d", i), "", nil)
	}
	mf := h.metricFamily("selection_http_request_duration_seconds")
	require.NotNil(t, mf)
	patterns := map[string]bool{"unmatched": true}
	for _, d := range api.Documented() {
		var m, p string
		_, _ = fmt.Sscanf(d, "%s %s", &m, &p)
		patterns[p] = true
	}
	series := map[string]bool{}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		require.Contains(t, []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "OTHER"}, labels["method"])
		require.True(t, patterns[labels["route"]], "route label %q is not a pattern", labels["route"])
		series[labels["method"]+" "+labels["route"]+" "+labels["status"]] = true
	}
	// GET and OTHER on unmatched (404), OTHER on /v1/pools (405), GET on /v1/pools/:id (400/404).
	require.LessOrEqual(t, len(series), 5, "%v", series)
	require.True(t, series["OTHER unmatched 404"], "%v", series)
	require.True(t, series["GET /v1/pools/:id 404"], "%v", series)
}

// Finding 4: a client address over its rate gets 429 with Retry-After, on every route, without
// the key being looked up.
func TestFinding4RateLimitPerAddress(t *testing.T) {
	h := newHarnessWith(t, api.Config{RatePerAddress: 0.001}) // burst 1, the next token in 1000 s
	require.Equal(t, 200, h.doFrom("127.0.0.2:1000", "GET", "/v1/tags", h.reader).Code)
	lookups := h.counter("selection_api_key_lookups_total")
	for _, path := range []string{"/v1/tags", "/healthz", "/readyz"} {
		w := h.doFrom("127.0.0.2:1001", "GET", path, "sk_r_wrong_"+path)
		requireProblem(t, w, http.StatusTooManyRequests)
		ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
		require.NoError(t, err, w.Header().Get("Retry-After"))
		require.Greater(t, ra, 900)
	}
	require.Equal(t, lookups, h.counter("selection_api_key_lookups_total"), "a refused address's key is not looked up")
	// Another address has its own bucket; an IPv6 /64 shares one.
	require.Equal(t, 200, h.doFrom("127.0.0.3:1000", "GET", "/v1/tags", h.reader).Code)
	require.Equal(t, 200, h.doFrom("[2001:db8::1]:1000", "GET", "/v1/tags", h.reader).Code)
	requireProblem(t, h.doFrom("[2001:db8::2]:1000", "GET", "/v1/tags", h.reader), http.StatusTooManyRequests)
	require.Equal(t, float64(4), h.counter("selection_http_rate_limited_total"))
}

// Finding 4: one key over its rate gets 429 with Retry-After from any address; other keys are
// not affected.
func TestFinding4RateLimitPerKey(t *testing.T) {
	h := newHarnessWith(t, api.Config{RatePerAddress: -1, RatePerKey: 0.001}) // burst 1
	require.Equal(t, 200, h.doFrom("127.0.0.2:1", "GET", "/v1/tags", h.reader).Code)
	w := h.doFrom("127.0.0.3:1", "GET", "/v1/tags", h.reader)
	p := requireProblem(t, w, http.StatusTooManyRequests)
	require.Contains(t, p.Detail, "key rate limit")
	require.NotEmpty(t, w.Header().Get("Retry-After"))
	require.Equal(t, 200, h.doFrom("127.0.0.3:1", "GET", "/v1/tags", h.planner).Code)
}

// Finding 4: wrong keys cost at most the lookup budget (then 429), a wrong key tried again is
// refused from the negative cache without a lookup, and the valid keys keep working.
func TestFinding4WrongKeysStayWithinLookupBudget(t *testing.T) {
	h := newHarnessWith(t, api.Config{RatePerAddress: -1, Keys: api.KeysConfig{LookupRate: 0.001}}) // burst 1
	require.Equal(t, 200, h.do("GET", "/v1/tags", h.reader, nil).Code)                              // the budget is spent now
	base := h.counter("selection_api_key_lookups_total")
	require.Equal(t, float64(1), base)
	statuses := map[int]int{}
	for i := range 200 {
		w := h.doFrom(fmt.Sprintf("127.0.%d.%d:1", i/250, i%250+1), "GET", "/v1/tags", fmt.Sprintf("sk_r_random_%d", i))
		statuses[w.Code]++
		if w.Code == http.StatusTooManyRequests {
			require.NotEmpty(t, w.Header().Get("Retry-After"))
		}
	}
	require.Equal(t, map[int]int{429: 200}, statuses)
	require.Equal(t, base, h.counter("selection_api_key_lookups_total"), "no lookup past the budget")
	require.Equal(t, 200, h.do("GET", "/v1/tags", h.reader, nil).Code, "a known key needs no budget")
	require.Equal(t, base, h.counter("selection_api_key_lookups_total"))
}

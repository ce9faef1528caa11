package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"selection/api"
	"selection/catalog"
	"selection/filter"
	"selection/selection"
)

// Finding 17 (fault suite): with Postgres unreachable every request that touches the database
// was a 500 "internal error"; it is a 503 problem+json with Retry-After, whose detail names
// no host, port, user or database (the error goes to the log).
func TestFinding17DatabaseOutageIs503(t *testing.T) {
	// A pool whose server is not there: connection refused on every attempt.
	dead, err := pgxpool.New(context.Background(), "postgres://secretuser:pw@127.0.0.1:1/secretdb?connect_timeout=2")
	require.NoError(t, err)
	t.Cleanup(dead.Close)
	pools := selection.NewPoolStore(dead)
	svc := &selection.Service{Executor: &selection.Executor{Index: filter.NewIndex()}, Pools: pools, DB: dead,
		Vocabulary: func() selection.Vocabulary { return selection.StaticVocabulary{} }}
	srv, err := api.New(api.Config{StaticKeys: []string{"ops:planner:sk_p_outage_test_key_0123456789"}},
		api.Deps{DB: dead, Service: svc, Catalog: catalog.NewStore(dead), Index: filter.NewIndex()})
	require.NoError(t, err)
	h := srv.Handler()
	do := func(method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("X-API-Key", "sk_p_outage_test_key_0123456789")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/v1/pools", ""},
		{"GET", "/v1/pools/7", ""},
		{"GET", "/v1/pools/7/items", ""},
		{"POST", "/v1/pools/7/refresh", ""},
		{"GET", "/v1/skus/5", ""},
		{"POST", "/v1/pools", `{"name":"p","plan":{"version":1,"query":"","ranking":{"by":"sales"},"limit":5}}`},
	} {
		w := do(r.method, r.path, r.body)
		p := requireProblem(t, w, http.StatusServiceUnavailable)
		require.Equal(t, "/problems/unavailable", p.Type, "%s %s", r.method, r.path)
		require.Equal(t, "2", w.Header().Get("Retry-After"))
		for _, secret := range []string{"secretuser", "secretdb", "127.0.0.1", "pw"} {
			require.NotContains(t, p.Detail, secret)
		}
	}
	// A key the server must look up in api_keys: 503 too, not 500 (nor 401).
	req := httptest.NewRequest("GET", "/v1/pools", nil)
	req.Header.Set("X-API-Key", "sk_r_some_other_key_0123456789abc")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	requireProblem(t, w, http.StatusServiceUnavailable)
	// /readyz says so.
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
}

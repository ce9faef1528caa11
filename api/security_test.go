package api_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"selection/api"
	"selection/web"
)

// Finding 8: /readyz says which part is not ready, never the database's error (which names
// the host, port, user and database) nor the readiness check's own error text.
func TestFinding8ReadyzHidesErrors(t *testing.T) {
	bad, err := pgxpool.New(context.Background(), "postgres://secretuser:pw@127.0.0.1:1/secretdb?connect_timeout=1")
	require.NoError(t, err)
	defer bad.Close()
	srv, err := api.New(api.Config{}, api.Deps{DB: bad})
	require.NoError(t, err)
	h := &harness{t: t, srv: srv, h: srv.Handler()}
	w := h.do("GET", "/readyz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.JSONEq(t, `{"status":"not ready","reason":"database unavailable"}`, w.Body.String())

	h2 := newHarness(t)
	srv, err = api.New(api.Config{}, api.Deps{DB: h2.db.Pool,
		Ready: func(context.Context) error { return errors.New("consumer stopped: broker 10.1.2.3:9092 said no") }})
	require.NoError(t, err)
	h = &harness{t: t, srv: srv, h: srv.Handler()}
	w = h.do("GET", "/readyz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.NotContains(t, w.Body.String(), "10.1.2.3")
	require.Contains(t, w.Body.String(), "not ready")
}

// Finding 8: the page is served with a Content-Security-Policy that allows its own scripts,
// styles and fetches and nothing inline but style attributes; the page has no inline script
// or event handler attribute that such a policy would block. API answers load nothing.
func TestFinding8ContentSecurityPolicy(t *testing.T) {
	srv, err := api.New(api.Config{}, api.Deps{Web: web.FS()})
	require.NoError(t, err)
	h := &harness{t: t, srv: srv, h: srv.Handler()}
	for _, path := range []string{"/", "/ui/app.js", "/ui/style.css"} {
		w := h.do("GET", path, "", nil)
		require.Equal(t, http.StatusOK, w.Code, path)
		csp := w.Header().Get("Content-Security-Policy")
		require.Contains(t, csp, "script-src 'self'", path)
		require.Contains(t, csp, "default-src 'none'", path)
		require.Contains(t, csp, "connect-src 'self'", path)
		require.NotContains(t, csp, "script-src 'self' 'unsafe-inline'", path)
	}
	w := h.do("GET", "/healthz", "", nil)
	require.Equal(t, "default-src 'none'; frame-ancestors 'none'", w.Header().Get("Content-Security-Policy"))
	w = h.do("GET", "/v1/tags", "", nil)
	require.Equal(t, "default-src 'none'; frame-ancestors 'none'", w.Header().Get("Content-Security-Policy"))

	// What the policy must allow: every script has a src on this origin, no inline handlers.
	html, err := fs.ReadFile(web.FS(), "index.html")
	require.NoError(t, err)
	scripts := regexp.MustCompile(`(?is)<script\b[^>]*>`).FindAllString(string(html), -1)
	require.NotEmpty(t, scripts)
	for _, s := range scripts {
		require.Regexp(t, `src="/ui/[^"]+"`, s, "an inline script needs a hash or nonce in the policy")
	}
	js, err := fs.ReadFile(web.FS(), "app.js")
	require.NoError(t, err)
	for _, b := range [][]byte{html, js} {
		require.NotRegexp(t, `\son[a-z]+\s*=\s*["']`, string(b), "inline event handler attributes are blocked by script-src 'self'")
		require.NotRegexp(t, `\beval\(|new Function\(|<style`, string(b))
		require.NotRegexp(t, `(src|href)="(https?:)?//`, string(b), "the page loads from its own origin only")
	}
}

package cli

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"selection/api"
	"selection/internal/testdb"
	"selection/web"
)

// Finding 8: the page takes a key from #key=... without leaving it in the tab's history
// (history.replaceState; setting location.hash added an entry and kept the one with the key),
// and it runs under its Content-Security-Policy without a violation.
func TestFinding8PageLeavesNoKeyInHistory(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: make setup installs Debian's chromium package", chromium)
		}
		t.Skipf("%s is missing (make setup installs it)", chromium)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := testdb.New(t)
	const key = "sk_p_pagetest_0123456789"
	srv, err := api.New(api.Config{Addr: "127.0.0.1:0", StaticKeys: []string{"page:planner:" + key}},
		api.Deps{DB: db.Pool, Web: web.FS()})
	require.NoError(t, err)
	require.NoError(t, srv.Start(ctx))
	defer func() { require.NoError(t, srv.Stop(context.Background())) }()

	bctx, done := newBrowser(t, ctx)
	defer done()
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Navigate("http://"+srv.Addr()+"/"),
		chromedp.WaitVisible(chromedp.CSS("#scenario")),
		chromedp.Navigate("http://"+srv.Addr()+"/?again#key="+key),
		chromedp.WaitVisible(chromedp.CSS("#scenario")),
	))
	requireKeyTaken(t, bctx, key)
	// A #key= link opened in the tab that shows the page: a fragment change after load, which
	// adds a history entry (the old page kept the key in the address and the history).
	const key2 = "sk_p_pagetest_second_key"
	_, err = chromedp.Run(bctx, chromedp.Evaluate[bool](`(location.hash = "#/pools&key=`+key2+`", true)`))
	require.NoError(t, err)
	pctx, pcancel := context.WithTimeout(bctx, 10*time.Second)
	defer pcancel()
	_, err = chromedp.Run(pctx, chromedp.Poll[bool](`localStorage.getItem("selection.key") === "`+key2+`" || null`))
	require.NoError(t, err, "the page takes a key from a fragment change")
	requireKeyTaken(t, bctx, key2)
	hash, err := chromedp.Run(bctx, chromedp.Evaluate[string](`location.hash`))
	require.NoError(t, err)
	require.Equal(t, "#/pools", hash)
	requireNoCSPViolations(t, bctx)
}

// requireKeyTaken checks that the page stored key and that no history entry holds a key.
func requireKeyTaken(t *testing.T, bctx context.Context, key string) {
	t.Helper()
	hist, err := chromedp.Call(bctx, page.GetNavigationHistory, cdp.Empty{})
	require.NoError(t, err)
	require.NotEmpty(t, hist.Entries)
	for _, e := range hist.Entries {
		require.NotContains(t, e.URL, "key=", "the key stays in the tab's history")
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[string](`localStorage.getItem("selection.key")`))
	require.NoError(t, err)
	require.Equal(t, key, got)
}

// cspRecorder records Content-Security-Policy violations in window.__csp from the start of
// every document.
const cspRecorder = `window.__csp = []; document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile + ":" + e.lineNumber));`

// newBrowser starts headless Chromium that records CSP violations.
func newBrowser(t *testing.T, ctx context.Context) (context.Context, func()) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.WindowSize(1366, 900), chromedp.UserDataDir(t.TempDir()))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	_, err := chromedp.Call(bctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder})
	require.NoError(t, err)
	return bctx, func() { bcancel(); acancel() }
}

func requireNoCSPViolations(t *testing.T, bctx context.Context) {
	t.Helper()
	violations, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`window.__csp || []`))
	require.NoError(t, err)
	require.Empty(t, violations, "Content-Security-Policy violations:\n%s", strings.Join(violations, "\n"))
}

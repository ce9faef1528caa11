package cli

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

var (
	axeOnce   sync.Once
	axeSource string
)

// axeCheck runs axe-core (vendored in testdata/axe) on the page the browser shows and fails
// the test on serious or critical violations, naming each rule, its help and the first nodes.
func axeCheck(t *testing.T, bctx context.Context, page string) {
	t.Helper()
	axeOnce.Do(func() {
		b, err := os.ReadFile("testdata/axe/axe.min.js")
		require.NoError(t, err)
		axeSource = string(b)
	})
	// A toast fading in or out has a contrast in between: check the page at rest.
	_, err := chromedp.Run(bctx, chromedp.Poll[chromedp.Void](`(() => { const t = document.querySelector("#toast");
		return !t || !t.getAnimations().length })()`, chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err)
	// Injected through the DevTools protocol (as a test harness does), not by the page.
	_, err = chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => { if (!window.axe) { `+axeSource+` } return true })()`))
	require.NoError(t, err)
	found, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`axe.run(document, {resultTypes: ["violations"]}).then(r =>
		r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v =>
			v.impact + " " + v.id + ": " + v.help + " (" + v.nodes.length + " nodes: " +
			v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ") + ")"))`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Empty(t, found, "accessibility violations on the %s page:\n%s", page, strings.Join(found, "\n"))
}

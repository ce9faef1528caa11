package cli_test

import (
	"archive/zip"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/internal/bench/soakbench"
	"selection/internal/testdb"
)

func TestBenchSoakUsage(t *testing.T) {
	for _, args := range [][]string{{"--for", "0s"}, {"--rate", "-1"}, {"--clients", "0"}, {"extra"}} {
		code, _, stderr := run(t, nil, append([]string{"bench", "soak"}, args...)...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
		require.Contains(t, stderr, "usage: selection bench")
	}
}

// The 60-second soak: live ingest at 1,000 events/s and every route of the mix from concurrent
// clients against the whole service; no 5xx, no bad answer, no record lost. (Memory growth and
// latencies are reported, not asserted: they are the 10-minute run's figures, README.md.)
func TestBenchSoak60s(t *testing.T) {
	if testing.Short() {
		t.Skip("a 60-second soak")
	}
	zr, err := zip.OpenReader("../../evals/testdata/icecat/products_1.json.zip")
	require.NoError(t, err)
	rc, err := zr.File[0].Open()
	require.NoError(t, err)
	var all []json.RawMessage
	require.NoError(t, json.NewDecoder(rc).Decode(&all))
	rc.Close()
	zr.Close()
	b, err := json.Marshal(all[:300])
	require.NoError(t, err)
	catalogue := filepath.Join(t.TempDir(), "icecat-300.json")
	require.NoError(t, os.WriteFile(catalogue, b, 0o644))

	env := map[string]string{"DATABASE_URL": testdb.URL(), "SELECTION_LOG_LEVEL": "error"}
	code, out, stderr := run(t, env, "bench", "soak", "--for", "60s", "--warmup", "5s", "--catalogue", catalogue, "--api-rate", "100")
	require.Equal(t, 0, code, stderr)
	t.Log(out)
	for _, r := range soakbench.Routes {
		require.Regexp(t, regexp.MustCompile(`(?m)^\s*`+regexp.QuoteMeta(r)+`\s+[1-9][0-9]*\s`), out, "route %s answered", r)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Regexp(t, `^soak for=1m0s events_per_s=[0-9]+ requests_per_s=[0-9.]+ 5xx=0 bad=0 lost=0 rss_start_mib=[0-9]+ rss_end_mib=[0-9]+ rss_growth_pct=-?[0-9.]+$`,
		lines[len(lines)-1])
}

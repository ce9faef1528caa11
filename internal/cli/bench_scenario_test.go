package cli_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"selection/internal/testdb"
)

func TestBenchScenarioUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--skus", "100"},
		{"--skus", "19406", "--runs", "0"},
		{"--skus", "19406", "--baseline-runs", "-2"},
		{"--skus", "19406", "extra"},
	} {
		code, _, stderr := run(t, nil, append([]string{"bench", "scenario"}, args...)...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
		require.Contains(t, stderr, "usage: selection bench")
	}
	code, _, stderr := run(t, nil, "bench", "scenario", "--skus", "100")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "19406")
}

// The whole command on the Icecat catalogue in a schema of its own: it builds the data set,
// then reuses it, and its last line is the summary.
func TestBenchScenarioIcecat(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the Icecat catalogue")
	}
	schema := fmt.Sprintf("bench_scenario_test_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), testdb.URL())
		if err == nil {
			_, _ = conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
			conn.Close(context.Background())
		}
	})
	env := map[string]string{"DATABASE_URL": testdb.URL(), "SELECTION_LOG_LEVEL": "warn"}
	args := []string{"bench", "scenario", "--skus", "19406", "--schema", schema, "--runs", "1", "--warmup", "1",
		"--baseline-runs", "1", "--only", "hp toner"}
	code, out, stderr := run(t, env, args...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "building the data set in schema "+schema)
	require.Contains(t, out, "sku_vectors (COPY, HNSW index dropped)")
	require.Contains(t, out, "speedup")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := regexp.MustCompile(`^scenario skus=19406 p50_ms=[0-9.]+ p95_ms=[0-9.]+ recall_at10_min=1\.000$`)
	require.Regexp(t, last, lines[len(lines)-1])

	code, out, stderr = run(t, env, args...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "reusing the data set in schema "+schema)
	require.Contains(t, out, "from snapshot")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	require.Regexp(t, last, lines[len(lines)-1])
}

// bench pools refuses bad flags before it touches a database.
func TestBenchPoolsFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--pools", "0"},
		{"--changes", "10,x"},
		{"--stream", "-1s"},
		{"--rate", "0"},
		{"--prune-every", "-1m"},
		{"--keep", "0"},
		{"--keep-for", "0s"},
		{"--events-for", "-5m"},
	} {
		code, _, stderr := run(t, nil, append([]string{"bench", "pools"}, args...)...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
		require.Contains(t, stderr, "usage: selection bench")
	}
}

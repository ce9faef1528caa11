package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/internal/cli"
	"selection/internal/testdb"
)

func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestUnreachableDatabaseIsOneClearLine(t *testing.T) {
	code, _, stderr := run(t, map[string]string{"DATABASE_URL": "postgres://bob:hunter2@127.0.0.1:1/shop?connect_timeout=2"}, "migrate", "status")
	require.Equal(t, 1, code)
	require.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
	require.Contains(t, stderr, "127.0.0.1 port 1")
	require.Contains(t, stderr, `database "shop"`)
	require.Contains(t, stderr, "make setup")
	require.NotContains(t, stderr, "hunter2")

	code, _, stderr = run(t, map[string]string{"DATABASE_URL": "postgres://bob:hunter2@127.0.0.1:5432/nodb_here"}, "migrate", "status")
	require.Equal(t, 1, code)
	require.NotContains(t, stderr, "hunter2")
	require.Contains(t, stderr, `database "nodb_here"`)

	code, _, stderr = run(t, map[string]string{"DATABASE_URL": "postgres://bob:hunter2@[::1"}, "migrate", "status")
	require.Equal(t, 1, code)
	require.NotContains(t, stderr, "hunter2")
}

func TestMigrateStatusListsEveryMigrationApplied(t *testing.T) {
	db := testdb.New(t)
	// search_path through the URL's options parameter, so the command sees the test's schema.
	env := map[string]string{"DATABASE_URL": db.URL()}
	code, out, stderr := run(t, env, "migrate", "status")
	require.Equal(t, 0, code, stderr)
	require.GreaterOrEqual(t, strings.Count(out, "applied"), 4, out)
	require.NotRegexp(t, `\bpending\b`, out) // the state column, not a file name
}

func TestUsageAndConfig(t *testing.T) {
	code, _, stderr := run(t, nil, "nope")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "unknown command")
	code, _, _ = run(t, nil, "migrate")
	require.Equal(t, 2, code)
	code, _, stderr = run(t, map[string]string{"SELECTION_LOG_LEVEL": "loud"}, "config")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "SELECTION_LOG_LEVEL")
	code, out, _ := run(t, nil, "config")
	require.Equal(t, 0, code)
	require.Contains(t, out, "DATABASE_URL")
	require.NotContains(t, out, "selection:selection@")
}

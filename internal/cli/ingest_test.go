package cli_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/internal/cli"
	"selection/internal/testdb"
)

func ingestEnv(t *testing.T) (map[string]string, *testdb.DB) {
	t.Helper()
	db := testdb.New(t)
	// A free port for the embedded broker.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return map[string]string{
		"DATABASE_URL":             db.URL(),
		"SELECTION_KAFKA_DATA_DIR": t.TempDir(),
		"SELECTION_KAFKA_PORT":     strconv.Itoa(port),
		"SELECTION_LOG_LEVEL":      "warn",
	}, db
}

// load, replay and ingest status from the command line, as the README shows them.
func TestLoadReplayStatusCommands(t *testing.T) {
	env, db := ingestEnv(t)
	code, out, stderr := run(t, env, "load", "--tier", "hourly", "../../ingest/testdata/events.jsonl", "../../ingest/testdata/skus.csv")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "events.jsonl: 8 records: 5 applied, 1 duplicates, 2 dead letters")
	require.Contains(t, out, "skus.csv: 7 records: 4 applied, 0 duplicates, 3 dead letters")
	require.Contains(t, out, "total: 15 records")

	code, out, stderr = run(t, env, "load", "--event-time", "2025-01-01T00:00:00Z", "../../ingest/testdata/icecat_sample.json.zip")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "5 applied")

	code, out, stderr = run(t, env, "replay")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "replayed 14 events")

	code, out, stderr = run(t, env, "ingest", "status")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "batch")
	require.Contains(t, out, "hourly")
	require.Contains(t, out, "dead letters: 8")

	code, _, stderr = run(t, env, "load", "--tier", "weekly", "x.csv")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "unknown tier")
	code, _, stderr = run(t, env, "load", "nope.txt")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "nope.txt")
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM skus`).Scan(&n))
	require.Equal(t, 11, n)
}

// ingest runs the embedded broker and the consumer; simulate produces into it.
func TestIngestAndSimulateCommands(t *testing.T) {
	env, db := ingestEnv(t)
	code, _, stderr := run(t, env, "load", "--event-time", "2025-01-01T00:00:00Z", "../../ingest/testdata/icecat_sample.json.zip")
	require.Equal(t, 0, code, stderr)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan string)
	started := &signalWriter{want: "consuming", ch: make(chan struct{})}
	go func() {
		var errb strings.Builder
		code := cli.Main(ctx, []string{"ingest", "--every", "0"}, started, &errb, func(k string) string { return env[k] })
		done <- started.String() + errb.String() + "code " + strconv.Itoa(code)
	}()
	var res string
	stop := func() {
		if res == "" {
			cancel()
			res = <-done
		}
	}
	t.Cleanup(stop) // before the data directory is removed
	// Settings live in package variables that every Main call sets: the second Main may only
	// start after the first has read them (it prints "consuming" after that).
	select {
	case <-started.ch:
	case <-time.After(30 * time.Second):
		stop()
		t.Fatalf("ingest did not start: %s", res)
	}
	// simulate reaches the embedded broker on SELECTION_KAFKA_PORT.
	code, out, stderr := run(t, env, "simulate", "--rate", "2000", "--events", "300", "--seed", "7")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `produced 30[01] records`, out, "an order's two records are not split")
	require.Eventually(t, func() bool {
		var n int
		_ = db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM sku_events WHERE tier = 'realtime') +
			(SELECT count(*) FROM dead_letters)`).Scan(&n)
		return n >= 300
	}, 30*time.Second, 100*time.Millisecond)
	stop()
	require.Contains(t, res, "stopped: applied")
}

// signalWriter collects output and closes ch when want first appears in it.
type signalWriter struct {
	mu   sync.Mutex
	b    strings.Builder
	want string
	ch   chan struct{}
	seen bool
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if !w.seen && strings.Contains(w.b.String(), w.want) {
		w.seen = true
		close(w.ch)
	}
	return len(p), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

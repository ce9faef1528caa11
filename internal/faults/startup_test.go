package faults

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"selection/internal/testdb"
)

// oneLine runs serve to its end and returns its stderr, which must be one line.
func oneLine(t *testing.T, env map[string]string) string {
	t.Helper()
	p := startProc(t, env, "serve")
	require.Equal(t, 1, p.wait(t, 60*time.Second), "stdout: %s", p.stdout)
	out := p.stderr.String()
	require.Equal(t, 1, strings.Count(out, "\n"), "one line:\n%s", out)
	return out
}

// TestStartupFaults: what serve says when what it needs is not there at start.
func TestStartupFaults(t *testing.T) {
	db := testdb.New(t)
	base := map[string]string{"DATABASE_URL": db.URL(), "SELECTION_HTTP_ADDR": "127.0.0.1:0", "SELECTION_LOG_LEVEL": "warn"}
	with := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}

	t.Run("postgres unreachable", func(t *testing.T) {
		port := freePort(t)
		u := withHostPort(t, db.URL(), fmt.Sprintf("127.0.0.1:%d", port))
		out := oneLine(t, with("DATABASE_URL", u))
		require.Contains(t, out, fmt.Sprintf("cannot reach Postgres at 127.0.0.1 port %d", port))
		require.Contains(t, out, "connection refused")
		require.Contains(t, out, "make setup")
	})

	t.Run("missing model directory", func(t *testing.T) {
		out := oneLine(t, with("SELECTION_MODEL_DIR", "/nonexistent/use-lite"))
		require.Contains(t, out, "/nonexistent/use-lite")
		require.Contains(t, out, "model not found")
		require.Contains(t, out, "make setup")
	})

	t.Run("schema not migrated", func(t *testing.T) {
		empty := testdb.NewEmpty(t)
		out := oneLine(t, with("DATABASE_URL", empty.URL()))
		require.Contains(t, out, "selection migrate up")
	})
}

// Finding 17 (fault suite): a wrong password said "cannot reach Postgres ... run `make setup`
// to install and start it", sending the operator to reinstall a server that answered. The
// line now says the server refused the user and to check the user and password.
func TestFinding17WrongPasswordSaysSo(t *testing.T) {
	db := testdb.New(t)
	u, err := url.Parse(db.URL())
	require.NoError(t, err)
	u.User = url.UserPassword(u.User.Username(), "not-the-password-x9")
	out := oneLine(t, map[string]string{"DATABASE_URL": u.String(), "SELECTION_HTTP_ADDR": "127.0.0.1:0"})
	require.Contains(t, out, fmt.Sprintf("Postgres at %s port %s refused user %q", u.Hostname(), u.Port(), u.User.Username()))
	require.Contains(t, out, "password authentication failed")
	require.Contains(t, out, "check the user and password in DATABASE_URL")
	require.NotContains(t, out, "cannot reach")
	require.NotContains(t, out, "not-the-password-x9")
}

// TestTopicBacklogAtStart: serve starts on a topic far behind (a restart after downtime): it
// is ready at once, says so in one line, and works through the backlog.
func TestTopicBacklogAtStart(t *testing.T) {
	f := newFixture(t, 300)
	sim := simulator(t, f.db.Pool, 31)
	var p produced
	withBroker(t, f.env["SELECTION_KAFKA_DATA_DIR"], func(cl *kgo.Client) { produceN(t, cl, sim, 30000, &p) })
	start := time.Now()
	s := startServe(t, f.with("SELECTION_INGEST_POLL", "2000"))
	require.Equal(t, 200, readyz(s.base), "ready while the backlog is worked through")
	caughtUp := eventually(t, 150*time.Second, "the backlog stored", func() bool {
		n, _ := stored(t, f.db.Pool, &p)
		return n == int64(len(p.sources))
	})
	_, dup := stored(t, f.db.Pool, &p)
	require.Zero(t, dup)
	log := s.stderr.String()
	require.Equal(t, 1, strings.Count(log, "ingest: behind the topic; catching up"), log)
	require.Regexp(t, `catching up" topic=sku-events records=[0-9]+`, log)
	t.Logf("backlog of %d records: ready at once, caught up %s after the start (%s after listening)",
		len(p.sources), time.Since(start).Round(time.Millisecond), caughtUp.Round(time.Millisecond))
	s.stop(t)
}

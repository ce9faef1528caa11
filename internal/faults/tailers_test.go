package faults

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/internal/cli"
	"selection/internal/icecat"
	"selection/internal/testdb"
)

var retryRE = regexp.MustCompile(`retry_in=([0-9.]+[a-zµ]+)`)

// retries returns the retry_in of the service log's "<name> failed" lines, in order.
func retries(log, name string) []time.Duration {
	var out []time.Duration
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `msg="`+name+` failed"`) {
			continue
		}
		d := time.Duration(-1) // a failure line without a backoff
		if m := retryRE.FindStringSubmatch(line); m != nil {
			d, _ = time.ParseDuration(m[1])
		}
		out = append(out, d)
	}
	return out
}

// Finding 17 (fault suite): while Postgres was away the index followers (tag index, vector
// index, lexical follower) retried every poll interval, two to five times a second each, with
// a warning each time, and the lexical follower logged through the default logger instead of
// the service's (its level and format ignored SELECTION_LOG_*). They back off now, doubling
// up to poll.TailRetryMax, through the service's logger, and follow again once the database
// is back.
func TestFinding17TailersBackOff(t *testing.T) {
	f := newFixture(t, 300)
	proxy := testdb.NewProxy(t, hostPort(t, testdb.URL()))
	s := startServe(t, f.with("DATABASE_URL", withHostPort(t, f.db.URL(), proxy.Addr()), "SELECTION_LOG_LEVEL", "warn"), "--no-ingest")
	tailers := []string{"tagger: poll", "vectorindex: poll", "lexical: poll"}

	proxy.Cut()
	eventually(t, 60*time.Second, "each follower failed four times in a row", func() bool {
		for _, name := range tailers {
			if len(retries(s.stderr.String(), name)) < 4 {
				return false
			}
		}
		return true
	})
	log := s.stderr.String()
	for _, name := range tailers {
		r := retries(log, name)[:4]
		for i := 1; i < len(r); i++ {
			require.Greater(t, r[i], r[i-1], "%s: backoff %v; log:\n%s", name, r, tail(log, 4<<10))
		}
		t.Logf("%s backed off %v", name, r)
	}
	proxy.Restore(t)
	eventually(t, 30*time.Second, "/readyz ready again", func() bool { return readyz(s.base) == 200 })

	// New SKUs after the outage reach the indexes: the followers follow again.
	var out bytes.Buffer
	code := cli.Main(context.Background(), []string{"load", "--format", "icecat", icecat.Subset(t, 340)}, &out, &out,
		func(k string) string { return f.env[k] })
	require.Equal(t, 0, code, out.String())
	code = cli.Main(context.Background(), []string{"embed"}, &out, &out, func(k string) string { return f.env[k] })
	require.Equal(t, 0, code, out.String())
	eventually(t, 60*time.Second, "indexes follow the tables again", func() bool {
		return metrics(t, s.base)["selection_index_live_skus"] == 340 && converged(t, s.base, f.db.Pool)
	})
	s.stop(t)
}

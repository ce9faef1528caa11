package faults

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"selection/internal/cli"
	"selection/internal/icecat"
	"selection/internal/testdb"
)

// childEnv marks the test binary re-executed as the selection command.
const childEnv = "SELECTION_FAULTS_CHILD"

// TestMain runs the selection command when the test binary is started as a child (the same
// code as cmd/selection's main), and the tests otherwise.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// syncBuffer is an output buffer several goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a selection command running as a process of its own.
type proc struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	code   int
	base   string // http://addr of serve, once it said so
}

var servingRE = regexp.MustCompile(`serving on (http://[^ ]+) `)

// startProc runs `selection args...` with exactly the given environment (plus PATH and HOME).
func startProc(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{childEnv + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"GOEXPERIMENT=" + os.Getenv("GOEXPERIMENT")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	require.NoError(t, cmd.Start())
	go func() {
		_ = cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("selection %s: stdout:\n%s\nstderr (last 8 KiB):\n%s", strings.Join(args, " "), p.stdout, tail(p.stderr.String(), 8<<10))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to end and returns its exit code.
func (p *proc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(limit):
		p.kill()
		t.Fatalf("selection did not end within %s; stderr:\n%s", limit, tail(p.stderr.String(), 4<<10))
		return -1
	}
}

// kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (p *proc) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// stop sends SIGTERM and waits for a graceful exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	require.Equal(t, 0, p.wait(t, 60*time.Second), "graceful stop; stderr:\n%s", tail(p.stderr.String(), 4<<10))
}

// startServe runs serve and waits until it listens.
func startServe(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	p := startProc(t, env, append([]string{"serve"}, args...)...)
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if m := servingRE.FindStringSubmatch(p.stdout.String()); m != nil {
			p.base = m[1]
			return p
		}
		if p.exited() {
			t.Fatalf("serve exited with %d before listening; stderr:\n%s", p.code, tail(p.stderr.String(), 8<<10))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve did not listen within 90 s; stderr:\n%s", tail(p.stderr.String(), 8<<10))
	return nil
}

// freePort returns a port on 127.0.0.1 that nothing listens on (now).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// fixture is a test schema with a small real catalogue, embedded, and the environment a
// serve process over it needs.
type fixture struct {
	db  *testdb.DB
	env map[string]string
}

// newFixture loads the first n Icecat products into a fresh schema and embeds them.
func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	db := testdb.New(t)
	env := map[string]string{
		"DATABASE_URL":             db.URL(),
		"SELECTION_HTTP_ADDR":      "127.0.0.1:0",
		"SELECTION_LOG_LEVEL":      "info",
		"SELECTION_KAFKA_DATA_DIR": t.TempDir(),
		"SELECTION_KAFKA_PORT":     strconv.Itoa(freePort(t)),
		"SELECTION_POOL_REFRESH":   "1s",
		"SELECTION_SHUTDOWN_WAIT":  "20s",
		// Every client of these tests is 127.0.0.1: the per-address limit is not under test.
		"SELECTION_API_RATE_PER_ADDRESS": "0",
		"SELECTION_API_RATE_PER_KEY":     "0",
		"SELECTION_DEMO_DATA":            "../../evals/testdata/icecat",
		"SELECTION_MODEL_DIR":            os.Getenv("SELECTION_MODEL_DIR"),
	}
	if env["SELECTION_MODEL_DIR"] == "" {
		delete(env, "SELECTION_MODEL_DIR")
	}
	for _, args := range [][]string{{"load", "--format", "icecat", icecat.Subset(t, n)}, {"embed"}} {
		var out bytes.Buffer
		code := cli.Main(context.Background(), args, &out, &out, func(k string) string { return env[k] })
		require.Equal(t, 0, code, "selection %s:\n%s", strings.Join(args, " "), out.String())
	}
	return &fixture{db: db, env: env}
}

// with returns the fixture's environment with some variables changed ("" removes one).
func (f *fixture) with(kv ...string) map[string]string {
	env := make(map[string]string, len(f.env)+len(kv)/2)
	for k, v := range f.env {
		env[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(env, kv[i])
		} else {
			env[kv[i]] = kv[i+1]
		}
	}
	return env
}

// count runs a count query on the fixture's schema.
func count(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(context.Background(), q, args...).Scan(&n), q)
	return n
}

// metrics reads serve's /metrics into name{labels} -> value.
func metrics(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// readyz returns /readyz's status code (0 when serve does not answer).
func readyz(base string) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(base + "/readyz")
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// withHostPort returns the database URL u pointing at addr instead.
func withHostPort(t *testing.T, u, addr string) string {
	t.Helper()
	p, err := url.Parse(u)
	require.NoError(t, err)
	p.Host = addr
	return p.String()
}

// hostPort is the host:port of database URL u.
func hostPort(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	require.NoError(t, err)
	if p.Port() == "" {
		return net.JoinHostPort(p.Hostname(), "5432")
	}
	return p.Host
}

func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

var _ = fmt.Sprint

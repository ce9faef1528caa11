package api_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/api"
)

// startServer starts h's server configuration on a loopback port of its own.
func startServer(t *testing.T, cfg api.Config) (*harness, string) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	h := newHarnessWith(t, cfg)
	require.NoError(t, h.srv.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.srv.Stop(ctx))
	})
	return h, h.srv.Addr()
}

// drip sends a request's headers, then its body one byte every 20 ms until stop or the
// connection fails. It returns the connection.
func drip(t *testing.T, addr, headers string, stop <-chan struct{}) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, err = io.WriteString(conn, headers)
	require.NoError(t, err)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil { // JSON whitespace: a decoder waits for more
					return
				}
			}
		}
	}()
	return conn
}

// waitGoroutines waits until no more goroutines run than at baseline (the server's
// connection goroutines are gone), up to 10 s.
func waitGoroutines(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), baseline)
}

// Finding 5: a client that sends a wrong key and then drips its body gets 401 at once and the
// connection is closed: no goroutine stays to read the drip (before, the server read the body
// before answering, with no read timeout).
func TestFinding5SlowBodyAfter401ClosesConnection(t *testing.T) {
	_, addr := startServer(t, api.Config{})
	baseline := runtime.NumGoroutine()
	stop := make(chan struct{})
	conn := drip(t, addr, "POST /v1/plan HTTP/1.1\r\nHost: test\r\nX-API-Key: sk_p_wrong\r\n"+
		"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n", stop)
	defer conn.Close()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "the server answers while the body drips")
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, string(body))
	require.True(t, resp.Close, "Connection: close")
	_, err = conn.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		require.ErrorIs(t, err, io.EOF, "the server closed the connection")
	}
	close(stop)
	conn.Close()
	waitGoroutines(t, baseline)
}

// Finding 5: an authorised client that drips its body is cut off by the read timeout.
func TestFinding5SlowBodyIsCutByReadTimeout(t *testing.T) {
	h, addr := startServer(t, api.Config{ReadTimeout: 300 * time.Millisecond})
	baseline := runtime.NumGoroutine()
	stop := make(chan struct{})
	conn := drip(t, addr, "POST /v1/plan HTTP/1.1\r\nHost: test\r\nX-API-Key: "+h.planner+"\r\n"+
		"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n", stop)
	defer conn.Close()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	b, err := io.ReadAll(conn) // an error answer, then EOF (or a reset: the body was not read)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server ends the connection: %s", b)
	if err != nil {
		require.ErrorIs(t, err, syscall.ECONNRESET)
	}
	close(stop)
	conn.Close()
	waitGoroutines(t, baseline)
}

// Finding 5: a header block over MaxHeaderBytes is refused with 431.
func TestFinding5HeaderSizeLimit(t *testing.T) {
	_, addr := startServer(t, api.Config{MaxHeaderBytes: 8 << 10})
	req, err := http.NewRequest("GET", "http://"+addr+"/healthz", nil)
	require.NoError(t, err)
	req.Header.Set("X-Filler", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	http.DefaultClient.CloseIdleConnections()
}

// Finding 5: the server's defaults bound reading, writing, idling and headers.
func TestFinding5TimeoutDefaults(t *testing.T) {
	c := api.Config{}.WithDefaults()
	require.Positive(t, c.ReadTimeout)
	require.Greater(t, c.WriteTimeout, c.RequestTimeout)
	require.Positive(t, c.IdleTimeout)
	require.Positive(t, c.ReadHeaderTimeout)
	require.Less(t, c.MaxHeaderBytes, http.DefaultMaxHeaderBytes)
}

package api

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// errUnavailableDetail is the detail of a 503 for a database that cannot be reached: the
// error itself names hosts, ports, users and databases, so it goes to the log only.
const errUnavailableDetail = "the database is unavailable; retry shortly"

// unavailableRetryAfter is the Retry-After of such a 503, in seconds: about how long a
// Postgres restart or a failover takes.
const unavailableRetryAfter = "2"

// dbUnavailable reports a failure to reach Postgres, or a connection lost under a statement:
// the server is down, restarting, refusing connections or the network dropped them. These
// are answered 503 (the request may pass later), not 500. Found by the fault suite
// (internal/faults): with Postgres cut off every API request was a 500.
func dbUnavailable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exceptions; 57P01-57P03: the server shuts down, crashed or is
		// starting; 53300: too many connections.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		return true
	}
	// A statement that never reached the server (a closed or broken connection).
	return pgconn.SafeToRetry(err)
}

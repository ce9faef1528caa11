package api

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

// The shapes a lost or refused database connection takes answer 503; others stay 500.
func TestFinding17UnavailableShapes(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("load pool: %w", io.ErrUnexpectedEOF),
		fmt.Errorf("query: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}),
		fmt.Errorf("query: %w", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}),
		fmt.Errorf("query: %w", &pgconn.PgError{Code: "08006"}),
		fmt.Errorf("read: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}),
		fmt.Errorf("write: %w", syscall.EPIPE),
	} {
		status, kind := statusOf(err)
		require.Equal(t, http.StatusServiceUnavailable, status, "%v", err)
		require.Equal(t, "unavailable", kind)
	}
	for _, err := range []error{errors.New("boom"), &pgconn.PgError{Code: "XX000"}, &pgconn.PgError{Code: "42P01"}} {
		status, _ := statusOf(err)
		require.Equal(t, http.StatusInternalServerError, status, "%v", err)
	}
}

package poll_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"selection/internal/poll"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A step returning More runs again without waiting (Every is an hour), and Done ends Run.
func TestRunMoreAndDone(t *testing.T) {
	l := &poll.Loop{Name: "count", Every: time.Hour, Immediate: true}
	n := 0
	l.Run(t.Context(), func(ctx context.Context) error {
		n++
		if n == 5 {
			return poll.Done
		}
		return poll.More
	})
	require.Equal(t, 5, n)
}

// Run ends when its context does: the step cancels it on its third call.
func TestRunEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	l := &poll.Loop{Name: "count", Every: time.Nanosecond}
	n := 0
	l.Run(ctx, func(ctx context.Context) error {
		n++
		if n == 3 {
			cancel()
		}
		return nil
	})
	require.Equal(t, 3, n)
}

// A failed step is logged as "<Name> failed" and the loop goes on.
func TestErrorsAreLoggedAndTheLoopGoesOn(t *testing.T) {
	var buf bytes.Buffer
	l := &poll.Loop{Name: "tagger: poll", Every: time.Nanosecond, Immediate: true,
		Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	n := 0
	l.Run(t.Context(), func(ctx context.Context) error {
		n++
		if n < 3 {
			return errors.New("no database")
		}
		return poll.Done
	})
	require.Equal(t, 3, n)
	require.Equal(t, 2, strings.Count(buf.String(), `msg="tagger: poll failed" err="no database"`), buf.String())
}

// Stop cancels the step in flight; Start and Stop are idempotent.
func TestStopCancelsTheStep(t *testing.T) {
	l := &poll.Loop{Name: "block", Every: time.Hour, Immediate: true}
	started := make(chan struct{})
	var stepErr error
	require.True(t, l.Start(t.Context(), func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		stepErr = ctx.Err()
		return stepErr
	}))
	require.False(t, l.Start(t.Context(), nil))
	<-started
	require.True(t, l.Running())
	require.NoError(t, l.Stop(t.Context()))
	require.ErrorIs(t, stepErr, context.Canceled)
	require.False(t, l.Running())
	require.NoError(t, l.Stop(t.Context()))
	<-l.Done()
}

// A graceful Stop lets the step finish; when Stop's own context ends first the step is
// canceled and Stop says so.
func TestGracefulStop(t *testing.T) {
	l := &poll.Loop{Name: "batch", Every: time.Hour, Immediate: true, Graceful: true}
	started, release := make(chan struct{}), make(chan struct{})
	var stepErr error
	l.Start(t.Context(), func(ctx context.Context) error {
		close(started)
		<-release
		stepErr = ctx.Err()
		return nil
	})
	<-started
	stopped := make(chan error)
	go func() { stopped <- l.Stop(t.Context()) }()
	close(release)
	require.NoError(t, <-stopped)
	require.NoError(t, stepErr, "the step ran to its end with a live context")

	started = make(chan struct{})
	l.Start(t.Context(), func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	<-started
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := l.Stop(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "batch: stop")
}

// Failures in a row double the wait up to MaxRetry; a success resets it. The waits are read
// from the log, not measured.
func TestRetryDoubles(t *testing.T) {
	var buf bytes.Buffer
	l := &poll.Loop{Name: "r", Every: time.Nanosecond, Retry: time.Nanosecond, MaxRetry: 4 * time.Nanosecond,
		Immediate: true, Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	results := []error{errors.New("a"), errors.New("b"), errors.New("c"), errors.New("d"), nil, errors.New("e"), poll.Done}
	l.Run(t.Context(), func(ctx context.Context) error {
		err := results[0]
		results = results[1:]
		return err
	})
	var waits []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		waits = append(waits, line[strings.Index(line, "retry_in=")+len("retry_in="):])
	}
	require.Equal(t, []string{"1ns", "2ns", "4ns", "4ns", "1ns"}, waits)
}

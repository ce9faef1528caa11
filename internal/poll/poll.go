package poll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// More, returned by a step, runs the next step at once (a queue that had work may have more).
	More = errors.New("poll: more to do")
	// Done, returned by a step, ends the loop.
	Done = errors.New("poll: done")
)

// TailRetryMax caps the backoff of the loops that follow a table (the tag and vector indexes,
// the lexical follower): while the database is unavailable they retry after Every, doubling
// up to this, so an outage costs a few log lines and connection attempts, not two a second,
// and a restored database is followed again within this.
const TailRetryMax = 5 * time.Second

// A Step is one round of a loop. Its context ends when the loop is stopped (see Loop.Graceful).
type Step func(ctx context.Context) error

// Loop calls a Step every Every. Set its fields before Start and do not copy it.
type Loop struct {
	// Name names the loop in its log lines ("<Name> failed") and in Stop's error. Required.
	Name string
	// Every is the wait after a step. Required (> 0).
	Every time.Duration
	// Retry is the wait after a failed step; it doubles with each failure in a row up to
	// MaxRetry. Default: Every.
	Retry time.Duration
	// MaxRetry caps the doubling of Retry. Default: Retry (no doubling).
	MaxRetry time.Duration
	// Immediate runs the first step at Start instead of after Every. Default: false.
	Immediate bool
	// Graceful makes Stop let the step in flight finish (its context ends only when Stop's
	// context ends, or Start's). Default: false (Stop cancels the step).
	Graceful bool
	// Logger receives step failures. Default: slog.Default().
	Logger *slog.Logger

	mu     sync.Mutex
	stop   context.CancelFunc // ends the loop between steps
	cancel context.CancelFunc // ends the step in flight
	done   chan struct{}
	ended  atomic.Pointer[chan struct{}] // closed when the last run ends; read by Done without mu (Stop holds mu while it waits)
}

// Start runs the loop in a goroutine until Stop or until ctx ends. It returns false, and does
// nothing, when the loop is already running.
func (l *Loop) Start(ctx context.Context, step Step) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done != nil {
		return false
	}
	if l.Name == "" || l.Every <= 0 {
		panic(fmt.Sprintf("poll: Loop %q needs a Name and a positive Every (%v)", l.Name, l.Every))
	}
	stepCtx, cancel := context.WithCancel(ctx)
	loopCtx, stop := context.WithCancel(stepCtx)
	if !l.Graceful {
		stepCtx = loopCtx
	}
	done := make(chan struct{})
	l.stop, l.cancel, l.done = stop, cancel, done
	l.ended.Store(&done)
	go func() {
		defer close(done)
		l.run(loopCtx, stepCtx, step)
	}()
	return true
}

// Run runs the loop in the calling goroutine until ctx ends or a step returns Done.
func (l *Loop) Run(ctx context.Context, step Step) {
	l.run(ctx, ctx, step)
}

// Running reports whether the loop was started and not stopped (it may have ended by itself).
func (l *Loop) Running() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done != nil
}

// Done is closed when the loop ends (Stop, Start's context, or a step returning Done); nil
// before the first Start.
func (l *Loop) Done() <-chan struct{} {
	if p := l.ended.Load(); p != nil {
		return *p
	}
	return nil
}

// Stop ends the loop and waits for it. If ctx ends first, the step in flight is canceled and
// Stop still waits for it to return, then reports ctx's error. Stopping a stopped loop does
// nothing.
func (l *Loop) Stop(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		return nil
	}
	l.stop()
	var err error
	select {
	case <-l.done:
	case <-ctx.Done():
		l.cancel()
		<-l.done
		err = fmt.Errorf("%s: stop: %w", l.Name, ctx.Err())
	}
	l.cancel()
	l.stop, l.cancel, l.done = nil, nil, nil
	return err
}

func (l *Loop) run(loopCtx, stepCtx context.Context, step Step) {
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	retry := l.Retry
	if retry <= 0 {
		retry = l.Every
	}
	maxRetry := max(l.MaxRetry, retry)
	backoff := retry
	wait := l.Every
	if l.Immediate {
		wait = 0
	}
	for {
		if wait > 0 && !Sleep(loopCtx, wait) {
			return
		}
		if loopCtx.Err() != nil {
			return
		}
		err := step(stepCtx)
		switch {
		case errors.Is(err, Done), stepCtx.Err() != nil:
			return
		case errors.Is(err, More):
			wait, backoff = 0, retry
		case err != nil:
			if l.Retry > 0 {
				log.Warn(l.Name+" failed", "err", err, "retry_in", backoff)
			} else {
				log.Warn(l.Name+" failed", "err", err)
			}
			wait, backoff = backoff, min(2*backoff, maxRetry)
		default:
			wait, backoff = l.Every, retry
		}
	}
}

// Sleep waits d and reports whether ctx was still going at the end.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

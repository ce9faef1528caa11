// Package poll runs a step at an interval until it is stopped: the loop behind every part of
// the service that follows a table or drains a queue in the background (the tag and vector
// indexes, the lexical follower, the embedding worker, the event simulator, the pool
// refresher).
//
// A Loop is configured by its exported fields and started once; Start and Stop are idempotent.
// A step's error is logged as "<Name> failed" (unless the loop is stopping) and the loop goes
// on; a step returns More to run again at once and Done to end the loop.
//
//	loop := &poll.Loop{Name: "tagger: poll", Every: 200 * time.Millisecond, Logger: log}
//	loop.Start(context.WithoutCancel(ctx), func(ctx context.Context) error {
//		_, err := t.Poll(ctx)
//		return err
//	})
//	defer loop.Stop(ctx)
//
// The loop ends when Stop is called or when Start's context ends, so a part that must outlive
// the request that started it passes context.WithoutCancel(ctx). Stop cancels the step in
// flight, or with Graceful lets it finish unless Stop's own context ends first.
//
// The wait is measured from the end of one step to the start of the next (a timer, not a
// ticker: a slow step never queues a burst of steps behind it).
package poll

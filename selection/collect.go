package selection

import (
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
)

// A refresh pass at a million SKUs allocates about 2.4 GB against a live heap of 3 GB, so at
// Go's default target a collection ends in most passes. One that runs while the pass's workers
// allocate costs the pass far more than its marking (measured: 2-4 s more CPU against about
// 1 s the runtime counts as the collector's; assists, write barriers, then the swept heap
// growing back into released pages), while a collection between passes, with nothing else
// allocating, takes about 0.3 s. So, when CollectAfterPass is set, a pass that used more than
// half of the heap's headroom collects as it ends (inside the pass's time): the next pass
// then starts with the whole headroom and, at the same size, ends before the next collection
// comes due.

// A pass also collects as it ends when the next pass, allocating as much as the most of the
// last few (each counted from the end of the one before, so with what the process allocated
// between them), would reach the goal: at a million SKUs a batch of 10,000 changes after a
// pass of 1,000 (which had left more than half the headroom) otherwise ran into a collection,
// and 76,000 page faults, halfway through.

// collectDue reports whether more than half of the headroom between the heap live after the
// last collection and the next collection's goal holds objects allocated since, or expect
// more bytes would reach the goal.
func collectDue(expect uint64) bool {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	for _, x := range s {
		if x.Value.Kind() != metrics.KindUint64 {
			return false
		}
	}
	return dueAt(s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64(), expect)
}

// dueAt is collectDue's rule for a live heap, a goal, the bytes of objects now (live and
// garbage) and the bytes expected before the next check.
func dueAt(live, goal, objects, expect uint64) bool {
	if goal <= live || objects <= live {
		return false
	}
	return objects-live > (goal-live)/2 || objects+expect > goal
}

// passCollector collects after passes (Service.CollectAfterPass), keeping what the last ones
// allocated.
type passCollector struct {
	mu     sync.Mutex
	last   uint64                // the heap's allocations, in all, as the last pass ended (0: none yet)
	recent [collectRecent]uint64 // bytes allocated from one pass's end to the next's
	n      int
}

// collectRecent is how many of the last passes' allocations predict the next one's.
const collectRecent = 4

// afterPass collects the garbage when collectDue says so for the most any of the last passes
// allocated, and reports whether it did.
func (c *passCollector) afterPass() bool {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	var expect uint64
	if s[0].Value.Kind() == metrics.KindUint64 {
		allocs := s[0].Value.Uint64()
		c.mu.Lock()
		if allocs >= c.last { // (a concurrent call may have read a later count)
			if c.last > 0 {
				c.recent[c.n%collectRecent] = allocs - c.last
				c.n++
			}
			c.last = allocs
		}
		expect = slices.Max(c.recent[:])
		c.mu.Unlock()
	}
	if !collectDue(expect) {
		return false
	}
	runtime.GC()
	return true
}

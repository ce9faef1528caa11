package selection

import (
	"runtime"
	"runtime/metrics"
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

// collectDue reports whether more than half of the headroom between the heap live after the
// last collection and the next collection's goal holds objects allocated since.
func collectDue() bool {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	for _, x := range s {
		if x.Value.Kind() != metrics.KindUint64 {
			return false
		}
	}
	live, goal, objects := s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
	return goal > live && objects > live && objects-live > (goal-live)/2
}

// collectAfterPass collects the garbage when collectDue says so, and reports whether it did.
func collectAfterPass() bool {
	if !collectDue() {
		return false
	}
	runtime.GC()
	return true
}

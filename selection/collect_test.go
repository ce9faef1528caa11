package selection

import (
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/stretchr/testify/require"
)

var garbage []byte

func gcState() (live, goal, cycles uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
}

// A pass collects as it ends only when it used more than half the headroom to the next
// collection: not right after one, and once three quarters of the headroom is garbage.
func TestCollectAfterPass(t *testing.T) {
	runtime.GC()
	require.False(t, collectDue(0), "just collected")
	_, _, c0 := gcState()
	var c passCollector // no pass before: nothing expected
	require.False(t, c.afterPass())
	live, goal, c1 := gcState()
	require.Equal(t, c0, c1, "nothing collected")

	// Another collection (the runtime's periodic one, another goroutine's) may end while the
	// garbage is made: then start again.
	for attempt := 0; ; attempt++ {
		for made := uint64(0); made < (goal-live)/4; made += 1 << 16 {
			garbage = make([]byte, 1<<16)
		}
		due := collectDue(0)
		for made := uint64(0); made < (goal-live)/2; made += 1 << 16 {
			garbage = make([]byte, 1<<16)
		}
		_, _, c2 := gcState()
		if c2 != c1 && attempt < 3 {
			runtime.GC()
			live, goal, c1 = gcState()
			continue
		}
		require.Equal(t, c1, c2, "no collection came due on its own")
		require.False(t, due, "a quarter of the headroom")
		require.True(t, collectDue(0), "three quarters of the headroom")
		require.True(t, c.afterPass())
		_, _, c3 := gcState()
		require.Greater(t, c3, c2)
		require.False(t, collectDue(0))
		return
	}
}

// The rule: more than half of the headroom used, or the bytes expected before the next check
// reaching the goal; nothing when the heap is at or past its goal's base.
func TestCollectDueRule(t *testing.T) {
	const live, goal = 100, 200
	require.False(t, dueAt(live, goal, 140, 0), "two fifths of the headroom")
	require.True(t, dueAt(live, goal, 160, 0), "three fifths")
	require.False(t, dueAt(live, goal, 140, 60), "the next pass fits")
	require.True(t, dueAt(live, goal, 140, 61), "the next pass would reach the goal")
	require.False(t, dueAt(live, goal, live, 1000), "nothing allocated since")
	require.False(t, dueAt(goal, goal, 300, 0), "no headroom to speak of")
}

// A pass collects when the most any of the last passes allocated (with what was allocated
// between them) would take the heap to its goal: after a large pass that collected as it
// ended, a small one that leaves less headroom than the large one used collects too.
func TestCollectAfterPassExpectsTheLargestRecentPass(t *testing.T) {
	alloc := func(share float64) (collectedMeanwhile bool) {
		live, goal, c0 := gcState()
		for made := uint64(0); made < uint64(float64(goal-live)*share); made += 1 << 16 {
			garbage = make([]byte, 1<<16)
		}
		_, _, c1 := gcState()
		return c1 != c0
	}
	for attempt := 0; ; attempt++ {
		var c passCollector
		runtime.GC()
		require.False(t, c.afterPass(), "the first pass has nothing to go by")
		if alloc(0.65) || !c.afterPass() { // the large pass: collected by the half rule
			require.Less(t, attempt, 3, "a collection kept ending on its own")
			continue
		}
		if alloc(0.45) {
			require.Less(t, attempt, 3, "a collection kept ending on its own")
			continue
		}
		require.False(t, collectDue(0), "less than half of the headroom used")
		require.True(t, c.afterPass(), "the next pass like the large one would reach the goal (recent: %v)", c.recent)
		return
	}
}

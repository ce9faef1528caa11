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
	require.False(t, collectDue(), "just collected")
	_, _, c0 := gcState()
	require.False(t, collectAfterPass())
	live, goal, c1 := gcState()
	require.Equal(t, c0, c1, "nothing collected")

	// Another collection (the runtime's periodic one, another goroutine's) may end while the
	// garbage is made: then start again.
	for attempt := 0; ; attempt++ {
		for made := uint64(0); made < (goal-live)/4; made += 1 << 16 {
			garbage = make([]byte, 1<<16)
		}
		due := collectDue()
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
		require.True(t, collectDue(), "three quarters of the headroom")
		require.True(t, collectAfterPass())
		_, _, c3 := gcState()
		require.Greater(t, c3, c2)
		require.False(t, collectDue())
		return
	}
}

package cli

import (
	"errors"
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// The machine's memory is MemTotal, or the cgroup's limit when lower; nothing readable is 0.
func TestMemoryOf(t *testing.T) {
	files := map[string]string{}
	read := func(name string) ([]byte, error) {
		if v, ok := files[name]; ok {
			return []byte(v), nil
		}
		return nil, errors.New("no such file")
	}
	require.Zero(t, memoryOf(read))
	files["/proc/meminfo"] = "MemFree:   100 kB\nMemTotal:       24684748 kB\nBuffers: 1 kB\n"
	require.EqualValues(t, 24684748*1024, memoryOf(read))
	files["/sys/fs/cgroup/memory.max"] = "max\n"
	require.EqualValues(t, 24684748*1024, memoryOf(read), "no cgroup limit")
	files["/sys/fs/cgroup/memory.max"] = "4294967296\n"
	require.EqualValues(t, 4<<30, memoryOf(read), "the cgroup's lower limit")
	files["/sys/fs/cgroup/memory.max"] = "99999999999999\n"
	require.EqualValues(t, 24684748*1024, memoryOf(read), "a cgroup limit above the machine's memory")
	delete(files, "/proc/meminfo")
	require.EqualValues(t, 99999999999999, memoryOf(read))
}

// The settings set the collector's target and soft limit, unless GOGC and GOMEMLIMIT are set.
func TestApplyGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	beforeLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(before)
		debug.SetMemoryLimit(beforeLimit)
	})
	none := func(string) string { return "" }
	limit := applyGC(Config{GCPercent: 250, GCMemoryShare: 0.5}, none)
	require.Equal(t, 250, debug.SetGCPercent(100))
	if memoryOf(os.ReadFile) > 0 {
		require.Positive(t, limit)
		require.Equal(t, limit, debug.SetMemoryLimit(-1))
		require.InDelta(t, 0.5, float64(limit)/float64(memoryOf(os.ReadFile)), 1e-9)
	}
	debug.SetMemoryLimit(math.MaxInt64)

	set := func(k string) string {
		return map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}[k]
	}
	require.Zero(t, applyGC(Config{GCPercent: 250, GCMemoryShare: 0.5}, set))
	require.Equal(t, 100, debug.SetGCPercent(100), "GOGC wins")
	require.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1), "GOMEMLIMIT wins")
	require.Zero(t, applyGC(Config{GCPercent: 250}, none), "no share: no limit")
}

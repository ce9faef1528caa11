package cli

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// applyGC sets the garbage collector's target (Config.GCPercent) and soft memory limit
// (Config.GCMemoryShare of the machine's memory), each unless its Go variable (GOGC,
// GOMEMLIMIT) is set: the runtime has read that one already, and it wins. It returns the
// limit it set (0: none).
func applyGC(cfg Config, getenv func(string) string) int64 {
	if getenv("GOGC") == "" && cfg.GCPercent > 0 {
		debug.SetGCPercent(cfg.GCPercent)
	}
	if getenv("GOMEMLIMIT") != "" || cfg.GCMemoryShare <= 0 {
		return 0
	}
	total := memoryOf(os.ReadFile)
	if total <= 0 {
		return 0
	}
	limit := int64(float64(total) * cfg.GCMemoryShare)
	debug.SetMemoryLimit(limit)
	return limit
}

// memoryOf is the memory the process may use: the machine's (/proc/meminfo MemTotal), or its
// cgroup's limit when lower (cgroup v2 memory.max); 0 when neither says.
func memoryOf(read func(string) ([]byte, error)) int64 {
	var total int64
	if raw, err := read("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil && kb > 0 {
					total = kb * 1024
				}
			}
		}
	}
	if raw, err := read("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			total = n
		}
	}
	return total
}

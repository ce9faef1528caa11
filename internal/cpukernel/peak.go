package cpukernel

import (
	"bytes"
	"os"
	"runtime"
	"sync"
	"time"
)

// Peak is an estimate of the fp32 peak of a kernel path on this machine.
type Peak struct {
	Path  Path
	Cores int     // GOMAXPROCS
	GHz   float64 // measured clock (MeasureGHz)
	// FLOPsPerCycle per core: FMA units x lanes x 2 (an FMA is a multiply and an add).
	FLOPsPerCycle int
}

// GFLOPS is Cores x GHz x FLOPsPerCycle.
func (p Peak) GFLOPS() float64 { return float64(p.Cores) * p.GHz * float64(p.FLOPsPerCycle) }

// MeasurePeak estimates the fp32 peak of path p (Auto: Best()) on GOMAXPROCS cores, measuring
// the clock first (about 20 ms).
func MeasurePeak(p Path) Peak {
	if p == Auto || p == "" {
		p = Best()
	}
	return Peak{Path: p, Cores: runtime.GOMAXPROCS(0), GHz: MeasureGHz(), FLOPsPerCycle: FLOPsPerCycle(p)}
}

// FLOPsPerCycle is the fp32 FLOPs one core can retire per cycle on path p:
//
//	avx512    2 FMA units x 16 lanes x 2 = 64, but 32 on AMD Zen 4 (CPU family 25), whose two
//	          FMA pipes are 256 bits wide and run a 512-bit FMA as two halves
//	avx2      2 FMA units x 8 lanes x 2 = 32 (Haswell and later, Zen 2 and later)
//	portable  8: gonum's SSE loops, 4 lanes with separate multiplies and adds on two ports
//	          (the baseline of amd64 has no FMA)
//
// Some Xeons have a single 512-bit FMA unit (half the avx512 figure); CPUID does not say so,
// so their fraction of peak reads low by half.
func FLOPsPerCycle(p Path) int {
	switch p {
	case AVX512:
		if amdFamily() == 25 {
			return 32
		}
		return 64
	case AVX2:
		return 32
	case Auto:
		return FLOPsPerCycle(Best())
	}
	return 8
}

var (
	familyOnce sync.Once
	family     int
)

// amdFamily is the CPU family of an AMD CPU from /proc/cpuinfo (Linux), 0 for other vendors
// or when it cannot be read.
func amdFamily() int {
	familyOnce.Do(func() {
		b, err := os.ReadFile("/proc/cpuinfo")
		if err != nil || !bytes.Contains(b, []byte("AuthenticAMD")) {
			return
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			k, v, ok := bytes.Cut(line, []byte(":"))
			if ok && string(bytes.TrimSpace(k)) == "cpu family" {
				for _, c := range bytes.TrimSpace(v) {
					if c < '0' || c > '9' {
						family = 0
						return
					}
					family = family*10 + int(c-'0')
				}
				return
			}
		}
	})
	return family
}

// chainOps is the number of dependent integer operations per addChain iteration.
const chainOps = 16

// addChain runs n iterations of 16 dependent single-cycle integer operations (add and xor
// alternate so the compiler cannot fold them). An integer add or xor has a latency of one
// cycle on every x86-64 core, and the loop's own counter, compare and branch run beside the
// chain, so n iterations take 16 n cycles at whatever clock the core runs (turbo included).
//
//go:noinline
func addChain(n int, a, b uint64) uint64 {
	x := a
	for i := 0; i < n; i++ {
		x += b
		x ^= a
		x += b
		x ^= a
		x += b
		x ^= a
		x += b
		x ^= a
		x += b
		x ^= a
		x += b
		x ^= a
		x += b
		x ^= a
		x += b
		x ^= a
	}
	return x
}

var sink uint64

// MeasureGHz measures the clock of the core it runs on: the fastest of five runs of a
// 2^18-iteration addChain (about 4 M cycles, 1-2 ms each), so that a run the scheduler
// interrupted does not count. It reads the clock the cores reach under load, boost included,
// which is what the kernels run at; /proc/cpuinfo's figure is often the nominal one.
func MeasureGHz() float64 {
	const n = 1 << 18
	best := time.Duration(1 << 62)
	addChain(n/16, 3, 5) // warm up (and let the core leave a low-power state)
	for r := 0; r < 5; r++ {
		t0 := time.Now()
		sink += addChain(n, uint64(r)+3, 5)
		best = min(best, time.Since(t0))
	}
	return float64(n*chainOps) / best.Seconds() / 1e9
}

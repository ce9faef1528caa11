package soakbench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Memory is one reading of the service's memory and of the catalogue it holds, so that growth
// can be told apart: data (more live SKUs, the memory per live SKU about the same) or a leak
// (the memory per live SKU grows while the catalogue keeps its size).
type Memory struct {
	// RSS is the resident memory in bytes (Config.RSS).
	RSS int64
	// Heap is the Go heap in use after a garbage collection, in bytes (Config.Heap).
	Heap int64
	// LiveSKUs is the number of live SKUs in the service's database.
	LiveSKUs int64
}

// PerSKU is RSS and Heap per live SKU, in bytes (0 without SKUs).
func (m Memory) PerSKU() (rss, heap float64) {
	if m.LiveSKUs == 0 {
		return 0, 0
	}
	return float64(m.RSS) / float64(m.LiveSKUs), float64(m.Heap) / float64(m.LiveSKUs)
}

// HeapAfterGC collects garbage and returns the bytes of the heap's objects still reachable
// (runtime.MemStats.HeapAlloc right after runtime.GC): this process's Go heap in use.
func HeapAfterGC() (int64, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc), nil
}

// WriteHeapProfile collects garbage and writes this process's heap profile (pprof format) to
// path; `go tool pprof -diff_base START END` then shows what grew.
func WriteHeapProfile(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("soak: heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("soak: heap profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("soak: heap profile: %w", err)
	}
	return nil
}

// readMemory reads the memory (heap first: its collection makes the RSS reading less noisy)
// and the live SKUs.
func readMemory(ctx context.Context, cfg Config, pool *pgxpool.Pool) (Memory, error) {
	var m Memory
	var err error
	if m.Heap, err = cfg.Heap(); err != nil {
		return m, fmt.Errorf("soak: heap in use: %w", err)
	}
	if m.RSS, err = cfg.RSS(); err != nil {
		return m, fmt.Errorf("soak: resident memory: %w", err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM skus WHERE live`).Scan(&m.LiveSKUs); err != nil {
		return m, fmt.Errorf("soak: count live SKUs: %w", err)
	}
	return m, nil
}

func growth(start, end int64) float64 {
	if start == 0 {
		return 0
	}
	return float64(end-start) / float64(start)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

package soakbench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/internal/poll"
)

// Memory is one reading of the service's memory and of the catalogue it holds, so that growth
// can be told apart: data (more live SKUs, the memory per live SKU about the same) or a leak
// (the memory per live SKU grows while the catalogue keeps its size).
type Memory struct {
	// RSS is the resident memory in bytes (Config.RSS).
	RSS int64
	// Heap is the Go heap in use after a garbage collection, in bytes (Config.Heap).
	Heap int64
	// LiveSKUs is the number of live SKUs in the service's database, and SKUs the number of
	// its SKU rows, the deleted ones included (they keep their ordinal, and the in-memory
	// vector index, addressed by ordinal, keeps their row's memory).
	LiveSKUs, SKUs int64
}

// PerSKU is RSS and Heap per live SKU, in bytes (0 without SKUs).
func (m Memory) PerSKU() (rss, heap float64) {
	if m.LiveSKUs == 0 {
		return 0, 0
	}
	return float64(m.RSS) / float64(m.LiveSKUs), float64(m.Heap) / float64(m.LiveSKUs)
}

// HeapAfterGC collects garbage twice and returns the bytes of the heap objects the last
// collection marked live (runtime/metrics /gc/heap/live:bytes; HeapAlloc would add what the
// service allocated since): this process's Go heap in use. Twice, because a collection moves
// sync.Pool contents (the embedder's scratch, tens of MiB) to a victim cache that only the next
// one frees; a scratch in use by a request at that moment still counts.
func HeapAfterGC() (int64, error) {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0, fmt.Errorf("runtime/metrics: no %s", s[0].Name)
	}
	return int64(s[0].Value.Uint64()), nil
}

// WriteHeapProfile collects garbage and writes this process's heap profile (pprof format) to
// path; `go tool pprof -diff_base START END` then shows what grew (the soak's heap in use, the
// pools bench's allocations in a pass, -sample_index=alloc_space).
func WriteHeapProfile(path string) error {
	runtime.GC()
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("heap profile %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("heap profile %s: %w", path, err)
	}
	return nil
}

// heapReadings is how many times readMemory reads the heap, heapGap apart, keeping the least:
// what requests and the embedding worker hold while they run (an embedder's scratch alone is
// up to tens of MiB) is in use at some readings and not at others, and the least is the heap
// the service keeps.
const (
	heapReadings = 5
	heapGap      = 200 * time.Millisecond
)

// readMemory reads the memory (heap first: its collections make the RSS reading less noisy)
// and the live SKUs.
func readMemory(ctx context.Context, cfg Config, pool *pgxpool.Pool) (Memory, error) {
	var m Memory
	if cfg.Settle != nil {
		if err := cfg.Settle(ctx); err != nil {
			return m, fmt.Errorf("soak: settle before reading memory: %w", err)
		}
	}
	for i := range heapReadings {
		if i > 0 && !poll.Sleep(ctx, heapGap) {
			return m, ctx.Err()
		}
		h, err := cfg.Heap()
		if err != nil {
			return m, fmt.Errorf("soak: heap in use: %w", err)
		}
		if i == 0 || h < m.Heap {
			m.Heap = h
		}
	}
	var err error
	if m.RSS, err = cfg.RSS(); err != nil {
		return m, fmt.Errorf("soak: resident memory: %w", err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE live), count(*) FROM skus`).Scan(&m.LiveSKUs, &m.SKUs); err != nil {
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

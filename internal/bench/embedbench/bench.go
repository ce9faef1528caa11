package embedbench

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"

	"selection/embed"
	"selection/internal/cpukernel"
)

// Result is what Run measured.
type Result struct {
	Model        string
	Texts        int
	Elapsed      time.Duration // embedding all texts
	TitlesPerSec float64
	FLOPs        int64   // matrix work of all texts (0 if unknown)
	GFLOPS       float64 // FLOPs / Elapsed (0 if unknown)
	Queries      int
	QueryP50     time.Duration
	QueryP95     time.Duration
	QueryMax     time.Duration
	Cores        int // GOMAXPROCS during the run
	// Kernel is the local model's kernel path ("avx512", "avx2", "portable"); "" for a
	// remote model, which has no Peak either.
	Kernel string
	// Peak is the fp32 peak of Kernel's path on Cores cores at the clock measured after the
	// run; MachinePeak that of the fastest path the machine supports (the same under auto).
	Peak, MachinePeak cpukernel.Peak
	PeakFrac          float64 // GFLOPS / Peak.GFLOPS()
}

// benchQueries is the number of single EmbedQuery calls timed.
const benchQueries = 200

// benchChunk is the number of texts handed to EmbedDocuments at once.
const benchChunk = 1024

// Run embeds texts in chunks with e.EmbedDocuments, then times
// EmbedQuery on up to 200 of them one at a time, and prints a small table
// to out whose last line is exactly
//
//	embed titles_per_sec=<n> gflops=<n> query_p50_ms=<n> cores=<n> kernel=<path> peak_pct=<n>
//
// gflops is the achieved matrix GFLOP/s when e implements embed.FLOPCounter
// (the local model does), otherwise 0; kernel is the local model's kernel path
// (avx512, avx2 or portable; "remote" otherwise) and peak_pct the share of that
// path's fp32 peak on these cores that gflops is (cpukernel.MeasurePeak: the clock is
// measured right after the throughput run).
func Run(ctx context.Context, out io.Writer, e embed.Embedder, texts []string) (Result, error) {
	res := Result{Model: e.Name(), Texts: len(texts), Cores: runtime.GOMAXPROCS(0)}
	if len(texts) == 0 {
		return res, fmt.Errorf("embed: bench: no texts")
	}
	if fc, ok := e.(embed.FLOPCounter); ok {
		res.FLOPs = fc.CountFLOPs(texts)
	}
	start := time.Now()
	for lo := 0; lo < len(texts); lo += benchChunk {
		hi := min(lo+benchChunk, len(texts))
		vs, err := e.EmbedDocuments(ctx, texts[lo:hi])
		if err != nil {
			return res, fmt.Errorf("embed: bench: texts %d-%d: %w", lo, hi, err)
		}
		if len(vs) != hi-lo {
			return res, fmt.Errorf("embed: bench: %d vectors for %d texts: %w", len(vs), hi-lo, embed.ErrDimension)
		}
	}
	res.Elapsed = time.Since(start)
	secs := res.Elapsed.Seconds()
	res.TitlesPerSec = float64(len(texts)) / secs
	if res.FLOPs > 0 {
		res.GFLOPS = float64(res.FLOPs) / secs / 1e9
	}
	if k, ok := e.(interface{ Kernel() string }); ok {
		res.Kernel = k.Kernel()
		res.Peak = cpukernel.MeasurePeak(cpukernel.Path(res.Kernel))
		res.MachinePeak = res.Peak
		if best := cpukernel.Best(); best != res.Peak.Path {
			res.MachinePeak = cpukernel.Peak{Path: best, Cores: res.Peak.Cores, GHz: res.Peak.GHz, FLOPsPerCycle: cpukernel.FLOPsPerCycle(best)}
		}
		res.PeakFrac = res.GFLOPS / res.Peak.GFLOPS()
	}

	res.Queries = min(benchQueries, len(texts))
	lat := make([]time.Duration, res.Queries)
	for i := range lat {
		t0 := time.Now()
		if _, err := e.EmbedQuery(ctx, texts[i]); err != nil {
			return res, fmt.Errorf("embed: bench: query %d: %w", i, err)
		}
		lat[i] = time.Since(t0)
	}
	slices.Sort(lat)
	res.QueryP50 = lat[len(lat)/2]
	res.QueryP95 = lat[min(len(lat)-1, len(lat)*95/100)]
	res.QueryMax = lat[len(lat)-1]

	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s (dim %d)\n", res.Model, e.Dimension())
	if b, ok := e.(interface{ Backend() string }); ok {
		fmt.Fprintf(tw, "kernels\t%s\n", b.Backend())
	}
	fmt.Fprintf(tw, "texts\t%d in %.2f s\n", res.Texts, secs)
	fmt.Fprintf(tw, "throughput\t%.1f texts/s\n", res.TitlesPerSec)
	if res.FLOPs > 0 {
		fmt.Fprintf(tw, "matrix work\t%.1f GFLOP, %.1f GFLOP/s\n", float64(res.FLOPs)/1e9, res.GFLOPS)
	}
	if res.Kernel != "" {
		pk := res.Peak
		fmt.Fprintf(tw, "fp32 peak\t%.0f GFLOP/s = %d cores x %.2f GHz (measured) x %d FLOP/cycle (%s); reached %.0f%%",
			pk.GFLOPS(), pk.Cores, pk.GHz, pk.FLOPsPerCycle, pk.Path, 100*res.PeakFrac)
		if mp := res.MachinePeak; mp.FLOPsPerCycle != pk.FLOPsPerCycle {
			fmt.Fprintf(tw, "; the machine's (%s) %.0f GFLOP/s: %.0f%%", mp.Path, mp.GFLOPS(), 100*res.GFLOPS/mp.GFLOPS())
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "query latency\tp50 %s, p95 %s, max %s (%d queries)\n", ms(res.QueryP50), ms(res.QueryP95), ms(res.QueryMax), res.Queries)
	fmt.Fprintf(tw, "cores\t%d\n", res.Cores)
	if err := tw.Flush(); err != nil {
		return res, fmt.Errorf("embed: bench: write: %w", err)
	}
	kernel := res.Kernel
	if kernel == "" {
		kernel = "remote"
	}
	if _, err := fmt.Fprintf(out, "embed titles_per_sec=%.1f gflops=%.1f query_p50_ms=%.2f cores=%d kernel=%s peak_pct=%.0f\n",
		res.TitlesPerSec, res.GFLOPS, float64(res.QueryP50)/1e6, res.Cores, kernel, 100*res.PeakFrac); err != nil {
		return res, fmt.Errorf("embed: bench: write: %w", err)
	}
	return res, nil
}

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
}

// benchQueries is the number of single EmbedQuery calls timed.
const benchQueries = 200

// benchChunk is the number of texts handed to EmbedDocuments at once.
const benchChunk = 1024

// Run embeds texts in chunks with e.EmbedDocuments, then times
// EmbedQuery on up to 200 of them one at a time, and prints a small table
// to out whose last line is exactly
//
//	embed titles_per_sec=<n> gflops=<n> query_p50_ms=<n> cores=<n>
//
// gflops is the achieved matrix GFLOP/s when e implements embed.FLOPCounter
// (the local model does), otherwise 0.
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
	fmt.Fprintf(tw, "query latency\tp50 %s, p95 %s, max %s (%d queries)\n", ms(res.QueryP50), ms(res.QueryP95), ms(res.QueryMax), res.Queries)
	fmt.Fprintf(tw, "cores\t%d\n", res.Cores)
	if err := tw.Flush(); err != nil {
		return res, fmt.Errorf("embed: bench: write: %w", err)
	}
	if _, err := fmt.Fprintf(out, "embed titles_per_sec=%.1f gflops=%.1f query_p50_ms=%.2f cores=%d\n",
		res.TitlesPerSec, res.GFLOPS, float64(res.QueryP50)/1e6, res.Cores); err != nil {
		return res, fmt.Errorf("embed: bench: write: %w", err)
	}
	return res, nil
}

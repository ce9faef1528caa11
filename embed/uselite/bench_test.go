package uselite

import (
	"archive/zip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"selection/internal/cpukernel"
)

// icecatDir is where the Icecat product dumps are: $ICECAT_DIR, else the
// shared data folder next to the checkout.
func icecatDir() string {
	if d := os.Getenv("ICECAT_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "data", "icecat")
}

// loadTitles reads up to max product titles from products_*.json.zip.
func loadTitles(tb testing.TB, max int) []string {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(icecatDir(), "products_*.json.zip"))
	sort.Strings(files)
	if len(files) == 0 {
		tb.Skipf("no Icecat products_*.json.zip in %s (set ICECAT_DIR)", icecatDir())
	}
	var titles []string
	for _, f := range files {
		zr, err := zip.OpenReader(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, zf := range zr.File {
			rc, err := zf.Open()
			if err != nil {
				tb.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				tb.Fatal(err)
			}
			var prods []struct {
				Title string `json:"title"`
			}
			if err := json.Unmarshal(b, &prods); err != nil {
				tb.Fatalf("%s: %v", f, err)
			}
			for _, p := range prods {
				if p.Title != "" {
					titles = append(titles, p.Title)
				}
			}
		}
		zr.Close()
		if len(titles) >= max {
			return titles[:max]
		}
	}
	return titles
}

// BenchmarkEmbedTitles embeds 2,000 Icecat titles per iteration and reports
// titles/s and the achieved GFLOP/s, on every kernel path this machine supports.
func BenchmarkEmbedTitles(b *testing.B) {
	loadTestModel(b)
	titles := loadTitles(b, 2000)
	for _, p := range cpukernel.Supported() {
		m, err := LoadKernel(testModelDir(), string(p))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(p), func(b *testing.B) { benchEmbedTitles(b, m, titles) })
	}
}

func benchEmbedTitles(b *testing.B, m *Model, titles []string) {
	enc := NewEncoder(m, Options{})
	flops := enc.CountFLOPs(titles)
	ctx := context.Background()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := enc.EmbedDocuments(ctx, titles); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start).Seconds()
	cpu := (cpuTime() - cpu0).Seconds()
	b.ReportMetric(float64(len(titles)*b.N)/el, "titles/s")
	b.ReportMetric(float64(flops)*float64(b.N)/el/1e9, "GFLOP/s")
	// On a shared machine wall-clock rates depend on the neighbours; work
	// per CPU-second does much less.
	b.ReportMetric(float64(len(titles)*b.N)/cpu, "titles/cpu-s")
	b.Logf("backend %s", m.Backend())
}

func BenchmarkEmbedQuery(b *testing.B) {
	m := loadTestModel(b)
	titles := loadTitles(b, 200)
	enc := NewEncoder(m, Options{})
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := enc.EmbedQuery(ctx, titles[i%len(titles)]); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime is the user+system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

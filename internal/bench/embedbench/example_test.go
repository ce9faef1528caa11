package embedbench_test

import (
	"context"
	"log"
	"os"

	"selection/embed"
	"selection/internal/bench/embedbench"
)

// Run prints a table and a last line for scripts to parse.
func ExampleRun() {
	ctx := context.Background()
	e, err := embed.New(ctx, embed.Config{})
	if err != nil {
		log.Fatal(err)
	}
	titles := []string{"Xerox 006R90321 toner cartridge Original Black 6 pc(s)", "HP Pavilion dv7-1211ea Notebook Silver"}
	if _, err := embedbench.Run(ctx, os.Stdout, e, titles); err != nil {
		log.Fatal(err)
	}
	// The last line reads like:
	// embed titles_per_sec=650.2 gflops=141.0 query_p50_ms=3.10 cores=2 kernel=avx512 peak_pct=62
}

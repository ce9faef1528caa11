package vectorbench_test

import (
	"context"
	"os"
	"testing"

	"selection/internal/bench/vectorbench"
	"selection/internal/icecat"
	"selection/internal/testdb"
)

// BenchmarkSearchPaths prints `selection bench vectors`' table for the Icecat catalogue loaded
// into a test schema (memory and pgvector paths) and for a synthetic 1,000,000-vector index
// built from it (memory paths):
//
//	go test -run '^$' -bench SearchPaths -benchtime 1x -timeout 60m ./internal/bench/vectorbench/
func BenchmarkSearchPaths(b *testing.B) {
	ctx := context.Background()
	db := testdb.New(b)
	icecat.Load(b, db.Pool)
	for _, tc := range []struct {
		name string
		cfg  vectorbench.Config
	}{
		{"icecat", vectorbench.Config{PG: true, Selectivities: []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1}}},
		{"synthetic-1M", vectorbench.Config{SKUs: 1_000_000, Queries: 32, Selectivities: []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				rep, err := vectorbench.Run(ctx, db.Pool, os.Stdout, tc.cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(rep.LoadTime.Milliseconds()), "load-ms")
			}
		})
	}
}

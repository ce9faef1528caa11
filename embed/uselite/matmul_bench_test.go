package uselite

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"selection/internal/cpukernel"
)

// BenchmarkMatmul times the matrix kernel alone on the model's layer
// shapes for a batch of 32 Icecat titles (M = 736 tokens), with one
// goroutine per core each running its own product, as the encoder does.
// Every kernel path this machine supports is timed.
func BenchmarkMatmul(b *testing.B) {
	for _, p := range cpukernel.Supported() {
		benchMatmul(b, newBackend(p))
	}
}

func benchMatmul(b *testing.B, be backend) {
	r := rand.New(rand.NewPCG(3, 4))
	const M = 736
	for _, kn := range [][2]int{{256, 768}, {512, 512}, {512, 1536}, {1536, 512}} {
		K, N := kn[0], kn[1]
		for _, par := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/K%d_N%d/par%d", be.name(), K, N, par), func(b *testing.B) {
				l := &linear{in: K, out: N, w: randF(r, K*N), b: randF(r, N)}
				be.pack(l)
				as := make([][]float32, par)
				cs := make([][]float32, par)
				for p := range as {
					as[p] = randF(r, M*K)
					cs[p] = make([]float32, M*N)
				}
				b.ResetTimer()
				cpu0 := cpuTime()
				for i := 0; i < b.N; i++ {
					var wg sync.WaitGroup
					for p := 0; p < par; p++ {
						wg.Add(1)
						go func() {
							defer wg.Done()
							be.matmul(M, as[p], K, l, cs[p], N, modeStore)
						}()
					}
					wg.Wait()
				}
				cpu := (cpuTime() - cpu0).Seconds()
				flop := float64(2*M*K*N*par) * float64(b.N)
				b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(flop/cpu/1e9, "GFLOP/cpu-s")
			})
		}
	}
}

func randF(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

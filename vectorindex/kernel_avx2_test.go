//go:build goexperiment.simd && amd64

package vectorindex

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/internal/cpukernel"
)

// hammingVariants are the Hamming loops the AVX2 path could use (and the AVX-512 one without
// VPOPCNTDQ): BenchmarkHamming measures them, TestHammingVariants checks them.
var hammingVariants = []struct {
	name string
	fn   func(q, blocks []uint64, words int, out []uint64)
}{{"nibble-vpshufb", hammingNibble}, {"popcnt-unrolled", hammingPOPCNT}, {"portable", portable{}.hamming}}

func TestHammingVariants(t *testing.T) {
	if _, err := cpukernel.Resolve(string(cpukernel.AVX2)); err != nil {
		t.Skipf("AVX2 variants not tested here: %v", err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, words := range []int{1, 2, 8, 31, 32, 63} {
		blocks := make([]uint64, 3*words*8)
		for i := range blocks {
			blocks[i] = rng.Uint64()
		}
		q := make([]uint64, words)
		for i := range q {
			q[i] = rng.Uint64()
		}
		want := make([]uint64, 3*8)
		portable{}.hamming(q, blocks, words, want)
		for _, v := range hammingVariants {
			got := make([]uint64, 3*8)
			v.fn(q, blocks, words, got)
			require.Equal(t, want, got, "%s, words=%d", v.name, words)
		}
		got := make([]uint64, 3*8)
		avx512NoPopcnt{}.hamming(q, blocks, words, got)
		require.Equal(t, want, got, "avx512NoPopcnt, words=%d", words)
	}
}

// BenchmarkHamming times the Hamming variants on 512-bit codes (8 words), 64 blocks (512
// codes, 32 KiB) per call as search.go's runs:
//
//	GOEXPERIMENT=simd go test ./vectorindex -run '^$' -bench Hamming
func BenchmarkHamming(b *testing.B) {
	if _, err := cpukernel.Resolve(string(cpukernel.AVX2)); err != nil {
		b.Skipf("AVX2 variants not here: %v", err)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	const words, nb = 8, 64
	blocks := make([]uint64, nb*words*8)
	for i := range blocks {
		blocks[i] = rng.Uint64()
	}
	q := make([]uint64, words)
	for i := range q {
		q[i] = rng.Uint64()
	}
	out := make([]uint64, nb*8)
	variants := append(hammingVariants, struct {
		name string
		fn   func(q, blocks []uint64, words int, out []uint64)
	}{"avx512-vpopcntq", newKernel(cpukernel.Best()).hamming})
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			for b.Loop() {
				v.fn(q, blocks, words, out)
			}
			b.ReportMetric(float64(nb*8*b.N)/b.Elapsed().Seconds()/1e6, "Mcodes/s")
		})
	}
}

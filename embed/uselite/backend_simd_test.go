//go:build goexperiment.simd && amd64

package uselite

import (
	"math"
	"math/rand/v2"
	"simd/archsimd"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func maxRelDiff(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	var worst float64
	for i := range want {
		d := math.Abs(float64(got[i]-want[i])) / math.Max(1, math.Abs(float64(want[i])))
		worst = math.Max(worst, d)
	}
	if worst > tol || math.IsNaN(worst) {
		t.Errorf("%s: max relative difference %g > %g", what, worst, tol)
	}
}

// TestAVX512MatchesGeneric checks every AVX-512 kernel against the
// portable one on random data, including row counts that leave tails.
func TestAVX512MatchesGeneric(t *testing.T) {
	if !archsimd.X86.AVX512() {
		t.Skip("CPU has no AVX-512")
	}
	r := rand.New(rand.NewPCG(1, 2))
	fast, slow := avx512Backend{}, gonumBackend{}
	for _, shape := range [][3]int{{1, 256, 768}, {7, 512, 512}, {33, 512, 1536}, {70, 1536, 512}} {
		M, K, N := shape[0], shape[1], shape[2]
		l := &linear{in: K, out: N, w: randSlice(r, K*N), b: randSlice(r, N)}
		lp := *l
		fast.pack(&lp)
		lda, ldc := K+16, N+32
		a := randSlice(r, M*lda)
		for _, mode := range []gemmMode{modeStore, modeAccum, modeRelu} {
			init := randSlice(r, M*ldc)
			c1 := append([]float32(nil), init...)
			c2 := append([]float32(nil), init...)
			fast.matmul(M, a, lda, &lp, c1, ldc, mode)
			slow.matmul(M, a, lda, l, c2, ldc, mode)
			maxRelDiff(t, "matmul", c1, c2, 1e-4)
		}
	}
	for _, n := range []int{256, 512} {
		x, sc, b := randSlice(r, n), randSlice(r, n), randSlice(r, n)
		y1, y2 := make([]float32, n), make([]float32, n)
		fast.layerNorm(y1, x, sc, b, 1e-6)
		slow.layerNorm(y2, x, sc, b, 1e-6)
		maxRelDiff(t, "layerNorm", y1, y2, 1e-5)
	}
	for _, n := range []int{1, 5, 16, 23, 128} {
		x := randSlice(r, n)
		for i := range x {
			x[i] *= 8
		}
		y1 := append([]float32(nil), x...)
		y2 := append([]float32(nil), x...)
		fast.softmax(y1)
		slow.softmax(y2)
		maxRelDiff(t, "softmax", y1, y2, 1e-6)
		for _, hd := range []int{64, 128} {
			ldk := (n + 15) &^ 15
			q, kT := randSlice(r, hd), randSlice(r, hd*ldk)
			s1, s2 := make([]float32, n), make([]float32, n)
			fast.scores(s1, q, kT, ldk, 0.125)
			slow.scores(s2, q, kT, ldk, 0.125)
			maxRelDiff(t, "scores", s1, s2, 1e-5)
		}
	}
}

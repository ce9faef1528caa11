package uselite

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/internal/cpukernel"
)

// kernelPaths are the kernel paths every kernel and golden test runs on.
var kernelPaths = []cpukernel.Path{cpukernel.AVX512, cpukernel.AVX2, cpukernel.Portable}

// eachKernel runs f in a subtest per kernel path; a path this build or CPU cannot run is
// skipped with the reason (a build without GOEXPERIMENT=simd runs only portable; `make
// test` builds with it, so an AVX-512 machine tests all three).
func eachKernel(t *testing.T, f func(t *testing.T, p cpukernel.Path)) {
	t.Helper()
	for _, p := range kernelPaths {
		t.Run(string(p), func(t *testing.T) {
			if _, err := cpukernel.Resolve(string(p)); err != nil {
				t.Skipf("kernel path %s not tested here: %v", p, err)
			}
			f(t, p)
		})
	}
}

var (
	kernelModelsMu sync.Mutex
	kernelModels   = map[cpukernel.Path]*Model{}
)

// loadKernelModel loads the model once per test binary and kernel path (skipped like
// loadTestModel when the model is not installed).
func loadKernelModel(t *testing.T, p cpukernel.Path) *Model {
	t.Helper()
	loadTestModel(t) // skips or fails as the other model tests do
	kernelModelsMu.Lock()
	defer kernelModelsMu.Unlock()
	if m := kernelModels[p]; m != nil {
		return m
	}
	m, err := LoadKernel(testModelDir(), string(p))
	if err != nil {
		t.Fatalf("load model with kernel %s: %v", p, err)
	}
	kernelModels[p] = m
	return m
}

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

// TestKernelsMatchGeneric checks every kernel of every path this machine supports against
// the portable (gonum and scalar) ones on random data, with row counts that leave every tail
// of the 3-row (AVX-512) and 5-row (AVX2) micro-kernels and vector lengths off the lane width.
func TestKernelsMatchGeneric(t *testing.T) {
	eachKernel(t, func(t *testing.T, p cpukernel.Path) {
		r := rand.New(rand.NewPCG(1, 2))
		fast, slow := newBackend(p), gonumBackend{}
		t.Logf("backend %s", fast.name())
		shapes := [][3]int{{1, 256, 768}, {2, 512, 512}, {3, 64, 32}, {4, 512, 512}, {5, 96, 48},
			{7, 512, 512}, {9, 100, 16}, {33, 512, 1536}, {49, 256, 64}, {70, 1536, 512}, {3, 40, 20}}
		for _, shape := range shapes {
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
		for _, n := range []int{256, 512, 24} {
			x, sc, b := randSlice(r, n), randSlice(r, n), randSlice(r, n)
			y1, y2 := make([]float32, n), make([]float32, n)
			fast.layerNorm(y1, x, sc, b, 1e-6)
			slow.layerNorm(y2, x, sc, b, 1e-6)
			maxRelDiff(t, "layerNorm", y1, y2, 1e-5)
		}
		for _, n := range []int{1, 3, 4, 17, 33, 513} {
			x, y := randSlice(r, n), randSlice(r, n)
			y1 := append([]float32(nil), y...)
			y2 := append([]float32(nil), y...)
			fast.axpy(0.37, x, y1)
			slow.axpy(0.37, x, y2)
			maxRelDiff(t, "axpy", y1, y2, 1e-6)
		}
		for _, n := range []int{1, 5, 8, 9, 16, 23, 128} {
			x := randSlice(r, n)
			for i := range x {
				x[i] *= 8
			}
			y1 := append([]float32(nil), x...)
			y2 := append([]float32(nil), x...)
			fast.softmax(y1)
			slow.softmax(y2)
			maxRelDiff(t, "softmax", y1, y2, 1e-6)
			for _, hd := range []int{64, 128, 7} {
				ldk := (n + 15) &^ 15
				q, kT := randSlice(r, hd), randSlice(r, hd*ldk)
				s1, s2 := make([]float32, n), make([]float32, n)
				fast.scores(s1, q, kT, ldk, 0.125)
				slow.scores(s2, q, kT, ldk, 0.125)
				maxRelDiff(t, "scores", s1, s2, 1e-5)
			}
		}
	})
}

// TestLoadKernelUnsupported: forcing a path this machine lacks fails at load, saying so.
func TestLoadKernelUnsupported(t *testing.T) {
	if _, err := LoadKernel(t.TempDir(), "avx9"); err == nil {
		t.Fatal("unknown kernel accepted")
	}
	for _, p := range kernelPaths {
		if _, err := cpukernel.Resolve(string(p)); err != nil {
			_, lerr := LoadKernel(testModelDir(), string(p))
			if !errors.Is(lerr, cpukernel.ErrUnsupported) {
				t.Errorf("LoadKernel(%s) on a machine without it: %v, want ErrUnsupported", p, lerr)
			}
			return
		}
	}
	t.Skip("this machine supports every kernel path: none to refuse")
}

// TestQuerySplitMatchesBatch: one query's products run on two goroutines by column panels
// (EmbedQuery); the result is the same vector the unsplit batch path gives, on every path.
func TestQuerySplitMatchesBatch(t *testing.T) {
	eachKernel(t, func(t *testing.T, p cpukernel.Path) {
		m := loadKernelModel(t, p)
		enc := NewEncoder(m, Options{Workers: 1})
		texts := []string{"HP GW405AA mouse USB", "Xerox 006R90321 toner cartridge Original Black", "a", ""}
		batch, err := enc.EmbedDocuments(context.Background(), texts)
		require.NoError(t, err)
		for i, text := range texts {
			q, err := enc.EmbedQuery(context.Background(), text)
			require.NoError(t, err)
			maxRelDiff(t, fmt.Sprintf("query %q", text), q, batch[i], 1e-5)
		}
	})
}

package uselite

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// gemmMode says how matmul combines x·W + b with the destination.
type gemmMode int

const (
	modeStore gemmMode = iota // C = A·W + b
	modeAccum                 // C += A·W + b
	modeRelu                  // C = max(0, A·W + b)
)

// backend is the set of numeric kernels the encoder runs on. One is chosen
// when the model is loaded: the AVX-512 kernels of the archsimd build when
// the CPU has AVX-512, otherwise gonum's pure-Go BLAS.
type backend interface {
	name() string
	// pack prepares l for matmul (e.g. re-lays W into column panels).
	pack(l *linear)
	// matmul computes rows [0,M) of C (row stride ldc) from A (stride lda)
	// and the layer's weights, as mode says.
	matmul(M int, a []float32, lda int, l *linear, c []float32, ldc int, mode gemmMode)
	dot(x, y []float32) float32
	axpy(alpha float32, x, y []float32) // y += alpha·x
}

// gonumBackend uses gonum's blas32 (pure Go with Go assembly, no cgo).
type gonumBackend struct{}

func (gonumBackend) name() string     { return "gonum" }
func (gonumBackend) pack(l *linear)   {}
func (gonumBackend) dot(x, y []float32) float32 {
	return blas32.Implementation().Sdot(len(x), x, 1, y, 1)
}
func (gonumBackend) axpy(alpha float32, x, y []float32) {
	blas32.Implementation().Saxpy(len(x), alpha, x, 1, y, 1)
}

func (gonumBackend) matmul(M int, a []float32, lda int, l *linear, c []float32, ldc int, mode gemmMode) {
	if M == 0 {
		return
	}
	n := l.out
	for i := 0; i < M; i++ {
		row := c[i*ldc:][:n]
		if mode == modeAccum {
			for j, b := range l.b {
				row[j] += b
			}
		} else {
			copy(row, l.b)
		}
	}
	A := blas32.General{Rows: M, Cols: l.in, Stride: lda, Data: a[:(M-1)*lda+l.in]}
	B := blas32.General{Rows: l.in, Cols: n, Stride: n, Data: l.w}
	C := blas32.General{Rows: M, Cols: n, Stride: ldc, Data: c[:(M-1)*ldc+n]}
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, A, B, 1, C)
	if mode == modeRelu {
		for i := 0; i < M; i++ {
			row := c[i*ldc:][:n]
			for j, v := range row {
				if v < 0 {
					row[j] = 0
				}
			}
		}
	}
}

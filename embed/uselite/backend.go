package uselite

import (
	"math"

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
	axpy(alpha float32, x, y []float32) // y += alpha·x
	// layerNorm writes scale·(x-mean)/sqrt(var+eps) + bias into y.
	layerNorm(y, x, scale, bias []float32, eps float32)
	// scores sets out[j] = alpha · Σ_d q[d]·kT[d·ldk+j] for j < len(out):
	// one query against the keys of a head stored transposed.
	scores(out, q, kT []float32, ldk int, alpha float32)
	// softmax replaces x by exp(x - max x) / Σ exp(x - max x).
	softmax(x []float32)
}

// gonumBackend uses gonum's blas32 (pure Go with Go assembly, no cgo).
type gonumBackend struct{}

func (gonumBackend) name() string   { return "gonum" }
func (gonumBackend) pack(l *linear) {}
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

func (gonumBackend) layerNorm(y, x, scale, bias []float32, eps float32) {
	layerNormGeneric(y, x, scale, bias, eps)
}

func (gonumBackend) scores(out, q, kT []float32, ldk int, alpha float32) {
	scoresGeneric(out, q, kT, ldk, alpha)
}

func (gonumBackend) softmax(x []float32) { softmaxGeneric(x) }

// layerNormGeneric is the scalar layer norm (float64 sums).
func layerNormGeneric(y, x, scale, bias []float32, eps float32) {
	n := len(x)
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := float32(sum / float64(n))
	var sq float64
	for _, v := range x {
		d := float64(v - mean)
		sq += d * d
	}
	r := float32(1 / math.Sqrt(float64(float32(sq/float64(n))+eps)))
	y = y[:n]
	for j, v := range x {
		y[j] = scale[j]*r*(v-mean) + bias[j]
	}
}

func scoresGeneric(out, q, kT []float32, ldk int, alpha float32) {
	clear(out)
	impl := blas32.Implementation()
	for d, qd := range q {
		impl.Saxpy(len(out), qd, kT[d*ldk:d*ldk+len(out)], 1, out, 1)
	}
	for j := range out {
		out[j] *= alpha
	}
}

func softmaxGeneric(x []float32) {
	mx := float32(math.Inf(-1))
	for _, v := range x {
		mx = max(mx, v)
	}
	var sum float64
	for j, v := range x {
		e := math.Exp(float64(v - mx))
		x[j] = float32(e)
		sum += e
	}
	inv := float32(1 / sum)
	for j := range x {
		x[j] *= inv
	}
}

//go:build goexperiment.simd && amd64

package uselite

import (
	"simd/archsimd"
	"unsafe"
)

// newBackend picks the AVX-512 kernels when the CPU has AVX-512 (F, CD,
// BW, DQ and VL, as archsimd requires) and gonum's otherwise.
func newBackend() backend {
	if archsimd.X86.AVX512() {
		return avx512Backend{}
	}
	return gonumBackend{}
}

// nr is the width of a packed weight panel: two 16-float vectors.
const nr = 32

// mc is the number of A rows whose panel sweep is kept together, so that
// those rows (mc x K floats, at most 384 KiB) stay in L2 while every
// weight panel passes over them.
const mc = 64

type vec = archsimd.Float32x16

// avx512Backend runs the matrix products with a 4x32 register-blocked
// kernel written with simd/archsimd: 8 accumulators, 2 weight vectors and
// the broadcast A values fit the 15 vector registers Go's register
// allocator uses; larger blocks spill and run 3-4x slower.
type avx512Backend struct{}

func (avx512Backend) name() string { return "avx512-archsimd" }

// pack lays W [in][out] out as out/32 panels of [in][32] floats, so the
// kernel reads each panel sequentially.
func (avx512Backend) pack(l *linear) {
	if l.out%nr != 0 {
		return
	}
	np := l.out / nr
	l.packed = make([]float32, l.in*l.out)
	for p := 0; p < np; p++ {
		dst := l.packed[p*l.in*nr:]
		for k := 0; k < l.in; k++ {
			copy(dst[k*nr:(k+1)*nr], l.w[k*l.out+p*nr:])
		}
	}
}

func (b avx512Backend) matmul(M int, a []float32, lda int, l *linear, c []float32, ldc int, mode gemmMode) {
	if M == 0 {
		return
	}
	if l.packed == nil {
		gonumBackend{}.matmul(M, a, lda, l, c, ldc, mode)
		return
	}
	K, N := l.in, l.out
	// Bounds are checked once here; the kernels then use raw pointers.
	_ = a[(M-1)*lda+K-1]
	_ = c[(M-1)*ldc+N-1]
	ap := unsafe.Pointer(unsafe.SliceData(a))
	cp := unsafe.Pointer(unsafe.SliceData(c))
	bp := unsafe.Pointer(unsafe.SliceData(l.packed))
	biasp := unsafe.Pointer(unsafe.SliceData(l.b))
	sa, sc := uintptr(lda)*4, uintptr(ldc)*4
	panel := uintptr(K*nr) * 4
	for i0 := 0; i0 < M; i0 += mc {
		i1 := min(i0+mc, M)
		for p := 0; p < N/nr; p++ {
			pb := unsafe.Add(bp, uintptr(p)*panel)
			bias := unsafe.Add(biasp, uintptr(p*nr)*4)
			col := uintptr(p*nr) * 4
			i := i0
			for ; i+4 <= i1; i += 4 {
				kernel4x32(unsafe.Add(ap, uintptr(i)*sa), sa, pb, K, unsafe.Add(cp, uintptr(i)*sc+col), sc, bias, mode)
			}
			for ; i < i1; i++ {
				kernel1x32(unsafe.Add(ap, uintptr(i)*sa), pb, K, unsafe.Add(cp, uintptr(i)*sc+col), bias, mode)
			}
		}
	}
}

func load(p unsafe.Pointer) vec { return archsimd.LoadFloat32x16((*[16]float32)(p)) }

func bcast(p unsafe.Pointer) vec { return archsimd.BroadcastFloat32x16(*(*float32)(p)) }

// finish combines an accumulator with the bias and the destination.
func finish(c unsafe.Pointer, acc, bias vec, mode gemmMode) {
	acc = acc.Add(bias)
	switch mode {
	case modeAccum:
		acc = acc.Add(load(c))
	case modeRelu:
		acc = acc.Max(vec{})
	}
	acc.Store((*[16]float32)(c))
}

// kernel4x32 computes a 4x32 block of C from 4 rows of A (byte stride sa)
// and one packed panel over the full depth k.
func kernel4x32(a unsafe.Pointer, sa uintptr, b unsafe.Pointer, k int, c unsafe.Pointer, sc uintptr, bias unsafe.Pointer, mode gemmMode) {
	var c00, c01, c10, c11, c20, c21, c30, c31 vec
	a0 := a
	a1 := unsafe.Add(a, sa)
	a2 := unsafe.Add(a, 2*sa)
	a3 := unsafe.Add(a, 3*sa)
	for ; k > 0; k-- {
		b0 := load(b)
		b1 := load(unsafe.Add(b, 64))
		x := bcast(a0)
		c00 = x.MulAdd(b0, c00)
		c01 = x.MulAdd(b1, c01)
		x = bcast(a1)
		c10 = x.MulAdd(b0, c10)
		c11 = x.MulAdd(b1, c11)
		x = bcast(a2)
		c20 = x.MulAdd(b0, c20)
		c21 = x.MulAdd(b1, c21)
		x = bcast(a3)
		c30 = x.MulAdd(b0, c30)
		c31 = x.MulAdd(b1, c31)
		a0 = unsafe.Add(a0, 4)
		a1 = unsafe.Add(a1, 4)
		a2 = unsafe.Add(a2, 4)
		a3 = unsafe.Add(a3, 4)
		b = unsafe.Add(b, 4*nr)
	}
	bias0 := load(bias)
	bias1 := load(unsafe.Add(bias, 64))
	finish(c, c00, bias0, mode)
	finish(unsafe.Add(c, 64), c01, bias1, mode)
	c = unsafe.Add(c, sc)
	finish(c, c10, bias0, mode)
	finish(unsafe.Add(c, 64), c11, bias1, mode)
	c = unsafe.Add(c, sc)
	finish(c, c20, bias0, mode)
	finish(unsafe.Add(c, 64), c21, bias1, mode)
	c = unsafe.Add(c, sc)
	finish(c, c30, bias0, mode)
	finish(unsafe.Add(c, 64), c31, bias1, mode)
}

// kernel1x32 is kernel4x32 for a single row (the M%4 tail).
func kernel1x32(a unsafe.Pointer, b unsafe.Pointer, k int, c unsafe.Pointer, bias unsafe.Pointer, mode gemmMode) {
	var c00, c01 vec
	for ; k > 0; k-- {
		x := bcast(a)
		c00 = x.MulAdd(load(b), c00)
		c01 = x.MulAdd(load(unsafe.Add(b, 64)), c01)
		a = unsafe.Add(a, 4)
		b = unsafe.Add(b, 4*nr)
	}
	finish(c, c00, load(bias), mode)
	finish(unsafe.Add(c, 64), c01, load(unsafe.Add(bias, 64)), mode)
}

func (avx512Backend) dot(x, y []float32) float32 {
	n := len(x)
	y = y[:n]
	var acc0, acc1 vec
	i := 0
	for ; i+32 <= n; i += 32 {
		acc0 = archsimd.LoadFloat32x16Slice(x[i:]).MulAdd(archsimd.LoadFloat32x16Slice(y[i:]), acc0)
		acc1 = archsimd.LoadFloat32x16Slice(x[i+16:]).MulAdd(archsimd.LoadFloat32x16Slice(y[i+16:]), acc1)
	}
	for ; i+16 <= n; i += 16 {
		acc0 = archsimd.LoadFloat32x16Slice(x[i:]).MulAdd(archsimd.LoadFloat32x16Slice(y[i:]), acc0)
	}
	var buf [16]float32
	acc0.Add(acc1).Store(&buf)
	var s float32
	for _, v := range buf {
		s += v
	}
	for ; i < n; i++ {
		s += x[i] * y[i]
	}
	return s
}

func (avx512Backend) axpy(alpha float32, x, y []float32) {
	n := len(x)
	y = y[:n]
	av := archsimd.BroadcastFloat32x16(alpha)
	i := 0
	for ; i+16 <= n; i += 16 {
		av.MulAdd(archsimd.LoadFloat32x16Slice(x[i:]), archsimd.LoadFloat32x16Slice(y[i:])).StoreSlice(y[i:])
	}
	for ; i < n; i++ {
		y[i] += alpha * x[i]
	}
}

//go:build goexperiment.simd && amd64

package uselite

import (
	"math"
	"simd/archsimd"
	"unsafe"

	"selection/internal/cpukernel"
)

// newBackend returns the kernels of path p (resolved by cpukernel.Resolve, so supported here).
func newBackend(p cpukernel.Path) backend {
	switch p {
	case cpukernel.AVX512:
		return avx512Backend{}
	case cpukernel.AVX2:
		return avx2Backend{}
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

// avx512Backend runs the matrix products with a 3x32 register-blocked
// kernel written with simd/archsimd (see kernel3x32 for why 3x32).
type avx512Backend struct{}

func (avx512Backend) name() string { return "avx512-archsimd" }

// packPanels lays W [in][out] out as out/width panels of [in][width] floats, each contiguous,
// for a kernel that reads a panel sequentially (Model.matmul splits products at panel
// boundaries); W stays as it is when out is not a multiple of width.
func packPanels(l *linear, width int) {
	if l.out%width != 0 {
		return
	}
	l.packed = make([]float32, l.in*l.out)
	for p := 0; p < l.out/width; p++ {
		dst := l.packed[p*l.in*width:]
		for k := 0; k < l.in; k++ {
			copy(dst[k*width:(k+1)*width], l.w[k*l.out+p*width:])
		}
	}
	l.w = nil // only the packed copy is used from now on
}

// pack lays W [in][out] out as out/32 panels of [in][32] floats, so the
// kernel reads each panel sequentially.
func (avx512Backend) pack(l *linear) { packPanels(l, nr) }

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
			for ; i+3 <= i1; i += 3 {
				kernel3x32(unsafe.Add(ap, uintptr(i)*sa), sa, pb, K, unsafe.Add(cp, uintptr(i)*sc+col), sc, bias, mode)
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

// kernel3x32 computes a 3x32 block of C from 3 rows of A (byte stride sa)
// and one packed panel over the full depth k. Six accumulators, two panel
// vectors and three broadcasts keep the loop within the 15 vector
// registers Go's allocator uses; a 4x32 block needs one more and spills an
// accumulator to the stack every iteration, and when that 64-byte slot
// straddles a cache line (it depends on the goroutine's stack depth) the
// kernel runs 3-5x slower.
func kernel3x32(a unsafe.Pointer, sa uintptr, b unsafe.Pointer, k int, c unsafe.Pointer, sc uintptr, bias unsafe.Pointer, mode gemmMode) {
	var c00, c01, c10, c11, c20, c21 vec
	a0 := a
	a1 := unsafe.Add(a, sa)
	a2 := unsafe.Add(a, 2*sa)
	// The loop advances integer offsets, never the pointers themselves: a
	// pointer stepped one past the end of its allocation is invalid in Go
	// (the GC may find it in a stack map; checkptr rejects it).
	end := uintptr(k) * 4
	bo := uintptr(0)
	for ao := uintptr(0); ao < end; ao += 4 {
		b0 := load(unsafe.Add(b, bo))
		b1 := load(unsafe.Add(b, bo+64))
		x := bcast(unsafe.Add(a0, ao))
		c00 = x.MulAdd(b0, c00)
		c01 = x.MulAdd(b1, c01)
		x = bcast(unsafe.Add(a1, ao))
		c10 = x.MulAdd(b0, c10)
		c11 = x.MulAdd(b1, c11)
		x = bcast(unsafe.Add(a2, ao))
		c20 = x.MulAdd(b0, c20)
		c21 = x.MulAdd(b1, c21)
		bo += 4 * nr
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
}

// kernel1x32 is kernel3x32 for a single row (the M%3 tail).
func kernel1x32(a unsafe.Pointer, b unsafe.Pointer, k int, c unsafe.Pointer, bias unsafe.Pointer, mode gemmMode) {
	var c00, c01 vec
	end := uintptr(k) * 4
	bo := uintptr(0)
	for ao := uintptr(0); ao < end; ao += 4 {
		x := bcast(unsafe.Add(a, ao))
		c00 = x.MulAdd(load(unsafe.Add(b, bo)), c00)
		c01 = x.MulAdd(load(unsafe.Add(b, bo+64)), c01)
		bo += 4 * nr
	}
	finish(c, c00, load(bias), mode)
	finish(unsafe.Add(c, 64), c01, load(unsafe.Add(bias, 64)), mode)
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

// hsum adds the 16 lanes of v.
func hsum(v vec) float32 {
	var buf [16]float32
	v.Store(&buf)
	var s float32
	for _, x := range buf {
		s += x
	}
	return s
}

func (avx512Backend) layerNorm(y, x, scale, bias []float32, eps float32) {
	n := len(x)
	if n%16 != 0 {
		layerNormGeneric(y, x, scale, bias, eps)
		return
	}
	y, scale, bias = y[:n], scale[:n], bias[:n]
	var s0, s1 vec
	i := 0
	for ; i+32 <= n; i += 32 {
		s0 = s0.Add(archsimd.LoadFloat32x16Slice(x[i:]))
		s1 = s1.Add(archsimd.LoadFloat32x16Slice(x[i+16:]))
	}
	for ; i < n; i += 16 {
		s0 = s0.Add(archsimd.LoadFloat32x16Slice(x[i:]))
	}
	mean := hsum(s0.Add(s1)) / float32(n)
	mv := archsimd.BroadcastFloat32x16(mean)
	var q0 vec
	for i := 0; i < n; i += 16 {
		d := archsimd.LoadFloat32x16Slice(x[i:]).Sub(mv)
		q0 = d.MulAdd(d, q0)
	}
	variance := hsum(q0) / float32(n)
	r := float32(1 / math.Sqrt(float64(variance+eps)))
	rv := archsimd.BroadcastFloat32x16(r)
	for i := 0; i < n; i += 16 {
		d := archsimd.LoadFloat32x16Slice(x[i:]).Sub(mv)
		g := archsimd.LoadFloat32x16Slice(scale[i:]).Mul(rv)
		g.MulAdd(d, archsimd.LoadFloat32x16Slice(bias[i:])).StoreSlice(y[i:])
	}
}

func (avx512Backend) scores(out, q, kT []float32, ldk int, alpha float32) {
	n := len(out)
	hd := len(q)
	_ = kT[(hd-1)*ldk+(n+15)&^15-1]
	av := archsimd.BroadcastFloat32x16(alpha)
	for j := 0; j < n; j += 16 {
		var acc0, acc1 vec
		d := 0
		for ; d+2 <= hd; d += 2 {
			acc0 = archsimd.BroadcastFloat32x16(q[d]).MulAdd(archsimd.LoadFloat32x16Slice(kT[d*ldk+j:]), acc0)
			acc1 = archsimd.BroadcastFloat32x16(q[d+1]).MulAdd(archsimd.LoadFloat32x16Slice(kT[(d+1)*ldk+j:]), acc1)
		}
		for ; d < hd; d++ {
			acc0 = archsimd.BroadcastFloat32x16(q[d]).MulAdd(archsimd.LoadFloat32x16Slice(kT[d*ldk+j:]), acc0)
		}
		acc0 = acc0.Add(acc1).Mul(av)
		if j+16 <= n {
			acc0.StoreSlice(out[j:])
		} else {
			// archsimd's masked SlicePart helpers trip checkptr (-race) on
			// short slices, so tails go through a local buffer.
			var buf [16]float32
			acc0.Store(&buf)
			copy(out[j:], buf[:])
		}
	}
}

// Constants of exp16.
const (
	log2e  = 1.44269504088896341
	ln2Hi  = 0.693359375
	ln2Lo  = -2.12194440e-4
	expMin = -87.0
)

// exp16 is e^x for 16 lanes, x <= 0 (softmax inputs after subtracting
// the maximum): x = n·ln2 + r with |r| <= ln2/2, a degree-6 polynomial
// for e^r (relative error about 2e-7) and VSCALEFPS for the 2^n.
func exp16(x vec) vec {
	x = x.Max(archsimd.BroadcastFloat32x16(expMin))
	n := x.Mul(archsimd.BroadcastFloat32x16(log2e)).RoundToEvenScaled(0)
	r := n.Mul(archsimd.BroadcastFloat32x16(-ln2Hi)).Add(x)
	r = n.Mul(archsimd.BroadcastFloat32x16(-ln2Lo)).Add(r)
	p := archsimd.BroadcastFloat32x16(1.0 / 720)
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(1.0/120))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(1.0/24))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(1.0/6))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(0.5))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(1))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x16(1))
	return p.Scale(n)
}

func (avx512Backend) softmax(x []float32) {
	n := len(x)
	mx := float32(math.Inf(-1))
	for _, v := range x {
		mx = max(mx, v)
	}
	mv := archsimd.BroadcastFloat32x16(mx)
	var sum vec
	j := 0
	for ; j+16 <= n; j += 16 {
		e := exp16(archsimd.LoadFloat32x16Slice(x[j:]).Sub(mv))
		e.StoreSlice(x[j:])
		sum = sum.Add(e)
	}
	tail := j
	if tail < n {
		// The tail goes through a local buffer (archsimd's SlicePart helpers
		// trip checkptr on short slices); lanes past the end hold -Inf, which
		// exp16 clamps to e^-87: nothing next to a sum >= 1.
		var buf [16]float32
		for t := range buf {
			buf[t] = float32(math.Inf(-1))
		}
		copy(buf[:], x[tail:])
		e := exp16(archsimd.LoadFloat32x16(&buf).Sub(mv))
		e.Store(&buf)
		copy(x[tail:], buf[:])
		sum = sum.Add(e)
	}
	r := 1 / hsum(sum)
	inv := archsimd.BroadcastFloat32x16(r)
	for j = 0; j+16 <= n; j += 16 {
		archsimd.LoadFloat32x16Slice(x[j:]).Mul(inv).StoreSlice(x[j:])
	}
	for ; j < n; j++ {
		x[j] *= r
	}
}

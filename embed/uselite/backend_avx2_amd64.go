//go:build goexperiment.simd && amd64

package uselite

import (
	"math"
	"simd/archsimd"
	"sync"
	"unsafe"
)

// The AVX2+FMA kernels, for the many x86-64 servers without AVX-512 (Haswell to Alder Lake,
// Zen 1 to Zen 3): the AVX-512 ones' scheme on 256-bit vectors, written with archsimd, except
// the matrix product's inner loop, which is Go assembly (backend_avx2_amd64.s).
//
// Why assembly there: archsimd's MulAdd is VFMADD213PS, whose result replaces the multiplicand
// (the broadcast A value, used for two panel vectors, so it is copied first), and the compiler
// loads every broadcast of a step before the first FMA. With 16 YMM registers (15 for Go code)
// the classic 6x16 block then spills accumulators every step; 5x16 spills too, and the 4x16
// that fits spends about 44 instructions (copies, register rotation at the loop's end,
// address arithmetic, VMOVSS+VBROADCASTSS pairs) per 8 FMAs: 46-55 GFLOP per CPU-second
// here against 83-96 for the 6x16 assembly loop (2 loads, 6 VBROADCASTSS from memory and 12
// VFMADD231PS per step), on a par with the AVX-512 kernels on this Zen 4 (BenchmarkMatmul).

// nr8 is the width of a packed weight panel on the AVX2 path: two 8-float vectors.
const nr8 = 16

// mr8 is the number of A rows one micro-kernel call computes.
const mr8 = 6

// mc8 is the number of A rows whose panel sweep is kept together (a multiple of mr8): 48 rows
// of up to 1536 floats are 288 KiB, packed (packA) and within the L2 of every AVX2 server core.
const mc8 = 48

type vec8 = archsimd.Float32x8

// avx2Backend runs the matrix products with a 6x16 register-blocked kernel on 256-bit vectors.
type avx2Backend struct{}

func (avx2Backend) name() string { return "avx2-archsimd+asm" }

// pack lays W [in][out] out as out/16 panels of [in][16] floats.
func (avx2Backend) pack(l *linear) { packPanels(l, nr8) }

func (avx2Backend) matmul(M int, a []float32, lda int, l *linear, c []float32, ldc int, mode gemmMode) {
	if M == 0 {
		return
	}
	if l.packed == nil {
		gonumBackend{}.matmul(M, a, lda, l, c, ldc, mode)
		return
	}
	K, N := l.in, l.out
	_ = a[(M-1)*lda+K-1]
	_ = c[(M-1)*ldc+N-1]
	ap := unsafe.Pointer(unsafe.SliceData(a))
	cp := unsafe.Pointer(unsafe.SliceData(c))
	bp := unsafe.Pointer(unsafe.SliceData(l.packed))
	biasp := unsafe.Pointer(unsafe.SliceData(l.b))
	sa, sc := uintptr(lda)*4, uintptr(ldc)*4
	panel := uintptr(K*nr8) * 4
	var apack *[]float32
	for i0 := 0; i0 < M; i0 += mc8 {
		i1 := min(i0+mc8, M)
		full := i0 + (i1-i0)/mr8*mr8 // rows [i0, full) go through the packed 6x16 kernel
		var pp unsafe.Pointer
		if full > i0 {
			if apack == nil {
				apack = packPool.Get().(*[]float32)
				defer packPool.Put(apack)
			}
			pp = packA(apack, a[i0*lda:], lda, full-i0, K)
		}
		for p := 0; p < N/nr8; p++ {
			pb := unsafe.Add(bp, uintptr(p)*panel)
			bias := unsafe.Add(biasp, uintptr(p*nr8)*4)
			col := uintptr(p*nr8) * 4
			for i := i0; i < full; i += mr8 {
				kernel6x16(unsafe.Add(pp, uintptr((i-i0)*K)*4), pb, K, unsafe.Add(cp, uintptr(i)*sc+col), sc, bias, mode)
			}
			i := full
			if i+3 <= i1 {
				kernel3x16(unsafe.Add(ap, uintptr(i)*sa), sa, pb, K, unsafe.Add(cp, uintptr(i)*sc+col), sc, bias, mode)
				i += 3
			}
			for ; i < i1; i++ {
				kernel1x16(unsafe.Add(ap, uintptr(i)*sa), pb, K, unsafe.Add(cp, uintptr(i)*sc+col), bias, mode)
			}
		}
	}
}

// packPool recycles the buffers packA fills (mc8 x K floats, at most 288 KiB).
var packPool = sync.Pool{New: func() any { return new([]float32) }}

// packA lays rows [0, m) of a (m a multiple of mr8, row stride lda, depth k) out as m/6
// micro-panels of [k][6] floats in *buf and returns a pointer to the first, so that the
// micro-kernel finds the six values it broadcasts for one k side by side, at constant
// offsets from one pointer it steps.
func packA(buf *[]float32, a []float32, lda, m, k int) unsafe.Pointer {
	if cap(*buf) < m*k {
		*buf = make([]float32, mc8*k)
	}
	dst := (*buf)[:m*k]
	for g := 0; g < m; g += mr8 {
		panel := dst[g*k : (g+mr8)*k]
		for r := 0; r < mr8; r++ {
			row := a[(g+r)*lda:][:k]
			for kk, v := range row {
				panel[mr8*kk+r] = v
			}
		}
	}
	return unsafe.Pointer(unsafe.SliceData(dst))
}

func load8(p unsafe.Pointer) vec8 { return archsimd.LoadFloat32x8((*[8]float32)(p)) }

func bcast8(p unsafe.Pointer) vec8 { return archsimd.BroadcastFloat32x8(*(*float32)(p)) }

// finish8 combines an accumulator with the bias and the destination.
func finish8(c unsafe.Pointer, acc, bias vec8, mode gemmMode) {
	acc = acc.Add(bias)
	switch mode {
	case modeAccum:
		acc = acc.Add(load8(c))
	case modeRelu:
		acc = acc.Max(vec8{})
	}
	acc.Store((*[8]float32)(c))
}

// finishRow8 finishes one 16-wide row of C. It is not inlined so that the micro-kernels do
// not keep its zero vector (modeRelu) in a register through their loops: they need all 15.
//
//go:noinline
func finishRow8(c unsafe.Pointer, acc0, acc1 vec8, bias unsafe.Pointer, mode gemmMode) {
	finish8(c, acc0, load8(bias), mode)
	finish8(unsafe.Add(c, 32), acc1, load8(unsafe.Add(bias, 32)), mode)
}

// kernel6x16 computes a 6x16 block of C from the packed A micro-panel at ap and one packed
// weight panel over the full depth k, and finishes it into C.
func kernel6x16(ap unsafe.Pointer, b unsafe.Pointer, k int, c unsafe.Pointer, sc uintptr, bias unsafe.Pointer, mode gemmMode) {
	var acc [12]vec8
	kernel6x16asm(ap, b, k, &acc)
	for r := 0; r < mr8; r++ {
		finishRow8(unsafe.Add(c, uintptr(r)*sc), acc[2*r], acc[2*r+1], bias, mode)
	}
}

// kernel6x16asm is in backend_avx2_amd64.s.
//
//go:noescape
func kernel6x16asm(ap unsafe.Pointer, b unsafe.Pointer, k int, out *[12]vec8)

// kernel3x16 computes a 3x16 block of C from 3 rows of A (byte stride sa) and one packed
// panel over the full depth k (part of the M%6 tail).
func kernel3x16(a unsafe.Pointer, sa uintptr, b unsafe.Pointer, k int, c unsafe.Pointer, sc uintptr, bias unsafe.Pointer, mode gemmMode) {
	var c00, c01, c10, c11, c20, c21 vec8
	a0 := a
	a1 := unsafe.Add(a, sa)
	a2 := unsafe.Add(a, 2*sa)
	end := uintptr(k) * 4
	bo := uintptr(0)
	for ao := uintptr(0); ao < end; ao += 4 {
		b0 := load8(unsafe.Add(b, bo))
		b1 := load8(unsafe.Add(b, bo+32))
		x := bcast8(unsafe.Add(a0, ao))
		c00 = x.MulAdd(b0, c00)
		c01 = x.MulAdd(b1, c01)
		x = bcast8(unsafe.Add(a1, ao))
		c10 = x.MulAdd(b0, c10)
		c11 = x.MulAdd(b1, c11)
		x = bcast8(unsafe.Add(a2, ao))
		c20 = x.MulAdd(b0, c20)
		c21 = x.MulAdd(b1, c21)
		bo += 4 * nr8
	}
	finishRow8(c, c00, c01, bias, mode)
	finishRow8(unsafe.Add(c, sc), c10, c11, bias, mode)
	finishRow8(unsafe.Add(c, 2*sc), c20, c21, bias, mode)
}

// kernel1x16 is kernel3x16 for a single row, with two chains per column vector so that the
// FMA latency is not the whole story even for one row (a query of one token).
func kernel1x16(a unsafe.Pointer, b unsafe.Pointer, k int, c unsafe.Pointer, bias unsafe.Pointer, mode gemmMode) {
	var c00, c01, d00, d01 vec8
	end := uintptr(k) * 4
	bo := uintptr(0)
	ao := uintptr(0)
	for ; ao+8 <= end; ao += 8 {
		x := bcast8(unsafe.Add(a, ao))
		c00 = x.MulAdd(load8(unsafe.Add(b, bo)), c00)
		c01 = x.MulAdd(load8(unsafe.Add(b, bo+32)), c01)
		x = bcast8(unsafe.Add(a, ao+4))
		d00 = x.MulAdd(load8(unsafe.Add(b, bo+64)), d00)
		d01 = x.MulAdd(load8(unsafe.Add(b, bo+96)), d01)
		bo += 8 * nr8
	}
	if ao < end {
		x := bcast8(unsafe.Add(a, ao))
		c00 = x.MulAdd(load8(unsafe.Add(b, bo)), c00)
		c01 = x.MulAdd(load8(unsafe.Add(b, bo+32)), c01)
	}
	finishRow8(c, c00.Add(d00), c01.Add(d01), bias, mode)
}

func (avx2Backend) axpy(alpha float32, x, y []float32) {
	n := len(x)
	y = y[:n]
	av := archsimd.BroadcastFloat32x8(alpha)
	i := 0
	for ; i+8 <= n; i += 8 {
		av.MulAdd(archsimd.LoadFloat32x8Slice(x[i:]), archsimd.LoadFloat32x8Slice(y[i:])).StoreSlice(y[i:])
	}
	for ; i < n; i++ {
		y[i] += alpha * x[i]
	}
}

// hsum8 adds the 8 lanes of v.
func hsum8(v vec8) float32 {
	var buf [8]float32
	v.Store(&buf)
	return ((buf[0] + buf[1]) + (buf[2] + buf[3])) + ((buf[4] + buf[5]) + (buf[6] + buf[7]))
}

func (avx2Backend) layerNorm(y, x, scale, bias []float32, eps float32) {
	n := len(x)
	if n%16 != 0 {
		layerNormGeneric(y, x, scale, bias, eps)
		return
	}
	y, scale, bias = y[:n], scale[:n], bias[:n]
	var s0, s1 vec8
	for i := 0; i < n; i += 16 {
		s0 = s0.Add(archsimd.LoadFloat32x8Slice(x[i:]))
		s1 = s1.Add(archsimd.LoadFloat32x8Slice(x[i+8:]))
	}
	mean := hsum8(s0.Add(s1)) / float32(n)
	mv := archsimd.BroadcastFloat32x8(mean)
	var q0, q1 vec8
	for i := 0; i < n; i += 16 {
		d := archsimd.LoadFloat32x8Slice(x[i:]).Sub(mv)
		q0 = d.MulAdd(d, q0)
		d = archsimd.LoadFloat32x8Slice(x[i+8:]).Sub(mv)
		q1 = d.MulAdd(d, q1)
	}
	variance := hsum8(q0.Add(q1)) / float32(n)
	r := float32(1 / math.Sqrt(float64(variance+eps)))
	rv := archsimd.BroadcastFloat32x8(r)
	for i := 0; i < n; i += 8 {
		d := archsimd.LoadFloat32x8Slice(x[i:]).Sub(mv)
		g := archsimd.LoadFloat32x8Slice(scale[i:]).Mul(rv)
		g.MulAdd(d, archsimd.LoadFloat32x8Slice(bias[i:])).StoreSlice(y[i:])
	}
}

// scores: ldk is a multiple of 16 (model.attention), so whole 8-lane steps stay inside kT.
func (avx2Backend) scores(out, q, kT []float32, ldk int, alpha float32) {
	n := len(out)
	hd := len(q)
	_ = kT[(hd-1)*ldk+(n+7)&^7-1]
	av := archsimd.BroadcastFloat32x8(alpha)
	for j := 0; j < n; j += 8 {
		var acc0, acc1, acc2, acc3 vec8
		d := 0
		for ; d+4 <= hd; d += 4 {
			acc0 = archsimd.BroadcastFloat32x8(q[d]).MulAdd(archsimd.LoadFloat32x8Slice(kT[d*ldk+j:]), acc0)
			acc1 = archsimd.BroadcastFloat32x8(q[d+1]).MulAdd(archsimd.LoadFloat32x8Slice(kT[(d+1)*ldk+j:]), acc1)
			acc2 = archsimd.BroadcastFloat32x8(q[d+2]).MulAdd(archsimd.LoadFloat32x8Slice(kT[(d+2)*ldk+j:]), acc2)
			acc3 = archsimd.BroadcastFloat32x8(q[d+3]).MulAdd(archsimd.LoadFloat32x8Slice(kT[(d+3)*ldk+j:]), acc3)
		}
		for ; d < hd; d++ {
			acc0 = archsimd.BroadcastFloat32x8(q[d]).MulAdd(archsimd.LoadFloat32x8Slice(kT[d*ldk+j:]), acc0)
		}
		acc0 = acc0.Add(acc1).Add(acc2.Add(acc3)).Mul(av)
		if j+8 <= n {
			acc0.StoreSlice(out[j:])
		} else {
			var buf [8]float32
			acc0.Store(&buf)
			copy(out[j:], buf[:])
		}
	}
}

// exp8 is e^x for 8 lanes, x <= 0, as exp16 but without VSCALEFPS (AVX-512): 2^n is built
// from its bits, (n + 127) << 23 as a float32; x >= -87 keeps n >= -126, a normal exponent.
func exp8(x vec8) vec8 {
	x = x.Max(archsimd.BroadcastFloat32x8(expMin))
	n := x.Mul(archsimd.BroadcastFloat32x8(log2e)).RoundToEven()
	r := n.Mul(archsimd.BroadcastFloat32x8(-ln2Hi)).Add(x)
	r = n.Mul(archsimd.BroadcastFloat32x8(-ln2Lo)).Add(r)
	p := archsimd.BroadcastFloat32x8(1.0 / 720)
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(1.0/120))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(1.0/24))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(1.0/6))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(0.5))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(1))
	p = p.MulAdd(r, archsimd.BroadcastFloat32x8(1))
	pow2 := n.ConvertToInt32().Add(archsimd.BroadcastInt32x8(127)).ShiftAllLeft(23).AsFloat32x8()
	return p.Mul(pow2)
}

func (avx2Backend) softmax(x []float32) {
	n := len(x)
	mx := float32(math.Inf(-1))
	for _, v := range x {
		mx = max(mx, v)
	}
	mv := archsimd.BroadcastFloat32x8(mx)
	var sum vec8
	j := 0
	for ; j+8 <= n; j += 8 {
		e := exp8(archsimd.LoadFloat32x8Slice(x[j:]).Sub(mv))
		e.StoreSlice(x[j:])
		sum = sum.Add(e)
	}
	if tail := j; tail < n {
		// Lanes past the end hold -Inf: e^-87 next to a sum >= 1 (see the AVX-512 softmax).
		var buf [8]float32
		for t := range buf {
			buf[t] = float32(math.Inf(-1))
		}
		copy(buf[:], x[tail:])
		e := exp8(archsimd.LoadFloat32x8(&buf).Sub(mv))
		e.Store(&buf)
		copy(x[tail:], buf[:])
		sum = sum.Add(e)
	}
	r := 1 / hsum8(sum)
	inv := archsimd.BroadcastFloat32x8(r)
	for j = 0; j+8 <= n; j += 8 {
		archsimd.LoadFloat32x8Slice(x[j:]).Mul(inv).StoreSlice(x[j:])
	}
	for ; j < n; j++ {
		x[j] *= r
	}
}

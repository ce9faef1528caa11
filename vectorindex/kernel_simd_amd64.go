//go:build goexperiment.simd && amd64

package vectorindex

import (
	"simd/archsimd"
	"unsafe"

	"selection/internal/cpukernel"
)

// newKernel returns the kernels of path p (resolved by cpukernel.Resolve, so supported here).
// The AVX-512 path counts bits with VPOPCNTQ where the CPU has AVX512_VPOPCNTDQ (Ice Lake,
// Zen 4 and later) and with the AVX2 nibble table otherwise (Skylake-SP, Cascade Lake).
func newKernel(p cpukernel.Path) kernel {
	switch p {
	case cpukernel.AVX512:
		if cpukernel.HasVPOPCNTDQ() {
			return avx512{}
		}
		return avx512NoPopcnt{}
	case cpukernel.AVX2:
		return avx2{}
	}
	return portable{}
}

type avx512 struct{}

// avx512NoPopcnt is the AVX-512 dot product with the AVX2 Hamming pass.
type avx512NoPopcnt struct{ avx512 }

func (avx512NoPopcnt) name() string { return "avx512-archsimd (hamming avx2)" }

func (avx512NoPopcnt) hamming(q []uint64, blocks []uint64, words int, out []uint64) {
	hammingNibble(q, blocks, words, out)
}

func (avx512) name() string { return "avx512-archsimd" }

type f32x16 = archsimd.Float32x16

func ld(p unsafe.Pointer) f32x16 { return archsimd.LoadFloat32x16((*[16]float32)(p)) }

// dot runs four independent FMA chains of 16 lanes (64 floats per step), enough to hide the
// FMA latency; a 512-d vector is 8 steps.
func (avx512) dot(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var acc0, acc1, acc2, acc3 f32x16
	i := 0
	if n >= 64 {
		pa := unsafe.Pointer(unsafe.SliceData(a))
		pb := unsafe.Pointer(unsafe.SliceData(b))
		for ; i+64 <= n; i += 64 {
			oa := unsafe.Add(pa, i*4)
			ob := unsafe.Add(pb, i*4)
			acc0 = ld(oa).MulAdd(ld(ob), acc0)
			acc1 = ld(unsafe.Add(oa, 64)).MulAdd(ld(unsafe.Add(ob, 64)), acc1)
			acc2 = ld(unsafe.Add(oa, 128)).MulAdd(ld(unsafe.Add(ob, 128)), acc2)
			acc3 = ld(unsafe.Add(oa, 192)).MulAdd(ld(unsafe.Add(ob, 192)), acc3)
		}
	}
	for ; i+16 <= n; i += 16 {
		acc0 = archsimd.LoadFloat32x16Slice(a[i:]).MulAdd(archsimd.LoadFloat32x16Slice(b[i:]), acc0)
	}
	var buf [16]float32
	acc0.Add(acc1).Add(acc2.Add(acc3)).Store(&buf)
	s := ((buf[0] + buf[1]) + (buf[2] + buf[3])) + ((buf[4] + buf[5]) + (buf[6] + buf[7])) +
		((buf[8] + buf[9]) + (buf[10] + buf[11])) + ((buf[12] + buf[13]) + (buf[14] + buf[15]))
	for ; i < n; i++ {
		s += a[i] * b[i]
	}
	return s
}

type u64x8 = archsimd.Uint64x8

func ldu(p unsafe.Pointer) u64x8 { return archsimd.LoadUint64x8((*[8]uint64)(p)) }

// hamming handles one block of 8 codes per step: for each code word, one 512-bit load of that
// word of all 8 codes, XOR with the broadcast query word, VPOPCNTQ and an add, so the 8
// distances come out in one register without horizontal sums.
func (avx512) hamming(q []uint64, blocks []uint64, words int, out []uint64) {
	stride := words * 8
	n := len(blocks) / stride
	if n == 0 {
		return
	}
	_ = out[n*8-1]
	p := unsafe.Pointer(unsafe.SliceData(blocks))
	po := unsafe.Pointer(unsafe.SliceData(out))
	if words == 8 {
		q0, q1, q2, q3 := archsimd.BroadcastUint64x8(q[0]), archsimd.BroadcastUint64x8(q[1]), archsimd.BroadcastUint64x8(q[2]), archsimd.BroadcastUint64x8(q[3])
		q4, q5, q6, q7 := archsimd.BroadcastUint64x8(q[4]), archsimd.BroadcastUint64x8(q[5]), archsimd.BroadcastUint64x8(q[6]), archsimd.BroadcastUint64x8(q[7])
		for b := 0; b < n; b++ {
			acc := ldu(p).Xor(q0).OnesCount()
			acc = acc.Add(ldu(unsafe.Add(p, 64)).Xor(q1).OnesCount())
			acc = acc.Add(ldu(unsafe.Add(p, 128)).Xor(q2).OnesCount())
			acc = acc.Add(ldu(unsafe.Add(p, 192)).Xor(q3).OnesCount())
			acc = acc.Add(ldu(unsafe.Add(p, 256)).Xor(q4).OnesCount())
			acc = acc.Add(ldu(unsafe.Add(p, 320)).Xor(q5).OnesCount())
			acc = acc.Add(ldu(unsafe.Add(p, 384)).Xor(q6).OnesCount())
			acc = acc.Add(ldu(unsafe.Add(p, 448)).Xor(q7).OnesCount())
			acc.Store((*[8]uint64)(unsafe.Add(po, b*64)))
			p = unsafe.Add(p, 512)
		}
		return
	}
	for b := 0; b < n; b++ {
		var acc u64x8
		for w := 0; w < words; w++ {
			acc = acc.Add(ldu(unsafe.Add(p, w*64)).Xor(archsimd.BroadcastUint64x8(q[w])).OnesCount())
		}
		acc.Store((*[8]uint64)(unsafe.Add(po, b*64)))
		p = unsafe.Add(p, stride*8)
	}
}

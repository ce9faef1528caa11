//go:build goexperiment.simd && amd64

package vectorindex

import (
	"math/bits"
	"simd/archsimd"
	"unsafe"
)

// avx2 is the AVX2+FMA kernel set: the float32 dot product on 8-lane vectors, and the
// Hamming pass with a nibble-table popcount (AVX2 has no vector popcount; see hamming).
type avx2 struct{}

func (avx2) name() string { return "avx2-archsimd" }

type f32x8 = archsimd.Float32x8

func ld8(p unsafe.Pointer) f32x8 { return archsimd.LoadFloat32x8((*[8]float32)(p)) }

// dot runs four independent FMA chains of 8 lanes (32 floats per step, enough to hide the FMA
// latency on two FMA pipes); a 512-d vector is 16 steps.
func (avx2) dot(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var acc0, acc1, acc2, acc3 f32x8
	i := 0
	if n >= 32 {
		pa := unsafe.Pointer(unsafe.SliceData(a))
		pb := unsafe.Pointer(unsafe.SliceData(b))
		for ; i+32 <= n; i += 32 {
			oa := unsafe.Add(pa, i*4)
			ob := unsafe.Add(pb, i*4)
			acc0 = ld8(oa).MulAdd(ld8(ob), acc0)
			acc1 = ld8(unsafe.Add(oa, 32)).MulAdd(ld8(unsafe.Add(ob, 32)), acc1)
			acc2 = ld8(unsafe.Add(oa, 64)).MulAdd(ld8(unsafe.Add(ob, 64)), acc2)
			acc3 = ld8(unsafe.Add(oa, 96)).MulAdd(ld8(unsafe.Add(ob, 96)), acc3)
		}
	}
	for ; i+8 <= n; i += 8 {
		acc0 = archsimd.LoadFloat32x8Slice(a[i:]).MulAdd(archsimd.LoadFloat32x8Slice(b[i:]), acc0)
	}
	var buf [8]float32
	acc0.Add(acc1).Add(acc2.Add(acc3)).Store(&buf)
	s := ((buf[0] + buf[1]) + (buf[2] + buf[3])) + ((buf[4] + buf[5]) + (buf[6] + buf[7]))
	for ; i < n; i++ {
		s += a[i] * b[i]
	}
	return s
}

type u8x32 = archsimd.Uint8x32

func ldb(p unsafe.Pointer) u8x32 { return archsimd.LoadUint8x32((*[32]uint8)(p)) }

// nibbleCounts is the popcount of each 4-bit value, once per 128-bit lane (VPSHUFB looks up
// within each lane).
var nibbleCounts = [32]int8{0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4}

// hamming counts bits with a nibble table (Mula's method): per code word, the words of 8
// codes are two 256-bit loads; XOR with the broadcast query word, split each byte into its two
// nibbles, look both up with VPSHUFB and add, so every byte holds its own popcount (at most
// 8). The byte counts of all the words of a code add up without overflow (a 512-bit code is
// at most 64 per byte), and one VPSADBW against zero per 4 codes sums each 64-bit lane's 8
// bytes into that code's distance. Measured against bits.OnesCount64 (POPCNT) unrolled over
// the same block, it is TestHammingVariants' comparison: see hammingPOPCNT.
func (avx2) hamming(q []uint64, blocks []uint64, words int, out []uint64) {
	hammingNibble(q, blocks, words, out)
}

func hammingNibble(q []uint64, blocks []uint64, words int, out []uint64) {
	stride := words * 8
	n := len(blocks) / stride
	if n == 0 {
		return
	}
	_ = out[n*8-1]
	_ = q[words-1]
	p := unsafe.Pointer(unsafe.SliceData(blocks))
	po := unsafe.Pointer(unsafe.SliceData(out))
	lut := archsimd.LoadInt8x32(&nibbleCounts).AsUint8x32()
	low := archsimd.BroadcastUint8x32(0x0f)
	var zero u8x32
	// Byte counts add up to 8 per word: 31 words fit a byte; longer codes are split.
	const span = 31
	for b := 0; b < n; b++ {
		var d0, d1 archsimd.Uint64x4
		for w0 := 0; w0 < words; w0 += span {
			var s0, s1 u8x32
			for w := w0; w < min(w0+span, words); w++ {
				qw := archsimd.BroadcastUint64x4(q[w]).AsUint8x32()
				x0 := ldb(unsafe.Add(p, w*64)).Xor(qw)
				x1 := ldb(unsafe.Add(p, w*64+32)).Xor(qw)
				s0 = s0.Add(popBytes(x0, lut, low))
				s1 = s1.Add(popBytes(x1, lut, low))
			}
			d0 = d0.Add(s0.SumAbsDiff(zero).AsUint64x4())
			d1 = d1.Add(s1.SumAbsDiff(zero).AsUint64x4())
		}
		d0.Store((*[4]uint64)(unsafe.Add(po, b*64)))
		d1.Store((*[4]uint64)(unsafe.Add(po, b*64+32)))
		p = unsafe.Add(p, stride*8)
	}
}

// popBytes is the popcount of each byte of x.
func popBytes(x, lut, low u8x32) u8x32 {
	lo := x.And(low).AsInt8x32()
	hi := x.AsUint16x16().ShiftAllRight(4).AsUint8x32().And(low).AsInt8x32()
	return lut.PermuteOrZeroGrouped(lo).Add(lut.PermuteOrZeroGrouped(hi))
}

// hammingPOPCNT is the scalar alternative: bits.OnesCount64 (one POPCNT each) on the 8 codes
// of a block with 8 independent sums. Kept for TestHammingVariants and BenchmarkHamming,
// which measure the two.
func hammingPOPCNT(q []uint64, blocks []uint64, words int, out []uint64) {
	stride := words * 8
	n := len(blocks) / stride
	out = out[:n*8]
	q = q[:words]
	for b := 0; b < n; b++ {
		blk := blocks[b*stride : (b+1)*stride]
		var d0, d1, d2, d3, d4, d5, d6, d7 int
		for w, qw := range q {
			row := (*[8]uint64)(blk[w*8 : w*8+8])
			d0 += bits.OnesCount64(row[0] ^ qw)
			d1 += bits.OnesCount64(row[1] ^ qw)
			d2 += bits.OnesCount64(row[2] ^ qw)
			d3 += bits.OnesCount64(row[3] ^ qw)
			d4 += bits.OnesCount64(row[4] ^ qw)
			d5 += bits.OnesCount64(row[5] ^ qw)
			d6 += bits.OnesCount64(row[6] ^ qw)
			d7 += bits.OnesCount64(row[7] ^ qw)
		}
		o := (*[8]uint64)(out[b*8 : b*8+8])
		o[0], o[1], o[2], o[3] = uint64(d0), uint64(d1), uint64(d2), uint64(d3)
		o[4], o[5], o[6], o[7] = uint64(d4), uint64(d5), uint64(d6), uint64(d7)
	}
}

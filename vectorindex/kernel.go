package vectorindex

import (
	"math/bits"

	"selection/internal/cpukernel"
)

// kernel is the set of scoring loops the index runs. One is chosen at start (IndexConfig.Kernel,
// default auto): in the GOEXPERIMENT=simd build the AVX-512 kernels when the CPU has AVX-512
// (VPOPCNTQ for the Hamming distances where it has VPOPCNTDQ), else the AVX2+FMA ones, else
// the portable ones.
type kernel interface {
	name() string
	// dot returns the inner product of a and b (len(b) >= len(a)).
	dot(a, b []float32) float32
	// hamming writes, for each block of 8 binary codes in blocks (block-transposed: word w of
	// code j at block[w*8+j], words words per code), the 8 Hamming distances to q into out.
	hamming(q []uint64, blocks []uint64, words int, out []uint64)
}

// portable is the pure-Go kernel set (also the reference the SIMD kernels are tested against).
type portable struct{}

func (portable) name() string { return "portable" }

func (portable) dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func (portable) hamming(q []uint64, blocks []uint64, words int, out []uint64) {
	n := len(blocks) / (words * 8)
	out = out[:n*8]
	for b := 0; b < n; b++ {
		blk := blocks[b*words*8 : (b+1)*words*8]
		var d [8]uint64
		for w := 0; w < words; w++ {
			qw := q[w]
			row := blk[w*8 : w*8+8]
			for j := 0; j < 8; j++ {
				d[j] += uint64(bits.OnesCount64(row[j] ^ qw))
			}
		}
		copy(out[b*8:], d[:])
	}
}

// defaultKernel is the fastest kernel this machine supports, for Dot.
var defaultKernel = newKernel(cpukernel.Best())

// Dot returns the inner product of a and b (len(b) >= len(a)) with the fastest kernel this
// machine supports (SELECTION_KERNEL does not apply: it is for search's few small products).
func Dot(a, b []float32) float32 { return defaultKernel.dot(a, b) }

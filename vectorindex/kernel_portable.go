//go:build !goexperiment.simd || !amd64

package vectorindex

// newKernel returns the portable kernels; build with GOEXPERIMENT=simd on amd64 for the
// AVX-512 ones.
func newKernel() kernel { return portable{} }

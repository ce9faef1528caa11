//go:build !goexperiment.simd || !amd64

package uselite

// newBackend returns the portable kernels; build with GOEXPERIMENT=simd on
// amd64 for the AVX-512 ones.
func newBackend() backend { return gonumBackend{} }

//go:build !goexperiment.simd || !amd64

package cpukernel

// detect: without GOEXPERIMENT=simd on amd64 there are no SIMD kernels to choose.
func detect() features { return features{} }

//go:build !goexperiment.simd || !amd64

package vectorindex

import "selection/internal/cpukernel"

// newKernel returns the portable kernels: without GOEXPERIMENT=simd on amd64 there are no
// others (cpukernel.Resolve gives only cpukernel.Portable).
func newKernel(cpukernel.Path) kernel { return portable{} }

//go:build !goexperiment.simd || !amd64

package uselite

import "selection/internal/cpukernel"

// newBackend returns the portable kernels: without GOEXPERIMENT=simd on amd64 there are no
// others (cpukernel.Resolve gives only cpukernel.Portable).
func newBackend(cpukernel.Path) backend { return gonumBackend{} }

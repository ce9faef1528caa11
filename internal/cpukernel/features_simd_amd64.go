//go:build goexperiment.simd && amd64

package cpukernel

import "simd/archsimd"

func detect() features {
	x := archsimd.X86
	return features{simd: true, avx512: x.AVX512(), vpopcnt: x.AVX512VPOPCNTDQ(), avx2: x.AVX2(), fma: x.FMA()}
}

// Package cpukernel chooses, once at start, which numeric kernels the embedding model
// (embed/uselite) and the in-memory vector index (vectorindex) run: AVX-512, AVX2+FMA or the
// portable pure-Go loops. The SIMD kernels are written with Go 1.26's experimental
// simd/archsimd package, so they exist only in a GOEXPERIMENT=simd build on amd64 (the
// Makefile's); a path is supported when the build has it and the CPU has its features:
//
//	avx512    AVX-512 F, CD, BW, DQ and VL (what archsimd.X86.AVX512 checks)
//	avx2      AVX2 and FMA
//	portable  always
//
// Resolve turns the setting (SELECTION_KERNEL: auto, avx512, avx2 or portable; default auto)
// into a path: auto is the fastest supported one, and forcing a path the build or the CPU
// lacks is an error wrapping ErrUnsupported, so a misconfigured service stops at start
// instead of running slowly or faulting on an illegal instruction.
//
// MeasurePeak estimates the machine's fp32 peak for a path, which the benches divide their
// achieved GFLOP/s by: cores x clock x FLOPs per cycle per core, the clock measured with a
// dependent chain of integer adds (one cycle each on every x86-64 core) and the FLOPs per
// cycle from the vector width (see peak.go).
package cpukernel

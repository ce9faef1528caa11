package cpukernel

import (
	"errors"
	"testing"
)

func TestResolve(t *testing.T) {
	sup := Supported()
	if len(sup) == 0 || sup[len(sup)-1] != Portable {
		t.Fatalf("Supported() = %v, want portable last", sup)
	}
	for _, s := range []string{"", "auto", " auto "} {
		if p, err := Resolve(s); err != nil || p != Best() {
			t.Errorf("Resolve(%q) = %v, %v; want %v", s, p, err, Best())
		}
	}
	if p, err := Resolve("portable"); err != nil || p != Portable {
		t.Errorf("Resolve(portable) = %v, %v", p, err)
	}
	if _, err := Resolve("avx9"); err == nil || errors.Is(err, ErrUnsupported) {
		t.Errorf("Resolve(avx9) = %v, want an unknown-kernel error", err)
	}
	for _, p := range []Path{AVX512, AVX2} {
		got, err := Resolve(string(p))
		ok, why := cpu.supports(p)
		switch {
		case ok && (err != nil || got != p):
			t.Errorf("Resolve(%s) = %v, %v on a machine that supports it", p, got, err)
		case !ok && !errors.Is(err, ErrUnsupported):
			t.Errorf("Resolve(%s) = %v, want ErrUnsupported (%s)", p, err, why)
		case !ok:
			t.Logf("%s refused here: %v", p, err)
		}
	}
	// A build without the SIMD kernels supports nothing else, whatever the CPU.
	none := features{avx512: true, vpopcnt: true, avx2: true, fma: true}
	if ok, why := none.supports(AVX2); ok || why == "" {
		t.Errorf("a build without GOEXPERIMENT=simd supports avx2: %v %q", ok, why)
	}
	if ok, _ := (features{simd: true, avx2: true}).supports(AVX2); ok {
		t.Error("avx2 without FMA accepted")
	}
	t.Log(Describe(Best(), ""))
}

func TestPeak(t *testing.T) {
	if FLOPsPerCycle(AVX2) != 32 || FLOPsPerCycle(Portable) != 8 {
		t.Errorf("FLOPs/cycle: avx2 %d, portable %d", FLOPsPerCycle(AVX2), FLOPsPerCycle(Portable))
	}
	if f := FLOPsPerCycle(AVX512); f != 64 && !(f == 32 && amdFamily() == 25) {
		t.Errorf("FLOPs/cycle avx512 = %d (AMD family %d)", f, amdFamily())
	}
	p := MeasurePeak(Auto)
	if p.Path != Best() || p.GHz <= 0 || p.Cores < 1 || p.GFLOPS() <= 0 {
		t.Errorf("MeasurePeak(auto) = %+v", p)
	}
	t.Logf("%+v: %.0f GFLOP/s", p, p.GFLOPS())
}

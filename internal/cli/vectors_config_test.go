package cli

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "8GiB": 8 << 30, "512MiB": 512 << 20, "1.5GB": 1_500_000_000, "4096": 4096, "10 KiB": 10 << 10} {
		got, err := parseBytes(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "GiB", "-1GiB", "8XB", "1e30TB", "NaN"} {
		_, err := parseBytes(in)
		require.Error(t, err, in)
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"0", "8GiB", "1.5GB", "12", "-3", "1e300", "  7 MiB "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseBytes(s)
		if err == nil && (n < 0 || n > 1<<62) {
			t.Fatalf("%q parsed to %d", s, n)
		}
	})
}

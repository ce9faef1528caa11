package vectorindex

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAddAndNormalize(t *testing.T) {
	c := Add(nil, []float32{1, 2})
	c = Add(c, []float32{2, 2})
	require.Equal(t, []float32{3, 4}, c)
	n, ok := Normalize(c)
	require.True(t, ok)
	require.InDeltaSlice(t, []float64{0.6, 0.8}, []float64{float64(n[0]), float64(n[1])}, 1e-6)
	require.Equal(t, []float32{3, 4}, c, "a copy")
	z, ok := Normalize([]float32{0, 0})
	require.False(t, ok)
	require.Equal(t, []float32{0, 0}, z)
}

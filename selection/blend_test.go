package selection

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The newest signal of a blend spreads the known release dates over 0..1 and gives unknown
// ones (0) nothing, instead of squeezing every dated product near 1.
func TestNormKnown(t *testing.T) {
	require.Equal(t, []float64{0, 0, 0.5, 1, 0}, normKnown([]int64{0, 18000, 18500, 19000, 0}))
	require.Equal(t, []float64{1, 0}, normKnown([]int64{19000, 0}))
	require.Equal(t, []float64{0, 0}, normKnown([]int64{0, 0}))
}

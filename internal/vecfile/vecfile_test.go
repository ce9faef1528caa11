package vecfile

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoundTripAndMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.bin")
	ids := []int64{-7, 42, 9_000_000_000_000_000_001}
	vecs := [][]float32{{1, 0, 0}, {0, 0.5, -0.5}, {0.25, 0.25, 0.5}}
	require.NoError(t, Write(path, ids, vecs, 3))
	got, err := Read(path, ids, 3)
	require.NoError(t, err)
	for i, id := range ids {
		require.Equal(t, vecs[i], got[id])
	}
	_, err = Read(path, []int64{-7, 42, 1}, 3)
	require.ErrorContains(t, err, "want 1")
	_, err = Read(path, ids, 4)
	require.Error(t, err)
	require.Error(t, Write(path, ids, [][]float32{{1}, {1}, {1}}, 3))
	got, err = Read(path, ids, 3) // a failed write leaves the old file
	require.NoError(t, err)
	require.Len(t, got, 3)
}

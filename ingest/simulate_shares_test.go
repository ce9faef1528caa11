package ingest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// simulateShares runs n events of a simulator over 500 SKUs with the given shares and returns
// the catalogue's size afterwards and the new SKUs (upserts with a brand) and deletions seen.
func simulateShares(t *testing.T, newSKU, del float64, n int) (size, launched, deleted int) {
	s, err := NewSimulator(SimulatorConfig{Brokers: []string{"unused:1"}, Catalogue: simCatalogue(500), Seed: 7,
		NewSKUShare: newSKU, DeleteShare: del, MalformedShare: -1})
	require.NoError(t, err)
	now := time.Now()
	for range n {
		for _, r := range s.Next(now) {
			var e struct {
				Kind Kind            `json:"kind"`
				Data json.RawMessage `json:"data"`
			}
			require.NoError(t, json.Unmarshal(r.Value, &e))
			switch e.Kind {
			case KindDelete:
				deleted++
			case KindUpsert:
				var d UpsertData
				require.NoError(t, json.Unmarshal(e.Data, &d))
				if d.Brand != nil { // a launch carries every field; a title edit only the title
					launched++
				}
			}
		}
	}
	return len(s.skus), launched, deleted
}

func TestSimulatorNewSKUAndDeleteShares(t *testing.T) {
	const n = 20000
	// None of either: the catalogue keeps its size (a soak's memory growth is then not data).
	size, launched, deleted := simulateShares(t, -1, -1, n)
	require.Equal(t, 500, size)
	require.Zero(t, launched)
	require.Zero(t, deleted)

	// The defaults: 5% launches, 3% deletions.
	size, launched, deleted = simulateShares(t, 0, 0, n)
	require.InDelta(t, 0.05, float64(launched)/n, 0.01)
	require.InDelta(t, 0.03, float64(deleted)/n, 0.01)
	require.Equal(t, 500+launched-deleted, size)

	// Other shares are followed.
	size, launched, deleted = simulateShares(t, 0.2, -1, n)
	require.InDelta(t, 0.2, float64(launched)/n, 0.02)
	require.Zero(t, deleted)
	require.Equal(t, 500+launched, size)

	_, err := NewSimulator(SimulatorConfig{Brokers: []string{"unused:1"}, Catalogue: simCatalogue(5), NewSKUShare: 0.6, DeleteShare: 0.5})
	require.Error(t, err)
}

func TestEventCutsKeepTheOtherKindsProportions(t *testing.T) {
	require.Equal(t, [6]float64{0.35, 0.65, 0.77, 0.87, 0.92, 0.97}, eventCuts(DefaultNewSKUShare, DefaultDeleteShare))
	c := eventCuts(0, 0)
	require.InDelta(t, 0.35/0.92, c[0], 1e-12)
	require.InDelta(t, 0.65/0.92, c[1], 1e-12)
	require.Equal(t, 1.0, c[4])
	require.Greater(t, c[5], 1.0, "never a deletion")
}

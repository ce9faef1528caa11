package scenariobench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/internal/icecat"
	"selection/selection"
)

// icecatVocabulary is what the service's parser knows on the Icecat catalogue: its brands
// (suppliers) and the bench's tags.
func icecatVocabulary(t *testing.T) selection.StaticVocabulary {
	seen := map[string]bool{}
	var v selection.StaticVocabulary
	for _, p := range icecat.Products(t) {
		if p.Supplier != "" && !seen[p.Supplier] {
			seen[p.Supplier] = true
			v.BrandList = append(v.BrandList, p.Supplier)
		}
	}
	for _, tg := range BenchTags {
		v.TagList = append(v.TagList, tg.Name)
	}
	return v
}

func TestScenariosPlanAsIntended(t *testing.T) {
	vocab := icecatVocabulary(t)
	require.Greater(t, len(vocab.BrandList), 100)
	names := map[string]bool{}
	for _, s := range Scenarios {
		t.Run(s.Name, func(t *testing.T) {
			require.False(t, names[s.Name], "duplicate name")
			names[s.Name] = true
			plan, _ := selection.FromParsed(selection.Parse(s.Text, vocab), "USD")
			require.Empty(t, s.Check(plan), "plan %+v", plan)
		})
	}
	// The list mixes kinds: pure filters, queries with filters, bare queries.
	var pure, filtered, bare int
	for _, s := range Scenarios {
		switch {
		case s.Want.Query == "":
			pure++
		case len(s.Want.Fields) > 0:
			filtered++
		default:
			bare++
		}
	}
	require.GreaterOrEqual(t, pure, 3)
	require.GreaterOrEqual(t, filtered, 10)
	require.GreaterOrEqual(t, bare, 3)
}

func TestCheckReportsDifferences(t *testing.T) {
	s := Scenarios[0]
	plan, _ := selection.FromParsed(selection.Parse("gaming mouse in stock", nil), "USD")
	require.Contains(t, s.Check(plan), "filter fields [in_stock], want [in_stock,price]")
	require.Contains(t, s.Check(plan), "ranking relevance, want sales")
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	require.Zero(t, Percentile(nil, 50))
	require.Equal(t, 7*time.Millisecond, Percentile(ms(7), 95))
	d := ms(10, 1, 9, 2, 8, 3, 7, 4, 6, 5) // 1..10 shuffled
	require.Equal(t, 5*time.Millisecond, Percentile(d, 50))
	require.Equal(t, 10*time.Millisecond, Percentile(d, 95))
	require.Equal(t, 9*time.Millisecond, Percentile(d, 90))
	require.Equal(t, 1*time.Millisecond, Percentile(d, 1))
	require.Equal(t, ms(10, 1, 9, 2, 8, 3, 7, 4, 6, 5), d, "the input is not reordered")
	twenty := make([]time.Duration, 20)
	for i := range twenty {
		twenty[i] = time.Duration(i+1) * time.Millisecond
	}
	require.Equal(t, 19*time.Millisecond, Percentile(twenty, 95))
}

func TestRecallAt(t *testing.T) {
	exact := []float32{0.9, 0.8, 0.7, 0.6}
	require.Equal(t, 1.0, RecallAt(3, exact, []float32{0.9, 0.8, 0.7}))
	require.InDelta(t, 2.0/3, RecallAt(3, exact, []float32{0.9, 0.8, 0.6}), 1e-9)
	require.Equal(t, 1.0, RecallAt(3, exact, []float32{0.9, 0.7, 0.8}), "order within the top k does not matter")
	require.Equal(t, 1.0, RecallAt(3, exact, []float32{0.9, 0.8, 0.7 - 1e-6}), "a tie at the cut counts")
	require.Equal(t, 1.0, RecallAt(10, nil, nil))
	require.Equal(t, 0.5, RecallAt(10, []float32{0.5, 0.4}, []float32{0.5}))
}

package search

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAliasesLearnTypesFromJudgedQueries(t *testing.T) {
	a := NewAliases(map[string][]int64{
		"laptop":        {1, 2, 3},
		"gaming laptop": {3, 4, 9},                    // the same head word: its SKUs join the first query's
		"tv":            {10, 11},                     // too few typed SKUs to learn from
		"tripod":        {20, 21, 22, 23, 24, 25, 26}, // too mixed
		"":              {30},
	})
	types := map[int64]string{1: "notebook", 2: "notebook", 3: "notebook", 4: "notebook case", 9: "",
		10: "television", 11: "television",
		20: "mount", 21: "stand", 22: "camera", 23: "kit", 24: "bag", 25: "light", 26: "case"}
	typeOf := func(id int64) string { return types[id] }
	require.Equal(t, 3, a.Len())

	got := a.typesOf("laptop", typeOf)
	require.Len(t, got, 1, "notebook case holds 1 of 4 typed SKUs: below the share")
	require.Equal(t, "notebook", got[0].name)
	require.InDelta(t, 0.75, got[0].share, 1e-9)
	require.Nil(t, a.typesOf("tv", typeOf))
	require.Nil(t, a.typesOf("tripod", typeOf))
	require.Nil(t, a.typesOf("printer", typeOf), "never judged")
	var none *Aliases
	require.Nil(t, none.typesOf("laptop", typeOf))
	require.Zero(t, none.Len())
}

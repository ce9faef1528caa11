package selection_test

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/filter"
	"selection/selection"
)

// The JSON Schema documents exactly the fields, rankings, signals and filter fields the Go
// code accepts.
func TestPlanSchemaMatchesCode(t *testing.T) {
	b, err := os.ReadFile("plan.schema.json")
	require.NoError(t, err)
	var schema struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
		Defs       struct {
			Expr struct {
				OneOf []struct {
					Properties map[string]struct {
						Properties map[string]struct {
							Enum []string `json:"enum"`
						} `json:"properties"`
					} `json:"properties"`
				} `json:"oneOf"`
			} `json:"expr"`
		} `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal(b, &schema))

	var fields []string
	typ := reflect.TypeOf(selection.Plan{})
	for i := 0; i < typ.NumField(); i++ {
		fields = append(fields, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
	}
	var documented []string
	for k := range schema.Properties {
		documented = append(documented, k)
	}
	sort.Strings(fields)
	sort.Strings(documented)
	require.Equal(t, fields, documented)

	var ranking struct {
		Properties struct {
			By struct {
				Enum []string `json:"enum"`
			} `json:"by"`
			Weights struct {
				PropertyNames struct {
					Enum []string `json:"enum"`
				} `json:"propertyNames"`
			} `json:"weights"`
		} `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(schema.Properties["ranking"], &ranking))
	for _, by := range ranking.Properties.By.Enum {
		p := selection.Plan{Version: 1, Ranking: selection.Ranking{By: by, Weights: map[string]float64{"sales": 1}}, Limit: 1}
		require.NoError(t, p.Validate(), by)
	}
	require.ElementsMatch(t, selection.BlendSignals, ranking.Properties.Weights.PropertyNames.Enum)

	var cats, nums []string
	for _, f := range filter.Fields() {
		if f.Kind == filter.Numeric {
			nums = append(nums, f.Name)
		} else {
			cats = append(cats, f.Name)
		}
	}
	for _, o := range schema.Defs.Expr.OneOf {
		if a, ok := o.Properties["attr"]; ok {
			require.ElementsMatch(t, cats, a.Properties["field"].Enum)
		}
		if r, ok := o.Properties["range"]; ok {
			require.ElementsMatch(t, nums, r.Properties["field"].Enum)
		}
	}
}

package tagger

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Names starting with "type/" belong to the product types' tags: no defined tag may take one.
func TestDefinedTagsCannotTakeTypeTagNames(t *testing.T) {
	require.ErrorContains(t, validName("type/notebook"), "product types' tags")
	require.ErrorContains(t, validName("Type/mouse"), "product types' tags")
	require.NoError(t, validName("typewriters"))
	require.NoError(t, validName("gaming"))
}

package filter

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// "type/NAME" is the tag of a product type: it needs no definition, holds the SKUs whose
// product_type is NAME (following the field as it changes), and an unknown type is an unknown
// tag.
func TestProductTypeTags(t *testing.T) {
	ix := NewIndex()
	var rows []Row
	for i, ty := range []string{"notebook", "notebook case", "notebook", "mouse", ""} {
		r := Row{Ordinal: int64(i), ID: int64(100 + i), Live: true}
		r.Cat[CatProductType] = ty
		rows = append(rows, r)
	}
	ix.Upsert(rows)

	e, err := ParseExpr(`tag = "type/Notebook"`)
	require.NoError(t, err)
	bm, err := ix.Eval(e)
	require.NoError(t, err)
	require.Equal(t, []uint64{0, 2}, bm.ToArray())

	bm, err = ix.Eval(And(Tag("type/notebook case"), Not(Tag("type/mouse"))))
	require.NoError(t, err)
	require.Equal(t, []uint64{1}, bm.ToArray())

	_, err = ix.Eval(Tag("type/tablet"))
	require.True(t, errors.Is(err, ErrUnknownTag), "%v", err)
	_, err = ix.Eval(Tag("type/"))
	require.True(t, errors.Is(err, ErrUnknownTag), "the bare prefix is an ordinary (unknown) tag: %v", err)

	// The tag follows the field: SKU 0 becomes a mouse.
	rows[0].Cat[CatProductType] = "mouse"
	ix.Upsert(rows[:1])
	bm, err = ix.Eval(Tag("type/mouse"))
	require.NoError(t, err)
	require.Equal(t, []uint64{0, 3}, bm.ToArray())

	ty, ok := TypeOfTag("TYPE/usb cable")
	require.True(t, ok)
	require.Equal(t, "usb cable", ty)
	_, ok = TypeOfTag("typewriters")
	require.False(t, ok)
}

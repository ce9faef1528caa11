package memo

import (
	"context"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"
)

// A scope keeps values by key and equal candidate set, first come, up to its bound, and lives
// in the context it was made for only.
func TestScope(t *testing.T) {
	require.Nil(t, ScopeFrom(context.Background()))
	ctx := WithScope(context.Background(), 3)
	s := ScopeFrom(ctx)
	require.NotNil(t, s)
	a, b := roaring64.BitmapOf(1, 2), roaring64.BitmapOf(1, 2, 3)
	s.Put("q", a, "for a")
	s.Put("q", a.Clone(), "again") // the first stands
	s.Put("q", b, "for b")
	s.Put("q", nil, "for all")
	s.Put("r", nil, "over the bound")
	a.Add(9) // kept as it was put
	v, ok := s.Get("q", roaring64.BitmapOf(1, 2), nil)
	require.True(t, ok)
	require.Equal(t, "for a", v)
	v, ok = s.Get("q", b, nil)
	require.True(t, ok)
	require.Equal(t, "for b", v)
	v, ok = s.Get("q", nil, nil)
	require.True(t, ok)
	require.Equal(t, "for all", v)
	_, ok = s.Get("q", nil, func(v any) bool { return v != "for all" })
	require.False(t, ok, "fits refuses it")
	_, ok = s.Get("r", nil, nil)
	require.False(t, ok, "the scope was full")
	_, ok = s.Get("q", roaring64.BitmapOf(2), nil)
	require.False(t, ok)
	require.Equal(t, 3, s.Len())
	require.Equal(t, uint64(3), s.Hits())
	require.NotSame(t, s, ScopeFrom(WithScope(ctx, 3)), "a new scope for a new pass")

	// Set replaces the value held for the same set, even when full; a new set needs room.
	s.Set("q", b.Clone(), "larger for b")
	v, ok = s.Get("q", b, nil)
	require.True(t, ok)
	require.Equal(t, "larger for b", v)
	s.Set("q", roaring64.BitmapOf(7), "no room")
	_, ok = s.Get("q", roaring64.BitmapOf(7), nil)
	require.False(t, ok)
	require.Equal(t, 3, s.Len())
	s2 := ScopeFrom(WithScope(ctx, 2))
	s2.Set("t", a, 1)
	s2.Set("t", a, 2)
	require.Equal(t, 1, s2.Len())

	// Clear drops every value, and so makes room.
	s.Clear()
	require.Equal(t, 0, s.Len())
	_, ok = s.Get("q", b, nil)
	require.False(t, ok, "cleared")
	s.Put("r", nil, "room again")
	v, ok = s.Get("r", nil, nil)
	require.True(t, ok)
	require.Equal(t, "room again", v)
	ScopeFrom(context.Background()).Clear() // no scope: nothing to clear
}

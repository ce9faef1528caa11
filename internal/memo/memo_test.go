package memo

import (
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"
)

func set(ords ...uint64) *roaring64.Bitmap { return roaring64.BitmapOf(ords...) }

// count is how many values the lists hold (what n must say).
func (m *Memo[G, V]) count() int {
	n := 0
	for _, l := range m.entries {
		n += len(l)
	}
	return n
}

func TestMemoAnswersForItsGenerationKeyAndSet(t *testing.T) {
	m := New[uint64, string](3)
	a, b := set(1, 2, 3), set(1, 2, 4) // the same size, not the same set
	m.Put(1, "q", a, "a")
	m.Put(1, "q", nil, "all")
	_, ok := m.Get(1, "q", b, nil)
	require.False(t, ok, "another set of the same size")
	v, ok := m.Get(1, "q", set(3, 2, 1), nil)
	require.True(t, ok)
	require.Equal(t, "a", v)
	v, ok = m.Get(1, "q", nil, nil)
	require.True(t, ok)
	require.Equal(t, "all", v)
	_, ok = m.Get(1, "other", a, nil)
	require.False(t, ok, "another key")
	_, ok = m.Get(2, "q", a, nil)
	require.False(t, ok, "another generation")
	_, ok = m.Get(1, "q", a, func(s string) bool { return s != "a" })
	require.False(t, ok, "fits refuses it")

	a.Add(9) // the caller's set: the memo kept a copy
	v, ok = m.Get(1, "q", set(1, 2, 3), nil)
	require.True(t, ok)
	require.Equal(t, "a", v)

	m.Put(1, "q", set(1, 2, 3), "a2") // replaces the value for that set
	require.Equal(t, 2, m.Len())
	v, _ = m.Get(1, "q", set(1, 2, 3), nil)
	require.Equal(t, "a2", v)
	require.Equal(t, uint64(4), m.Hits())

	m.Put(2, "q", b, "b") // a new generation drops the rest
	require.Equal(t, 1, m.Len())
	_, ok = m.Get(2, "q", set(1, 2, 3), nil)
	require.False(t, ok)
	v, ok = m.Get(2, "q", b, nil)
	require.True(t, ok)
	require.Equal(t, "b", v)
}

func TestMemoEvictsTheLeastRecentlyUsed(t *testing.T) {
	m := New[int, int](3)
	m.Put(0, "a", nil, 1)
	m.Put(0, "b", nil, 2)
	m.Put(0, "b", set(5), 3)
	_, ok := m.Get(0, "a", nil, nil) // "a" used last: "b" nil is the oldest now
	require.True(t, ok)
	m.Put(0, "c", nil, 4)
	require.Equal(t, 3, m.Len())
	require.Equal(t, 3, m.count())
	_, ok = m.Get(0, "b", nil, nil)
	require.False(t, ok, "the least recently used went")
	for _, k := range []struct {
		key  string
		cand *roaring64.Bitmap
	}{{"a", nil}, {"b", set(5)}, {"c", nil}} {
		_, ok := m.Get(0, k.key, k.cand, nil)
		require.True(t, ok, k.key)
	}
	for i := range 10 {
		m.Put(0, "d", set(uint64(i)), i)
		require.Equal(t, 3, m.Len())
		require.Equal(t, 3, m.count())
	}
}

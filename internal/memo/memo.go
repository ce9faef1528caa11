package memo

import (
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// Memo keeps up to a bound of values by key and candidate set (nil: every item), for one
// generation G at a time: a value kept at another generation answers nothing, and the first
// value kept at a new one drops the rest. When full, the least recently used value makes room.
// It is safe for concurrent use.
type Memo[G comparable, V any] struct {
	mu      sync.Mutex
	size    int
	gen     G
	entries map[string][]*entry[V]
	n       int
	clock   uint64
	hits    uint64
}

type entry[V any] struct {
	cand *roaring64.Bitmap // nil: every item
	card uint64
	val  V
	used uint64
}

// New returns a memo of at most size values.
func New[G comparable, V any](size int) *Memo[G, V] {
	return &Memo[G, V]{size: max(size, 1), entries: map[string][]*entry[V]{}}
}

func sameSet(a *roaring64.Bitmap, card uint64, b *roaring64.Bitmap) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	return a == nil || (card == b.GetCardinality() && a.Equals(b))
}

// find is the index in list of the entry kept for cand that fits accepts (fits nil: any), or
// -1.
func find[V any](list []*entry[V], cand *roaring64.Bitmap, fits func(V) bool) int {
	for i, e := range list {
		if sameSet(e.cand, e.card, cand) && (fits == nil || fits(e.val)) {
			return i
		}
	}
	return -1
}

// newEntry is val kept for cand (cloned; nil: every item).
func newEntry[V any](cand *roaring64.Bitmap, val V) *entry[V] {
	e := &entry[V]{val: val}
	if cand != nil {
		e.cand, e.card = cand.Clone(), cand.GetCardinality()
	}
	return e
}

// Get returns the value kept for key and cand at gen, if fits accepts it (fits nil: any).
// The value is shared: callers copy what they would modify.
func (m *Memo[G, V]) Get(gen G, key string, cand *roaring64.Bitmap, fits func(V) bool) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var zero V
	if m.gen != gen {
		return zero, false
	}
	list := m.entries[key]
	i := find(list, cand, fits)
	if i < 0 {
		return zero, false
	}
	m.clock++
	list[i].used = m.clock
	m.hits++
	return list[i].val, true
}

// Put keeps val for key and cand at gen (the caller's current generation), in place of a value
// kept for the same key and set. cand is cloned.
func (m *Memo[G, V]) Put(gen G, key string, cand *roaring64.Bitmap, val V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen {
		m.gen, m.entries, m.n = gen, map[string][]*entry[V]{}, 0
	}
	e := newEntry(cand, val)
	list := m.entries[key]
	if i := find(list, cand, nil); i >= 0 {
		list = append(list[:i], list[i+1:]...)
		m.entries[key] = list
		m.n--
	}
	if m.n >= m.size {
		m.evict()
		list = m.entries[key]
	}
	m.clock++
	e.used = m.clock
	m.entries[key] = append(list, e)
	m.n++
}

// evict drops the least recently used value.
func (m *Memo[G, V]) evict() {
	var oldKey string
	oldI, oldUsed := -1, uint64(0)
	for key, list := range m.entries {
		for i, e := range list {
			if oldI < 0 || e.used < oldUsed {
				oldKey, oldI, oldUsed = key, i, e.used
			}
		}
	}
	if oldI < 0 {
		return
	}
	if list := m.entries[oldKey]; len(list) == 1 {
		delete(m.entries, oldKey)
	} else {
		m.entries[oldKey] = append(list[:oldI], list[oldI+1:]...)
	}
	m.n--
}

// Len is how many values it keeps.
func (m *Memo[G, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// Hits is how many Gets it answered.
func (m *Memo[G, V]) Hits() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits
}

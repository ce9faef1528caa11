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

// Get returns the value kept for key and cand at gen, if fits accepts it (fits nil: any).
// The value is shared: callers copy what they would modify.
func (m *Memo[G, V]) Get(gen G, key string, cand *roaring64.Bitmap, fits func(V) bool) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var zero V
	if m.gen != gen {
		return zero, false
	}
	for _, e := range m.entries[key] {
		if sameSet(e.cand, e.card, cand) && (fits == nil || fits(e.val)) {
			m.clock++
			e.used = m.clock
			m.hits++
			return e.val, true
		}
	}
	return zero, false
}

// Put keeps val for key and cand at gen (the caller's current generation), in place of a value
// kept for the same key and set. cand is cloned.
func (m *Memo[G, V]) Put(gen G, key string, cand *roaring64.Bitmap, val V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen {
		m.gen, m.entries, m.n = gen, map[string][]*entry[V]{}, 0
	}
	e := &entry[V]{val: val}
	if cand != nil {
		e.cand, e.card = cand.Clone(), cand.GetCardinality()
	}
	list := m.entries[key]
	for i, old := range list {
		if sameSet(old.cand, old.card, cand) {
			list = append(list[:i], list[i+1:]...)
			m.entries[key] = list
			m.n--
			break
		}
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

package memo

import (
	"context"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// Scope keeps values for the span of one piece of work, whatever the generation of the data
// they were computed on: a refresh pass reads its position first, and every state of the
// indexes after that reflects at least the position, so a value computed from any of them is
// as good, for the pass, as one computed at a pool's own turn (what changed after the position
// is the next pass's). Under a live stream the indexes move on every poll, so a Memo, which
// answers at one generation only, misses nearly every time; a Scope answers for the pass.
// Values are kept by key and an equal candidate set, first come, up to a bound. It is safe for
// concurrent use.
type Scope struct {
	mu      sync.Mutex
	size, n int
	entries map[string][]*entry[any]
	hits    uint64
}

type scopeKey struct{}

// WithScope returns ctx carrying a new scope of at most size values.
func WithScope(ctx context.Context, size int) context.Context {
	return context.WithValue(ctx, scopeKey{}, &Scope{size: max(size, 1), entries: map[string][]*entry[any]{}})
}

// ScopeFrom returns the scope ctx carries, or nil.
func ScopeFrom(ctx context.Context) *Scope {
	s, _ := ctx.Value(scopeKey{}).(*Scope)
	return s
}

// Get returns the value kept for key and cand, if fits accepts it (fits nil: any). The value
// is shared: callers copy what they would modify.
func (s *Scope) Get(key string, cand *roaring64.Bitmap, fits func(any) bool) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.entries[key]
	i := find(list, cand, fits)
	if i < 0 {
		return nil, false
	}
	s.hits++
	return list[i].val, true
}

// Put keeps val for key and cand (cloned) unless the scope is full or holds one for them.
func (s *Scope) Put(key string, cand *roaring64.Bitmap, val any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= s.size {
		return
	}
	if find(s.entries[key], cand, nil) >= 0 {
		return
	}
	s.entries[key] = append(s.entries[key], newEntry(cand, val))
	s.n++
}

// Set keeps val for key and cand, in place of the value held for them if any (a larger
// answer of the same question), unless the scope is full and holds none for them.
func (s *Scope) Set(key string, cand *roaring64.Bitmap, val any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := find(s.entries[key], cand, nil); i >= 0 {
		s.entries[key][i].val = val
		return
	}
	if s.n >= s.size {
		return
	}
	s.entries[key] = append(s.entries[key], newEntry(cand, val))
	s.n++
}

// Clear drops every value it keeps (what it answered stays with those who asked): a pass that
// ends clears its scope before it collects its garbage, so that the collection does not mark
// (and keep for one more cycle) what only the pass needed. A nil scope has nothing to clear.
func (s *Scope) Clear() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries, s.n = map[string][]*entry[any]{}, 0
}

// Len is how many values it keeps.
func (s *Scope) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Hits is how many Gets it answered.
func (s *Scope) Hits() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

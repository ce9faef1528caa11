package lexical

import (
	"slices"
	"strings"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// A search memo keeps the results of recent costly searches for the index's current contents.
// A refresh pass runs thousands of pools' plans over a few hundred (query, candidate set)
// pairs: pools made from one brief differ in size, ranking and pins, not in what they search,
// and the first stage asks every one of them for the same depth. A result for k hits answers
// any search for at most k (the top k is a prefix of the top K: the order is total, by score
// then ordinal), and so does one that found fewer than it asked for.
//
// An entry holds for the contents it was computed on: every Upsert or Delete moves the index's
// generation on, and the memo then answers nothing until it is refilled.
type searchMemo struct {
	mu      sync.Mutex
	gen     uint64                  // the index generation the entries were computed at
	entries map[string][]*memoEntry // by the query's analysed terms
	n       int
	clock   uint64
	hits    uint64 // searches it answered
	off     bool   // tests and benchmarks: every search runs
}

type memoEntry struct {
	cand *roaring64.Bitmap // nil: every live document
	card uint64
	k    int
	res  Result
	used uint64
}

// memoEntries bounds the memo (each entry holds its candidate set and up to k hits: about
// 150 KB for a market's SKUs of a million at k = 1,000).
const memoEntries = 96

// memoMinPostings: a search walking fewer postings than this is cheaper than the memo's
// candidate comparison and copy, and is not kept.
const memoMinPostings = 20_000

func memoKey(terms []string) string { return strings.Join(terms, "\x00") }

// get returns a kept result for k hits among cand at generation gen, its hits a fresh slice.
func (m *searchMemo) get(gen uint64, key string, cand *roaring64.Bitmap, k int) (Result, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen != gen || m.off {
		return Result{}, false
	}
	var card uint64
	if cand != nil {
		card = cand.GetCardinality()
	}
	for _, e := range m.entries[key] {
		if (e.cand == nil) != (cand == nil) || e.card != card || (e.k < k && len(e.res.Hits) == e.k) {
			continue
		}
		if cand != nil && !e.cand.Equals(cand) {
			continue
		}
		m.clock++
		e.used = m.clock
		m.hits++
		res := e.res
		res.Hits = append([]Hit(nil), e.res.Hits[:min(k, len(e.res.Hits))]...)
		res.Terms = slices.Clone(e.res.Terms)
		return res, true
	}
	return Result{}, false
}

// put keeps res, the result for k hits among cand at generation gen (its hits are not
// shared with the caller's).
func (m *searchMemo) put(gen uint64, key string, cand *roaring64.Bitmap, k int, res Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.off:
		return
	case gen < m.gen:
		return // the index moved on while this search ran
	case gen > m.gen || m.entries == nil:
		m.gen, m.entries, m.n = gen, map[string][]*memoEntry{}, 0
	}
	e := &memoEntry{k: k, res: res}
	e.res.Hits = append([]Hit(nil), res.Hits...)
	if cand != nil {
		e.cand, e.card = cand.Clone(), cand.GetCardinality()
	}
	list := m.entries[key]
	for i, old := range list { // a wider search of the same set replaces a narrower one
		if (old.cand == nil) == (cand == nil) && old.card == e.card && (cand == nil || old.cand.Equals(cand)) {
			list = append(list[:i], list[i+1:]...)
			m.entries[key] = list
			m.n--
			break
		}
	}
	if m.n >= memoEntries {
		m.evict()
		list = m.entries[key]
	}
	m.clock++
	e.used = m.clock
	m.entries[key] = append(list, e)
	m.n++
}

// evict drops the least recently used entry.
func (m *searchMemo) evict() {
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
	list := m.entries[oldKey]
	if len(list) == 1 {
		delete(m.entries, oldKey)
	} else {
		m.entries[oldKey] = append(list[:oldI], list[oldI+1:]...)
	}
	m.n--
}

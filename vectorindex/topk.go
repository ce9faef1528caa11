package vectorindex

import "slices"

// Hit is one search result.
type Hit struct {
	Ordinal int64   `json:"ordinal"`
	SKUID   int64   `json:"sku_id,string"`
	Score   float32 `json:"score"` // cosine similarity, -1..1
}

// Recall is the share of exact's hits (a top-k from exact scoring) that got holds, counting as
// found any hit of got that scores at least the last of exact's less tie (hits tied with it are
// interchangeable: duplicate texts embed alike). It is 1 when exact is empty.
func Recall(exact, got []Hit, tie float32) float64 {
	if len(exact) == 0 {
		return 1
	}
	kth := exact[len(exact)-1].Score
	n := 0
	for _, h := range got {
		if h.Score >= kth-tie {
			n++
		}
	}
	return float64(min(n, len(exact))) / float64(len(exact))
}

// better orders hits: higher score first, then lower ordinal, so that equal scores (duplicate
// texts embed identically) rank the same way on every path.
func better(a, b Hit) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.Ordinal < b.Ordinal
}

// topK keeps the k best hits seen: a min-heap whose root is the worst kept hit, so most
// candidates are rejected with one comparison against min().
type topK struct {
	k int
	h []Hit
}

func newTopK(k int) *topK { return &topK{k: k, h: make([]Hit, 0, k)} }

func (t *topK) full() bool { return len(t.h) == t.k }

func (t *topK) push(x Hit) {
	if len(t.h) < t.k {
		t.h = append(t.h, x)
		i := len(t.h) - 1
		for i > 0 {
			p := (i - 1) / 2
			if !better(t.h[p], t.h[i]) {
				break
			}
			t.h[p], t.h[i] = t.h[i], t.h[p]
			i = p
		}
		return
	}
	if !better(x, t.h[0]) {
		return
	}
	t.h[0] = x
	t.down(0)
}

func (t *topK) down(i int) {
	n := len(t.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && better(t.h[l], t.h[r]) {
			m = r
		}
		if !better(t.h[i], t.h[m]) {
			return
		}
		t.h[i], t.h[m] = t.h[m], t.h[i]
		i = m
	}
}

// sorted returns the kept hits best first (the heap is consumed).
func (t *topK) sorted() []Hit {
	out := make([]Hit, len(t.h))
	for i := len(t.h) - 1; i >= 0; i-- {
		out[i] = t.h[0]
		t.h[0] = t.h[len(t.h)-1]
		t.h = t.h[:len(t.h)-1]
		t.down(0)
	}
	return out
}

// selector keeps the r candidates with the smallest Hamming distances without a heap:
// distances are small integers, so it keeps every candidate at or below a threshold and a
// histogram of the kept distances; when it holds 2r it lowers the threshold to the smallest
// distance that still keeps r and compacts. Each candidate costs one compare and, if kept, an
// append: O(1) amortised, against O(log r) for a heap (which cost more than the Hamming kernel
// itself at r = 16,000 on 1M codes).
type selector struct {
	r    int
	lim  uint64   // keep distances < lim
	keep []uint64 // dist<<48 | ordinal
	hist []int    // kept count by distance
}

func newSelector(r, maxDist int) *selector {
	return &selector{r: r, lim: uint64(maxDist) + 1, keep: make([]uint64, 0, 2*r+64), hist: make([]int, maxDist+1)}
}

func (s *selector) push(dist, o uint64) {
	s.keep = append(s.keep, dist<<48|o)
	s.hist[dist]++
	if len(s.keep) >= 2*s.r {
		s.tighten()
	}
}

// tighten lowers the limit to just above the smallest distance t whose cumulative count
// reaches r and drops the kept candidates above t. When ties at t alone would keep more than
// r + r/2, only as many of them as r needs stay and t itself is closed to later candidates, so
// a flood of equal distances (duplicate vectors) cannot make every push compact.
func (s *selector) tighten() {
	cum, t := 0, -1
	for d, n := range s.hist {
		if cum+n >= s.r {
			t = d
			break
		}
		cum += n
	}
	if t < 0 {
		return
	}
	ties := s.r - cum // ties at t that are needed
	capTies := cum+s.hist[t] > s.r+s.r/2
	out := s.keep[:0]
	for _, k := range s.keep {
		d := int(k >> 48)
		if d < t {
			out = append(out, k)
		} else if d == t && (!capTies || ties > 0) {
			out = append(out, k)
			ties--
		}
	}
	s.keep = out
	s.lim = uint64(t) + 1
	if capTies {
		s.lim = uint64(t)
		s.hist[t] = s.r - cum
	}
	for d := t + 1; d < len(s.hist); d++ {
		s.hist[d] = 0
	}
}

const ordMask = 1<<48 - 1

// smallestKeys returns the r smallest of keys (dist<<48 | ordinal, maxDist at most; unique),
// in no particular order, reusing keys: the set a sort and keys[:r] would keep, found with a
// histogram of the distances and a sort of the ties at the cut only (sorting every key cost
// more than the Hamming pass at 20,000 keys).
func smallestKeys(keys []uint64, r, maxDist int) []uint64 {
	if len(keys) <= r {
		return keys
	}
	hist := make([]int, maxDist+1)
	for _, k := range keys {
		hist[k>>48]++
	}
	cum, t := 0, 0
	for d, n := range hist {
		if cum+n >= r {
			t = d
			break
		}
		cum += n
	}
	out, ties := keys[:0], make([]uint64, 0, hist[t])
	for _, k := range keys {
		switch d := int(k >> 48); {
		case d < t:
			out = append(out, k)
		case d == t:
			ties = append(ties, k)
		}
	}
	slices.Sort(ties)
	return append(out, ties[:r-cum]...)
}

package vectorindex

// Hit is one search result.
type Hit struct {
	Ordinal int64   `json:"ordinal"`
	SKUID   int64   `json:"sku_id,string"`
	Score   float32 `json:"score"` // cosine similarity, -1..1
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

// worst is the score a candidate must beat once the heap is full.
func (t *topK) worst() Hit { return t.h[0] }

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

// nearR keeps the r codes with the smallest Hamming distance: a max-heap on (distance,
// ordinal) packed into one uint64 so the comparison is a single integer compare.
type nearR struct {
	r int
	h []uint64 // dist<<48 | ordinal (ordinals < 2^48)
}

func newNearR(r int) *nearR { return &nearR{r: r, h: make([]uint64, 0, r)} }

// bound is the packed key a candidate must be below to enter (max uint64 while not full).
func (n *nearR) bound() uint64 {
	if len(n.h) < n.r {
		return ^uint64(0)
	}
	return n.h[0]
}

func (n *nearR) push(key uint64) {
	if len(n.h) < n.r {
		n.h = append(n.h, key)
		i := len(n.h) - 1
		for i > 0 {
			p := (i - 1) / 2
			if n.h[p] >= n.h[i] {
				break
			}
			n.h[p], n.h[i] = n.h[i], n.h[p]
			i = p
		}
		return
	}
	if key >= n.h[0] {
		return
	}
	n.h[0] = key
	i, l := 0, len(n.h)
	for {
		c := 2*i + 1
		if c >= l {
			return
		}
		if c+1 < l && n.h[c+1] > n.h[c] {
			c++
		}
		if n.h[i] >= n.h[c] {
			return
		}
		n.h[i], n.h[c] = n.h[c], n.h[i]
		i = c
	}
}

const ordMask = 1<<48 - 1

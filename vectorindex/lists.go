package vectorindex

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// The lists path: a coarse partition of the vectors (an inverted-file index). Spherical k-means
// over a sample of the vectors gives the centroids; every vector belongs to the list of its
// nearest centroid. A search for a few neighbours scores the centroids, gathers the members of
// the nearest lists (within the filter) until it holds ListProbe candidates, estimates them from
// their sign codes (the quantised path's asymmetric estimate) and rescores the best ListRerank
// in float32. It reads a few thousand codes instead of every one: a tagger's neighbour vote at
// 1M vectors takes about 1 ms instead of 13 (doc.go).

// lists is the partition. The centroids stay as built; a vector put later joins the list of
// its nearest one, a removed vector leaves its list.
type lists struct {
	dim, words int
	cents      []float32 // centroid c at [c*dim, (c+1)*dim), normalised
	codes      []uint64  // the centroids' sign codes around the index mean, block-transposed (8 per block)
	members    []list
	of         []int32  // the list of ordinal o, -1 for none
	at         []int32  // the place of ordinal o in its list
	dist       []uint64 // place's scratch for nearest (place runs under the index's write lock)
}

// list is one list's members and a copy of their sign codes side by side (row-major, words
// per code) with their correction factors, so that the estimate of every member reads memory
// in order instead of a cache line per member at random (68 bytes a vector: 65 MiB at 1M).
type list struct {
	ords  []int64
	codes []uint64
	corr  []float32 // the codes' correction factors (chunk.corr)
}

// listsFor is how many lists n vectors get: about 1,024 vectors a list, 16 to 4,096 lists.
func listsFor(n int) int { return min(max(n/1024, 16), 4096) }

// listsPrefilter is how many centroids, nearest by the Hamming distance of the sign codes, are
// scored in float32 to place a vector (measured: the nearest centroid is among them for all
// but a few vectors in 10,000, and a misplaced vector sits in its second-nearest list).
const listsPrefilter = 16

// lists training: a sample of listsSample vectors per list (at most the vectors held), and
// listsRounds rounds of assignment and update.
const (
	listsSample = 48
	listsRounds = 8
)

// BuildLists partitions the vectors held into lists (see lists.go) so that searches of at
// least ListsFrom candidates for at most ListMaxK neighbours take the lists path. Load does
// this when it loads at least ListsFrom vectors; call it after filling an index with Put (and
// Recenter). It holds the index for writing while it works (about 2 s at 1M vectors on 2
// cores).
func (ix *Index) BuildLists(ctx context.Context) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.gen.Add(1)
	l, err := ix.buildLists(ctx, ix.chunks, ix.maxOrd, ix.mean)
	if err != nil {
		return err
	}
	ix.lists = l
	return nil
}

// HasLists reports whether the index holds a partition for the lists path.
func (ix *Index) HasLists() bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.lists != nil
}

// buildLists trains the centroids on a sample of the vectors in chunks and places every vector.
func (ix *Index) buildLists(ctx context.Context, chunks []*chunk, maxOrd int64, mean []float32) (*lists, error) {
	d := ix.cfg.Dim
	var ords []int64
	for key, c := range chunks {
		if c == nil {
			continue
		}
		for r := 0; r < c.rows; r++ {
			if c.present[r>>6]&(1<<(r&63)) != 0 {
				ords = append(ords, int64(key)<<chunkBits|int64(r))
			}
		}
	}
	if len(ords) == 0 {
		return nil, fmt.Errorf("vectorindex: no vectors to partition")
	}
	vec := func(o int64) []float32 {
		c := chunks[o>>chunkBits]
		r := int(o & chunkMask)
		return c.vecs[r*d : (r+1)*d]
	}
	code := func(o int64) []uint64 { // its sign code around mean (encoded before this)
		c := chunks[o>>chunkBits]
		return ix.codeRow(c, int(o&chunkMask))
	}
	nl := min(listsFor(len(ords)), len(ords))
	rng := rand.New(rand.NewPCG(uint64(len(ords)), 7)) // the same partition for the same vectors
	sample := ords
	if s := nl * listsSample; s < len(ords) {
		sample = make([]int64, 0, s)
		for _, i := range rng.Perm(len(ords))[:s] {
			sample = append(sample, ords[i])
		}
		slices.Sort(sample) // memory order
	}
	l := &lists{dim: d, words: ix.words, cents: make([]float32, nl*d), of: make([]int32, maxOrd+1)}
	for i, j := range rng.Perm(len(sample))[:nl] {
		copy(l.cents[i*d:(i+1)*d], vec(sample[j]))
	}
	l.encode(ix, mean)
	of := make([]int32, len(sample))
	sum := make([]float64, nl*d)
	count := make([]int, nl)
	for round := 0; round < listsRounds; round++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("vectorindex: build lists: %w", err)
		}
		ix.eachPart(len(sample), func(lo, hi int) {
			dist := l.scratch(ix)
			for i := lo; i < hi; i++ {
				of[i] = int32(l.nearest(ix, vec(sample[i]), code(sample[i]), dist))
			}
		})
		clear(sum)
		clear(count)
		for i, o := range sample {
			c := int(of[i])
			count[c]++
			for j, x := range vec(o) {
				sum[c*d+j] += float64(x)
			}
		}
		for c := 0; c < nl; c++ {
			cent := l.cents[c*d : (c+1)*d]
			if count[c] == 0 { // an empty list starts again from a random sample vector
				copy(cent, vec(sample[rng.IntN(len(sample))]))
				continue
			}
			var s float64
			for _, x := range sum[c*d : (c+1)*d] {
				s += x * x
			}
			if s == 0 {
				continue
			}
			inv := 1 / math.Sqrt(s)
			for j := range cent {
				cent[j] = float32(sum[c*d+j] * inv)
			}
		}
		l.encode(ix, mean)
	}
	// Place every vector.
	for i := range l.of {
		l.of[i] = -1
	}
	ix.eachPart(len(ords), func(lo, hi int) {
		dist := l.scratch(ix)
		for _, o := range ords[lo:hi] {
			l.of[o] = int32(l.nearest(ix, vec(o), code(o), dist))
		}
	})
	l.members = make([]list, nl)
	l.at = make([]int32, len(l.of))
	for _, o := range ords {
		c := chunks[o>>chunkBits]
		r := int(o & chunkMask)
		m := &l.members[l.of[o]]
		l.at[o] = int32(len(m.ords))
		m.ords = append(m.ords, o)
		m.codes = append(m.codes, ix.codeRow(c, r)...)
		m.corr = append(m.corr, c.corr[r])
	}
	l.dist = l.scratch(ix)
	return l, ctx.Err()
}

// eachPart runs fn over [0, n) split into one part per worker.
func (ix *Index) eachPart(n int, fn func(lo, hi int)) {
	parts := min(ix.cfg.Workers, max(n/1024, 1))
	var wg sync.WaitGroup
	for p := 1; p < parts; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(p*n/parts, (p+1)*n/parts)
		}()
	}
	fn(0, n/parts)
	wg.Wait()
}

// codeRow is the sign code of row r of c (row-major).
func (ix *Index) codeRow(c *chunk, r int) []uint64 { return c.rcodes[r*ix.words : (r+1)*ix.words] }

// codeOf writes the sign code of v around mean into code (as encode does for a row).
func (ix *Index) codeOf(code []uint64, v, mean []float32) {
	clear(code)
	for i, x := range v {
		if x > mean[i] {
			code[i/64] |= 1 << uint(i%64)
		}
	}
}

// encode computes the centroids' block-transposed sign codes around mean (the index's codes'
// centre, so that Hamming distances between a vector's code and a centroid's mean something).
func (l *lists) encode(ix *Index, mean []float32) {
	nl := len(l.cents) / l.dim
	blocks := (nl + 7) / 8
	l.codes = make([]uint64, blocks*ix.words*8)
	code := make([]uint64, ix.words)
	for c := 0; c < nl; c++ {
		ix.codeOf(code, l.cents[c*l.dim:(c+1)*l.dim], mean)
		blk := l.codes[(c>>3)*ix.words*8:]
		for w, word := range code {
			blk[w*8+c&7] = word
		}
	}
}

// nearest is the list whose centroid is nearest v (code: v's sign code): of the
// listsPrefilter centroids nearest by Hamming distance, the one with the highest cosine. dist
// is scratch of len(l.codes)/ix.words.
func (l *lists) nearest(ix *Index, v []float32, code []uint64, dist []uint64) int {
	nl := len(l.cents) / l.dim
	ix.kern.hamming(code, l.codes, ix.words, dist)
	// The listsPrefilter smallest (distance, centroid) keys, kept sorted by insertion.
	var near [listsPrefilter]uint64
	n := 0
	for c, d := range dist[:nl] {
		key := d<<48 | uint64(c)
		if n == listsPrefilter {
			if key >= near[n-1] {
				continue
			}
			n--
		}
		i := n
		for i > 0 && near[i-1] > key {
			near[i] = near[i-1]
			i--
		}
		near[i] = key
		n++
	}
	best, bs := 0, float32(math.Inf(-1))
	for _, k := range near[:n] {
		c := int(k & ordMask)
		if s := ix.kern.dot(v, l.cents[c*l.dim:(c+1)*l.dim]); s > bs || (s == bs && c < best) {
			best, bs = c, s
		}
	}
	return best
}

// scratch is a buffer for nearest.
func (l *lists) scratch(ix *Index) []uint64 { return make([]uint64, len(l.codes)/ix.words) }

// place puts ordinal o (normalised vector v, sign code code, correction factor corr) in its
// nearest list, leaving the one it was in, or updates its code there (callers hold mu for
// writing).
func (l *lists) place(ix *Index, o int64, v []float32, code []uint64, corr float32) {
	if o >= int64(len(l.of)) {
		n := max(o+1, int64(len(l.of))*5/4)
		of, at := make([]int32, n), make([]int32, n)
		copy(of, l.of)
		copy(at, l.at)
		for i := len(l.of); i < len(of); i++ {
			of[i] = -1
		}
		l.of, l.at = of, at
	}
	c := int32(l.nearest(ix, v, code, l.dist))
	if l.of[o] == c {
		i := int(l.at[o])
		copy(l.members[c].codes[i*l.words:(i+1)*l.words], code)
		l.members[c].corr[i] = corr
		return
	}
	l.drop(o)
	m := &l.members[c]
	l.of[o], l.at[o] = c, int32(len(m.ords))
	m.ords = append(m.ords, o)
	m.codes = append(m.codes, code...)
	m.corr = append(m.corr, corr)
}

// drop takes ordinal o out of its list: the list's last member takes its place (callers hold
// mu for writing).
func (l *lists) drop(o int64) {
	if o < 0 || o >= int64(len(l.of)) || l.of[o] < 0 {
		return
	}
	m := &l.members[l.of[o]]
	i, last := int(l.at[o]), len(m.ords)-1
	if i != last {
		moved := m.ords[last]
		m.ords[i] = moved
		copy(m.codes[i*l.words:(i+1)*l.words], m.codes[last*l.words:(last+1)*l.words])
		m.corr[i] = m.corr[last]
		l.at[moved] = int32(i)
	}
	m.ords = m.ords[:last]
	m.codes = m.codes[:last*l.words]
	m.corr = m.corr[:last]
	l.of[o] = -1
}

// recode copies every member's code from the index again (after Recenter re-encoded them).
func (l *lists) recode(ix *Index) {
	for ci := range l.members {
		m := &l.members[ci]
		for i, o := range m.ords {
			c := ix.chunks[o>>chunkBits]
			r := int(o & chunkMask)
			copy(m.codes[i*l.words:(i+1)*l.words], ix.codeRow(c, r))
			m.corr[i] = c.corr[r]
		}
	}
}

// gather estimates (the asymmetric estimate, asym.estimate) the members of the lists nearest
// qn (within filter, nil: all), nearest list first, until it has estimated at least want, and
// keeps the best r.
func (l *lists) gather(ix *Index, qn []float32, filter *roaring64.Bitmap, want, r int) []Hit {
	nl := len(l.cents) / l.dim
	type cs struct {
		c int
		s float32
	}
	order := make([]cs, nl)
	for c := range order {
		order[c] = cs{c, ix.kern.dot(qn, l.cents[c*l.dim:(c+1)*l.dim])}
	}
	slices.SortFunc(order, func(a, b cs) int {
		if a.s != b.s {
			return cmp.Compare(b.s, a.s)
		}
		return cmp.Compare(a.c, b.c)
	})
	aq := ix.asymQuery(qn)
	nw := l.words
	best := newTopK(r)
	seen := 0
	for _, x := range order {
		m := &l.members[x.c]
		for i, o := range m.ords {
			if filter != nil && !filter.Contains(uint64(o)) {
				continue
			}
			best.push(Hit{Ordinal: o, Score: aq.estimate(m.codes[i*nw:(i+1)*nw], m.corr[i])})
			seen++
		}
		if seen >= want {
			break
		}
	}
	return best.h
}

// searchLists is the lists path: the ListProbe candidates of the nearest lists are estimated
// from their codes, the best ListRerank of them (at least 4k) scored in float32 (callers hold
// mu for reading).
func (ix *Index) searchLists(qn []float32, k int, filter *roaring64.Bitmap) []Hit {
	ests := ix.lists.gather(ix, qn, filter, ix.cfg.ListProbe, max(ix.cfg.ListRerank, 4*k))
	return ix.rescoreStage(qn, k, ests, []span{{0, 1}})
}

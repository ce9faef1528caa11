package filter

import (
	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// Builder makes an Index from many rows at once, bitmap by bitmap rather than bit by bit: rows
// are collected as dictionary codes and values per ordinal, and every bitmap and BSI plane is
// then made from a sorted list of ordinals. For 1M SKUs this is ~20x faster than Upsert.
type Builder struct {
	ids   []int64
	live  []bool
	codes [numCat][]uint32
	vals  [numNum][]int64
	cats  [numCat]*catColumn
	max   int64
}

// NewBuilder returns a builder expecting about n rows.
func NewBuilder(n int) *Builder {
	b := &Builder{max: -1}
	b.ids = make([]int64, 0, n)
	b.live = make([]bool, 0, n)
	for i := range b.cats {
		b.cats[i] = newCatColumn()
		b.codes[i] = make([]uint32, 0, n)
	}
	for i := range b.vals {
		b.vals[i] = make([]int64, 0, n)
	}
	return b
}

// Add records a row; rows may come in any order, a later row for an ordinal wins.
func (b *Builder) Add(r Row) {
	if r.Ordinal < 0 {
		return
	}
	if r.Ordinal > b.max {
		n := r.Ordinal + 1
		b.ids = growTo(b.ids, n)
		b.live = growTo(b.live, n)
		for i := range b.codes {
			b.codes[i] = growTo(b.codes[i], n)
		}
		for i := range b.vals {
			b.vals[i] = growTo(b.vals[i], n)
		}
		b.max = r.Ordinal
	}
	o := r.Ordinal
	b.ids[o] = r.ID
	b.live[o] = r.Live
	for f, c := range b.cats {
		b.codes[f][o] = c.code(r.Cat[f])
	}
	for f := range b.vals {
		b.vals[f][o] = r.Num[f]
	}
}

// Index builds the index. The builder must not be used afterwards.
func (b *Builder) Index() *Index {
	ix := NewIndex()
	n := int(b.max + 1)
	ix.ids = b.ids[:n]
	ix.ords = make(map[int64]int64, n)
	liveOrds := make([]uint64, 0, n)
	for o := 0; o < n; o++ {
		if b.ids[o] != 0 {
			ix.ords[b.ids[o]] = int64(o)
		}
		if b.live[o] {
			liveOrds = append(liveOrds, uint64(o))
		}
	}
	ix.live = bitmapOfSorted(liveOrds)
	for f, c := range b.cats {
		codes := b.codes[f][:n]
		lists := make([][]uint64, len(c.values))
		for _, o := range liveOrds {
			code := codes[o]
			lists[code] = append(lists[code], o)
		}
		for o := range codes {
			if !b.live[o] {
				codes[o] = 0
			}
		}
		c.codes = codes
		c.bms = make([]*roaring64.Bitmap, len(c.values))
		for code, l := range lists {
			c.bms[code] = bitmapOfSorted(l)
		}
		ix.cats[f] = c
	}
	for f := range b.vals {
		vals := make([]int64, len(liveOrds))
		for i, o := range liveOrds {
			vals[i] = b.vals[f][o]
		}
		b.vals[f] = nil
		c := newNumColumn()
		c.bsi = buildBSI(liveOrds, vals)
		ix.nums[f] = c
	}
	return ix
}

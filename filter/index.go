package filter

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// ErrUnknownTag is returned (wrapped) when an expression names a tag the index does not hold.
var ErrUnknownTag = errors.New("unknown tag")

// Index is the in-memory bitmap index over SKU ordinals: a roaring64 bitmap per tag and per
// categorical value, a roaring64.BSI column per numeric field (with range buckets that make
// range queries cheaper than the BSI's own comparison), the live universe, and the mapping
// between ordinals and SKU ids. Many readers, one writer: reads take a read lock for the
// duration of one evaluation, and every bitmap an evaluation returns is the caller's own.
type Index struct {
	mu   sync.RWMutex
	ids  []int64         // ordinal -> SKU id (0: ordinal unknown to the index)
	ords map[int64]int64 // SKU id -> ordinal
	live *roaring64.Bitmap
	cats [numCat]*catColumn
	nums [numNum]*numColumn
	tags map[string]*tagState // by lower-case name
	// version counts writes; persisted snapshots and tests use it.
	version uint64
	j       journal // the rows Upsert replaced, when kept (journal.go)
	// memo keeps whole-catalogue answers, which touched brings up to date (evalmemo.go).
	memo    evalMemo
	touched touchLog
}

type catColumn struct {
	dict   map[string]uint32 // normalised value -> code
	values []string          // code -> value as first seen
	bms    []*roaring64.Bitmap
	codes  []uint32 // ordinal -> code (0 is the empty value)
}

type tagState struct {
	info    TagInfo
	members *roaring64.Bitmap
	conf    *roaring64.BSI // confidence x1000 per member; nil when every member is certain
}

// TagInfo identifies a tag held by the index. Kind is the tag's kind as the tags table names it
// (package tagger defines the kinds; the index only carries the name).
type TagInfo struct {
	ID   int64
	Name string
	Kind string
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	ix := &Index{ords: map[int64]int64{}, live: roaring64.New(), tags: map[string]*tagState{}}
	for i := range ix.cats {
		ix.cats[i] = newCatColumn()
	}
	for i := range ix.nums {
		ix.nums[i] = newNumColumn()
	}
	return ix
}

func newCatColumn() *catColumn {
	return &catColumn{dict: map[string]uint32{"": 0}, values: []string{""}, bms: []*roaring64.Bitmap{roaring64.New()}}
}

func (c *catColumn) code(v string) uint32 {
	k := normValue(v)
	if code, ok := c.dict[k]; ok {
		return code
	}
	code := uint32(len(c.values))
	c.dict[k] = code
	c.values = append(c.values, strings.TrimSpace(v))
	c.bms = append(c.bms, roaring64.New())
	return code
}

// Len is one more than the highest ordinal the index knows.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.ids)
}

// LiveCount is the number of live SKUs.
func (ix *Index) LiveCount() uint64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.live.GetCardinality()
}

// Version counts the writes applied to the index.
func (ix *Index) Version() uint64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.version
}

// SKUID maps an ordinal to its SKU id.
func (ix *Index) SKUID(ordinal int64) (int64, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ordinal < 0 || ordinal >= int64(len(ix.ids)) || ix.ids[ordinal] == 0 {
		return 0, false
	}
	return ix.ids[ordinal], true
}

// IDsOf is SKUID of each ordinal under one lock (0 for an ordinal the index does not hold).
func (ix *Index) IDsOf(ordinals []int64) []int64 {
	out := make([]int64, len(ordinals))
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for i, o := range ordinals {
		if o >= 0 && o < int64(len(ix.ids)) {
			out[i] = ix.ids[o]
		}
	}
	return out
}

// Ordinal maps a SKU id to its ordinal.
func (ix *Index) Ordinal(id int64) (int64, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	o, ok := ix.ords[id]
	return o, ok
}

// SKUIDs maps the ordinals of bm (in ordinal order) to SKU ids, at most limit of them
// (limit <= 0: all).
func (ix *Index) SKUIDs(bm *roaring64.Bitmap, limit int) []int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.skuIDs(bm, limit)
}

func (ix *Index) skuIDs(bm *roaring64.Bitmap, limit int) []int64 {
	n := bm.GetCardinality()
	if limit > 0 && uint64(limit) < n {
		n = uint64(limit)
	}
	out := make([]int64, 0, n)
	it := bm.ManyIterator()
	buf := make([]uint64, 256)
	for uint64(len(out)) < n {
		k := it.NextMany(buf)
		if k == 0 {
			break
		}
		for _, o := range buf[:k] {
			if o < uint64(len(ix.ids)) {
				out = append(out, ix.ids[o])
			}
			if uint64(len(out)) == n {
				break
			}
		}
	}
	return out
}

// Live returns a copy of the live universe.
func (ix *Index) Live() *roaring64.Bitmap {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.live.Clone()
}

// Upsert writes rows into the index: each row's ordinal gets the row's id, its categorical bits
// and numeric values; a row that is not live is removed from every bitmap and column (it keeps
// its ordinal and id). Tag memberships are left to the caller (see SetTag, SetTagBits).
func (ix *Index) Upsert(rows []Row) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.journalLocked(rows)
	for i := range rows {
		ix.upsertLocked(&rows[i])
	}
	ix.version++
	if len(rows) > journalMaxBatch { // a load: cheaper to evaluate afresh than to log
		ix.touched.resetLocked(ix.version)
		return
	}
	for i := range rows {
		if rows[i].Ordinal >= 0 {
			ix.touched.addLocked(ix.version, uint64(rows[i].Ordinal))
		}
	}
	ix.trimTouchedLocked()
}

func (ix *Index) grow(ord int64) {
	if ord < int64(len(ix.ids)) {
		return
	}
	n := ord + 1
	ix.ids = growTo(ix.ids, n)
	for _, c := range ix.cats {
		c.codes = growTo(c.codes, n)
	}
}

func growTo[T any](s []T, n int64) []T {
	if int64(cap(s)) >= n {
		return s[:n]
	}
	c := int64(cap(s)) * 2
	if c < n {
		c = n
	}
	out := make([]T, n, c)
	copy(out, s)
	return out
}

func (ix *Index) upsertLocked(r *Row) {
	if r.Ordinal < 0 {
		return
	}
	ix.grow(r.Ordinal)
	o := uint64(r.Ordinal)
	if old := ix.ids[r.Ordinal]; old != 0 && old != r.ID {
		delete(ix.ords, old)
	}
	ix.ids[r.Ordinal] = r.ID
	ix.ords[r.ID] = r.Ordinal
	if !r.Live {
		ix.removeLocked(o)
		return
	}
	ix.live.Add(o)
	for f, c := range ix.cats {
		code := c.code(r.Cat[f])
		old := c.codes[o]
		if old != code || !c.bms[code].Contains(o) {
			c.bms[old].Remove(o)
			c.codes[o] = code
			c.bms[code].Add(o)
		}
	}
	for f, c := range ix.nums {
		c.set(o, r.Num[f])
	}
}

// removeLocked takes an ordinal out of every bitmap (a deleted SKU).
func (ix *Index) removeLocked(o uint64) {
	ix.live.Remove(o)
	for _, c := range ix.cats {
		c.bms[c.codes[o]].Remove(o)
		c.codes[o] = 0
	}
	for _, c := range ix.nums {
		c.clear(o)
	}
	for _, t := range ix.tags {
		if t.members.CheckedRemove(o) && t.conf != nil {
			t.conf.ClearValues(roaring64.BitmapOf(o))
		}
	}
}

// IsLive reports whether the ordinal is a live SKU's (Row's Live, without reading its values).
func (ix *Index) IsLive(ordinal int64) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ordinal >= 0 && ix.live.Contains(uint64(ordinal))
}

// Row returns what the index holds for an ordinal.
func (ix *Index) Row(ordinal int64) (Row, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.rowLocked(ordinal)
}

func (ix *Index) rowLocked(ordinal int64) (Row, bool) {
	if ordinal < 0 || ordinal >= int64(len(ix.ids)) || ix.ids[ordinal] == 0 {
		return Row{}, false
	}
	o := uint64(ordinal)
	r := Row{Ordinal: ordinal, ID: ix.ids[ordinal], Live: ix.live.Contains(o)}
	for f, c := range ix.cats {
		r.Cat[f] = c.values[c.codes[o]]
	}
	for f, c := range ix.nums {
		// The dense values, when a range or TopK has built them, are the BSI's (0 where it
		// has none) a slice index away, instead of a walk over the bit planes.
		if a := c.acc.Load(); a != nil {
			if o < uint64(len(a.vals)) {
				r.Num[f] = a.vals[o]
			}
			continue
		}
		r.Num[f], _ = c.bsi.GetValue(o)
	}
	return r, true
}

// Values lists a categorical field's values with their live counts, most common first.
func (ix *Index) Values(field string) ([]ValueCount, error) {
	kind, f, err := lookupField(field)
	if err != nil {
		return nil, err
	}
	if kind != Categorical {
		return nil, fmt.Errorf("%s is numeric", field)
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	c := ix.cats[f]
	out := make([]ValueCount, 0, len(c.values))
	for code, v := range c.values {
		if n := c.bms[code].GetCardinality(); n > 0 {
			out = append(out, ValueCount{v, n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Value < out[j].Value
	})
	return out, nil
}

// ValueCount is a categorical value and how many live SKUs have it.
type ValueCount struct {
	Value string
	Count uint64
}

// Replace replaces the index's contents with o's (o must not be used afterwards), so that the
// index stays the same object across reloads.
func (ix *Index) Replace(o *Index) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.ids, ix.ords, ix.live, ix.cats, ix.nums, ix.tags = o.ids, o.ords, o.live, o.cats, o.nums, o.tags
	ix.version++
	ix.touched.resetLocked(ix.version)
	ix.j.forget() // a new epoch: every earlier state is gone from the journal
}

// TypeOf returns a SKU's product type ("" when it has none or is not live).
func (ix *Index) TypeOf(ordinal int64) string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	c := ix.cats[CatProductType]
	if ordinal < 0 || ordinal >= int64(len(c.codes)) {
		return ""
	}
	return c.values[c.codes[ordinal]]
}

// ---- tags ----

// EnsureTag makes sure the index holds a tag (with no members when it is new).
func (ix *Index) EnsureTag(info TagInfo) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, ok := ix.tags[strings.ToLower(info.Name)]; !ok {
		ix.tags[strings.ToLower(info.Name)] = &tagState{info: info, members: roaring64.New()}
	}
}

// SetTag replaces a tag's members. conf, when not nil, gives each member's confidence in
// [0, 1] (missing members count as 1).
func (ix *Index) SetTag(info TagInfo, members *roaring64.Bitmap, conf map[uint64]float64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	m := members.Clone()
	m.And(ix.live)
	m.RunOptimize()
	t := &tagState{info: info, members: m}
	if conf != nil {
		t.conf = buildConf(m, conf)
	}
	ix.tags[strings.ToLower(info.Name)] = t
	ix.version++
	ix.touched.resetLocked(ix.version)
}

func buildConf(members *roaring64.Bitmap, conf map[uint64]float64) *roaring64.BSI {
	vals := make([]int64, 0, members.GetCardinality())
	ords := members.ToArray()
	for _, o := range ords {
		c, ok := conf[o]
		if !ok {
			c = 1
		}
		vals = append(vals, confToInt(c))
	}
	return buildBSI(ords, vals)
}

func confToInt(c float64) int64 {
	if math.IsNaN(c) || c < 0 {
		c = 0
	}
	if c > 1 {
		c = 1
	}
	return int64(math.Round(c * 1000))
}

// SetTagBits adds and removes single members of a tag (incremental re-tagging). conf gives
// the confidence of added members (nil: certain).
func (ix *Index) SetTagBits(name string, add, remove []uint64, conf []float64) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	t, ok := ix.tags[strings.ToLower(name)]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownTag, name)
	}
	for _, o := range remove {
		t.members.Remove(o)
	}
	if t.conf != nil && len(remove) > 0 {
		t.conf.ClearValues(roaring64.BitmapOf(remove...))
	}
	for i, o := range add {
		if !ix.live.Contains(o) {
			continue
		}
		t.members.Add(o)
		if conf != nil {
			if t.conf == nil {
				t.conf = buildConf(t.members, nil)
			}
			t.conf.SetValue(o, confToInt(conf[i]))
		} else if t.conf != nil {
			t.conf.SetValue(o, 1000)
		}
	}
	ix.version++
	ix.touched.addLocked(ix.version, add...)
	ix.touched.addLocked(ix.version, remove...)
	ix.trimTouchedLocked()
	return nil
}

// DropTag forgets a tag.
func (ix *Index) DropTag(name string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	delete(ix.tags, strings.ToLower(name))
	ix.version++
	ix.touched.resetLocked(ix.version)
}

// HasTag reports whether the index holds a tag (names are matched in any case).
func (ix *Index) HasTag(name string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	_, ok := ix.tags[strings.ToLower(name)]
	return ok
}

// Tags lists the tags the index holds, with their member counts, by name.
func (ix *Index) Tags() []TagCount {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]TagCount, 0, len(ix.tags))
	for _, t := range ix.tags {
		out = append(out, TagCount{t.info, t.members.GetCardinality()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TagCount is a tag and its number of members.
type TagCount struct {
	TagInfo
	Members uint64
}

// Confidence returns a member's confidence in a tag (1 for members of tags without
// confidences, 0 for non-members).
func (ix *Index) Confidence(name string, ordinal int64) (float64, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	t, ok := ix.tags[strings.ToLower(name)]
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrUnknownTag, name)
	}
	if ordinal < 0 || !t.members.Contains(uint64(ordinal)) {
		return 0, nil
	}
	if t.conf == nil {
		return 1, nil
	}
	v, ok := t.conf.GetValue(uint64(ordinal))
	if !ok {
		return 1, nil
	}
	return float64(v) / 1000, nil
}

package filter

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"
)

// testRows makes n rows with a few brands, markets and prices, some deleted.
func testRows(rng *rand.Rand, n int) []Row {
	brands := []string{"Logitech", "logitech", "Razer", "HP", "Canon", ""}
	markets := []string{"SG", "MY", "TH", "ALL"}
	rows := make([]Row, n)
	for i := range rows {
		r := Row{Ordinal: int64(i), ID: int64(rng.Uint64() >> 1), Live: rng.IntN(10) != 0}
		r.Cat[CatBrand] = brands[rng.IntN(len(brands))]
		r.Cat[CatMarket] = markets[rng.IntN(len(markets))]
		r.Cat[CatProductType] = fmt.Sprintf("type%d", rng.IntN(5))
		stock := int64(rng.IntN(5)) - 1
		r.Cat[CatInStock] = fmt.Sprint(stock > 0)
		r.Num[NumPrice] = int64(rng.ExpFloat64() * 5000)
		r.Num[NumStock] = stock
		r.Num[NumRating] = int64(rng.IntN(501))
		rows[i] = r
	}
	return rows
}

// matchRow is the reference semantics of an expression on one row.
func matchRow(e Expr, r *Row, tags map[string]map[int64]bool) bool {
	if !r.Live {
		return false
	}
	switch e.Op {
	case OpAll:
		return true
	case OpAnd:
		for _, a := range e.Args {
			if !matchRow(a, r, tags) {
				return false
			}
		}
		return true
	case OpOr:
		for _, a := range e.Args {
			if matchRow(a, r, tags) {
				return true
			}
		}
		return false
	case OpNot:
		return !matchRow(e.Args[0], r, tags)
	case OpTag:
		return tags[strings.ToLower(e.Name)][r.Ordinal]
	case OpAttr:
		kind, f, _ := lookupField(e.Field)
		for _, v := range e.Values {
			if kind == Numeric {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil && n == r.Num[f] {
					return true
				}
				continue
			}
			if normValue(v) == normValue(r.Cat[f]) {
				return true
			}
		}
		return false
	case OpRange:
		_, f, _ := lookupField(e.Field)
		v := r.Num[f]
		return v >= e.Lo && v <= e.Hi
	}
	panic(e.Op)
}

func randExpr(rng *rand.Rand, depth int) Expr {
	if depth <= 0 || rng.IntN(3) == 0 {
		switch rng.IntN(6) {
		case 0:
			return Tag([]string{"hot", "Cold"}[rng.IntN(2)])
		case 1:
			return Attr("brand", []string{"LOGITECH", "razer", "hp", "nope"}[rng.IntN(4)])
		case 2:
			return Attr("market", "SG", "TH")
		case 3:
			lo := int64(rng.IntN(8000))
			return Range("price", lo, lo+int64(rng.IntN(6000)))
		case 4:
			return []Expr{Above("stock", 0), AtMost("stock", 0), Below("rating", 250), AtLeast("price", 100)}[rng.IntN(4)]
		default:
			return Attr("in_stock", "true")
		}
	}
	switch rng.IntN(3) {
	case 0:
		return Not(randExpr(rng, depth-1))
	case 1:
		return And(randExpr(rng, depth-1), randExpr(rng, depth-1), randExpr(rng, depth-1))
	default:
		return Or(randExpr(rng, depth-1), randExpr(rng, depth-1))
	}
}

func reference(e Expr, rows []Row, tags map[string]map[int64]bool) []uint64 {
	out := []uint64{}
	for i := range rows {
		if matchRow(e, &rows[i], tags) {
			out = append(out, uint64(rows[i].Ordinal))
		}
	}
	return out
}

func setTestTags(ix *Index, rows []Row, rng *rand.Rand) map[string]map[int64]bool {
	tags := map[string]map[int64]bool{"hot": {}, "cold": {}}
	for _, tp := range []struct {
		name string
		p    float64
	}{{"hot", 0.3}, {"cold", 0.05}} {
		name, p := tp.name, tp.p
		bm := roaring64.New()
		for i := range rows {
			if rows[i].Live && rng.Float64() < p {
				bm.Add(uint64(rows[i].Ordinal))
				tags[name][rows[i].Ordinal] = true
			}
		}
		display := name
		if name == "cold" {
			display = "Cold"
		}
		ix.SetTag(TagInfo{ID: int64(len(name)), Name: display, Kind: "rule"}, bm, nil)
	}
	return tags
}

// Eval agrees with a row-by-row reference on random expressions, for an index made by the
// Builder and one made by Upsert, and First returns the reference's first ids.
func TestEvalMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rows := testRows(rng, 100_000)
	b := NewBuilder(len(rows))
	for _, r := range rows {
		b.Add(r)
	}
	built := b.Index()
	upserted := NewIndex()
	upserted.Upsert(rows)
	tags := setTestTags(built, rows, rand.New(rand.NewPCG(3, 4)))
	setTestTags(upserted, rows, rand.New(rand.NewPCG(3, 4)))

	for i := 0; i < 200; i++ {
		e := randExpr(rng, 3)
		want := reference(e, rows, tags)
		for name, ix := range map[string]*Index{"built": built, "upserted": upserted} {
			got, err := ix.Eval(e)
			require.NoError(t, err, e.String())
			require.Equal(t, len(want), int(got.GetCardinality()), "%s: %s", name, e)
			require.True(t, slices.Equal(want, arr(got)), "%s: %s", name, e)
			n, err := ix.Count(e)
			require.NoError(t, err)
			require.Equal(t, uint64(len(want)), n)
		}
		first, err := built.First(e, 1000)
		require.NoError(t, err)
		var wantIDs []int64
		for _, o := range want {
			if len(wantIDs) == 1000 {
				break
			}
			wantIDs = append(wantIDs, rows[o].ID)
		}
		require.Equal(t, len(wantIDs), len(first), e.String())
		require.True(t, slices.Equal(wantIDs, first), e.String())
	}
}

// Results are private: changing them does not change the index.
func TestEvalResultsArePrivate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	rows := testRows(rng, 5000)
	ix := NewIndex()
	ix.Upsert(rows)
	setTestTags(ix, rows, rng)
	for _, e := range []Expr{All(), Tag("hot"), Attr("brand", "razer"), Or(Tag("hot"))} {
		before, err := ix.Count(e)
		require.NoError(t, err)
		bm, err := ix.Eval(e)
		require.NoError(t, err)
		bm.Clear()
		after, err := ix.Count(e)
		require.NoError(t, err)
		require.Equal(t, before, after, e.String())
	}
}

func TestEvalErrors(t *testing.T) {
	ix := NewIndex()
	ix.Upsert(testRows(rand.New(rand.NewPCG(1, 1)), 100))
	_, err := ix.Eval(Tag("missing"))
	require.ErrorIs(t, err, ErrUnknownTag)
	require.ErrorContains(t, err, `"missing"`)
	_, err = ix.Eval(Attr("colour", "red"))
	require.ErrorContains(t, err, `unknown field "colour"`)
	_, err = ix.Eval(Range("brand", 1, 2))
	require.ErrorContains(t, err, "categorical")
	_, err = ix.Eval(And(All(), Not(Tag("x"))))
	require.ErrorIs(t, err, ErrUnknownTag)
}

// Updates move bits: a changed brand leaves the old brand's bitmap, a deleted SKU leaves every
// bitmap and tag, a price change moves between buckets.
func TestUpsertMovesBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	rows := testRows(rng, 20_000)
	for i := range rows {
		rows[i].Live = true
	}
	b := NewBuilder(len(rows))
	for _, r := range rows {
		b.Add(r)
	}
	ix := b.Index()
	tags := setTestTags(ix, rows, rng)
	for round := 0; round < 20; round++ {
		var batch []Row
		for k := 0; k < 200; k++ {
			i := rng.IntN(len(rows))
			r := rows[i]
			switch rng.IntN(4) {
			case 0:
				r.Cat[CatBrand] = "Brand" + fmt.Sprint(rng.IntN(3))
			case 1:
				r.Num[NumPrice] = int64(rng.IntN(100_000))
			case 2:
				r.Live = !r.Live
				if !r.Live {
					delete(tags["hot"], r.Ordinal)
					delete(tags["cold"], r.Ordinal)
				}
			default:
				r.Num[NumStock] = -3
			}
			rows[i] = r
			batch = append(batch, r)
		}
		// grow: a new ordinal
		nr := testRows(rng, 1)[0]
		nr.Ordinal, nr.Live = int64(len(rows)), true
		rows = append(rows, nr)
		batch = append(batch, nr)
		ix.Upsert(batch)
		for i := 0; i < 30; i++ {
			e := randExpr(rng, 2)
			got, err := ix.Eval(e)
			require.NoError(t, err)
			want := reference(e, rows, tags)
			require.Equal(t, len(want), len(arr(got)), e.String())
			require.True(t, slices.Equal(want, arr(got)), e.String())
		}
	}
	r, ok := ix.Row(rows[5].Ordinal)
	require.True(t, ok)
	require.Equal(t, rows[5].ID, r.ID)
	if rows[5].Live {
		require.Equal(t, rows[5].Num[NumPrice], r.Num[NumPrice])
	}
}

// The plane-by-plane BSI equals one filled with SetValue, negatives and extremes included.
func TestBuildBSIMatchesSetValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, spread := range []int64{1, 100, 1 << 20, 1 << 40, math.MaxInt64} {
		var ords []uint64
		var vals []int64
		slow := roaring64.NewDefaultBSI()
		for o := uint64(0); o < 3000; o += uint64(1 + rng.IntN(3)) {
			v := rng.Int64N(spread)
			if rng.IntN(4) == 0 {
				v = -v
			}
			ords = append(ords, o)
			vals = append(vals, v)
			slow.SetValue(o, v)
		}
		fast := buildBSI(ords, vals)
		for i, o := range ords {
			got, ok := fast.GetValue(o)
			require.True(t, ok)
			require.Equal(t, vals[i], got)
		}
		c := &numColumn{bsi: fast}
		for k := 0; k < 50; k++ {
			lo := rng.Int64N(spread) - spread/2
			hi := lo + rng.Int64N(spread/2+1)
			want := []uint64{}
			for i, o := range ords {
				if vals[i] >= lo && vals[i] <= hi {
					want = append(want, o)
				}
			}
			got := arr(c.rangeWithin(lo, hi, nil))
			require.Equal(t, len(want), len(got), "spread %d [%d, %d]", spread, lo, hi)
			require.True(t, slices.Equal(want, got))
			require.Equal(t, want, slowRange(slow, lo, hi))
		}
	}
}

func slowRange(b *roaring64.BSI, lo, hi int64) []uint64 {
	c := &numColumn{bsi: b}
	return arr(c.rangeBSI(lo, hi, nil))
}

func arr(bm *roaring64.Bitmap) []uint64 {
	out := bm.ToArray()
	if out == nil {
		return []uint64{}
	}
	return out
}

// Row reads the same values whether a column's dense values are built or not, through
// upserts, value changes and deletions.
func TestRowSameWithDenseValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	plain, dense := NewIndex(), NewIndex()
	write := func(rows []Row) {
		plain.Upsert(rows)
		dense.Upsert(rows)
	}
	var rows []Row
	for o := int64(0); o < 400; o++ {
		r := Row{Ordinal: o, ID: 5000 + o, Live: true}
		for f := range r.Num {
			r.Num[f] = int64(rng.IntN(1000)) - 100
		}
		rows = append(rows, r)
	}
	write(rows)
	for _, field := range []string{"price", "stock", "sales_7d", "released"} {
		if _, _, err := dense.TopK(field, 3, nil, true); err != nil { // builds the dense values
			t.Fatal(err)
		}
	}
	for round := 0; round < 5; round++ {
		var batch []Row
		for range 60 {
			r := rows[rng.IntN(len(rows))]
			r.Num[NumPrice] = int64(rng.IntN(5000))
			r.Num[NumStock] = int64(rng.IntN(3))
			r.Live = rng.IntN(8) != 0
			batch = append(batch, r)
		}
		write(batch)
		for o := int64(0); o < 400; o++ {
			a, okA := plain.Row(o)
			b, okB := dense.Row(o)
			if okA != okB || a != b {
				t.Fatalf("round %d ordinal %d: %+v (%v) without dense values, %+v (%v) with", round, o, a, okA, b, okB)
			}
		}
	}
}

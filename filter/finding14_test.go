package filter

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"
)

// wideOr is `not brand = b0 or not brand = b1 or ...` with k nots: 2k+1 terms.
func wideOr(k int) Expr {
	args := make([]Expr, k)
	for i := range args {
		args[i] = Not(Attr("brand", fmt.Sprintf("b%d", i%40)))
	}
	return Or(args...)
}

// Finding 14: a filter is limited in width (MaxTerms terms, MaxRanges numeric ones), by
// Validate and by both parsers, which stop at the first term too many.
func TestFinding14WideFilterRefused(t *testing.T) {
	widest := wideOr((MaxTerms - 1) / 2)
	require.NoError(t, widest.Validate())
	err := wideOr((MaxTerms-1)/2 + 1).Validate()
	require.ErrorIs(t, err, ErrTooWide)
	require.ErrorContains(t, err, fmt.Sprintf("more than %d terms", MaxTerms))

	// values count: an attr with MaxTerms values is one term too many under a not
	vals := make([]string, MaxTerms)
	for i := range vals {
		vals[i] = fmt.Sprint("v", i)
	}
	require.NoError(t, Attr("brand", vals...).Validate())
	require.ErrorIs(t, Not(Attr("brand", vals...)).Validate(), ErrTooWide)

	// numeric terms have their own, lower bound
	ranges := make([]Expr, MaxRanges+1)
	for i := range ranges {
		ranges[i] = AtLeast("price", int64(i))
	}
	require.NoError(t, Or(ranges[:MaxRanges]...).Validate())
	err = Or(ranges...).Validate()
	require.ErrorIs(t, err, ErrTooWide)
	require.ErrorContains(t, err, "numeric terms")
	require.ErrorIs(t, Attr("stock", vals[:MaxRanges+1]...).Validate(), ErrTooWide)

	// the text form of the widest filter parses back; one more term does not
	got, err := ParseExpr(widest.String())
	require.NoError(t, err)
	require.Equal(t, widest, got)
	_, err = ParseExpr(wideOr((MaxTerms-1)/2 + 1).String())
	require.ErrorIs(t, err, ErrTooWide)

	// a 1 MiB text body is refused at its first term too many, the rest unread
	var b strings.Builder
	for b.Len() < 1<<20 {
		b.WriteString("not brand = x or ")
	}
	body := b.String() + "all"
	p := &parser{src: body}
	_, err = p.parse()
	require.ErrorIs(t, err, ErrTooWide)
	require.Less(t, p.i, 20*MaxTerms, "the parser read %d of %d bytes", p.i, len(body))
	_, err = ParseExpr(body)
	require.ErrorIs(t, err, ErrTooWide)
	_, err = ParseExpr(strings.Repeat("price > 1 or ", MaxRanges) + "price > 1")
	require.ErrorIs(t, err, ErrTooWide)
	_, err = ParseExpr("stock in (" + strings.Repeat("1, ", MaxRanges) + "1)")
	require.ErrorIs(t, err, ErrTooWide)

	// and so is its JSON form, item by item
	j, err := json.Marshal(wideOr(20_000))
	require.NoError(t, err)
	require.Greater(t, len(j), 1<<19)
	_, err = ParseExprJSON(j)
	require.ErrorIs(t, err, ErrTooWide)
	j, err = json.Marshal(widest)
	require.NoError(t, err)
	back, err := ParseExprJSON(j)
	require.NoError(t, err)
	require.Equal(t, widest, back)

	// and evaluation
	ix := NewIndex()
	ix.Upsert(testRows(rand.New(rand.NewPCG(1, 1)), 100))
	_, err = ix.Eval(wideOr(MaxTerms))
	require.ErrorIs(t, err, ErrTooWide)
}

// Finding 14: evaluation stops, with the context's error, when the context is done: before it
// starts and between terms.
func TestFinding14EvalStopsOnCancel(t *testing.T) {
	ix := NewIndex()
	rows := wideRows(rand.New(rand.NewPCG(2, 2)), 5000)
	ix.Upsert(rows)
	e := wideOr(200)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ix.EvalContext(ctx, e)
	require.ErrorIs(t, err, context.Canceled)

	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = ix.EvalContext(ctx, And(Tag("nope"), Attr("brand", "b1")))
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// cancelled while evaluating: the context answers a few looks, then is done
	for _, e := range []Expr{e, And(e, Not(e)), Or(Attr("stock", "0", "1", "2", "3"), e)} {
		c := &doneAfter{Context: context.Background(), looks: 3}
		_, err = ix.EvalContext(c, e)
		require.ErrorIs(t, err, context.Canceled, e.String())
		require.Greater(t, c.seen, 3, "evaluation looked at its context %d times", c.seen)
	}

	// and without cancellation the same evaluation succeeds
	bm, err := ix.EvalContext(context.Background(), e)
	require.NoError(t, err)
	require.Equal(t, reference(e, rows, nil), arr(bm))
}

// doneAfter is a context that reports itself cancelled from its looks+1th Err on.
type doneAfter struct {
	context.Context
	looks, seen int
}

func (c *doneAfter) Err() error {
	c.seen++
	if c.seen > c.looks {
		return context.Canceled
	}
	return nil
}

// Finding 14: `not` copies the live universe at most once per evaluation, whatever the width,
// and `or` keeps no more than one part of its own at a time. Measured in bytes allocated (not
// time): the old evaluation of this filter allocated one live universe per `not`.
func TestFinding14NotCopiesUniverseOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	rows := wideRows(rng, 300_000)
	for i := range rows {
		rows[i].Live = true // a dense universe: one copy is 16 KiB per 2^16 ordinals
	}
	b := NewBuilder(len(rows))
	for _, r := range rows {
		b.Add(r)
	}
	ix := b.Index()
	setTestTags(ix, rows, rng)
	one := uint64(len(rows)) / 8 // bytes of the live universe as dense bitmap containers
	notBrand := func(i int) Expr { return Not(Attr("brand", fmt.Sprintf("b%d", i%40))) }
	pairs := make([]Expr, 199)
	for i := range pairs {
		pairs[i] = Or(notBrand(i), notBrand(i+1))
	}
	for _, e := range []Expr{wideOr(499), And(pairs...), Not(wideOr(498))} {
		got := allocated(t, func() {
			_, err := ix.Eval(e)
			require.NoError(t, err)
		})
		require.Less(t, got, 4*one, "%d bytes allocated, one universe is %d: %.40s", got, one, e.String())
	}
}

// allocated is how many bytes f allocates.
func allocated(t *testing.T, f func()) uint64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// wideRows are testRows with 40 brands b0..b39 (and some empty).
func wideRows(rng *rand.Rand, n int) []Row {
	rows := testRows(rng, n)
	for i := range rows {
		if rng.IntN(20) != 0 {
			rows[i].Cat[CatBrand] = fmt.Sprintf("b%d", rng.IntN(40))
		}
	}
	return rows
}

// randWide is a random expression with wide ands and ors and many nots.
func randWide(rng *rand.Rand, depth int) Expr {
	if depth <= 0 || rng.IntN(4) == 0 {
		var e Expr
		switch n := rng.IntN(20); {
		case n < 3:
			e = Tag([]string{"hot", "Cold"}[rng.IntN(2)])
		case n < 12:
			e = Attr("brand", fmt.Sprintf("b%d", rng.IntN(45))) // b40..b44: no such brand
		case n < 14:
			e = Attr("market", "SG", "TH")
		case n < 17:
			lo := int64(rng.IntN(8000))
			e = Range("price", lo, lo+int64(rng.IntN(6000)))
		case n < 18:
			e = Attr("stock", "0", "2")
		default:
			e = All()
		}
		if rng.IntN(2) == 0 {
			e = Not(e)
		}
		return e
	}
	k := 1 + rng.IntN(8)
	args := make([]Expr, k)
	for i := range args {
		args[i] = randWide(rng, depth-1)
	}
	switch rng.IntN(5) {
	case 0:
		return Not(And(args...))
	case 1:
		return Not(Or(args...))
	case 2:
		return And(args...)
	default:
		return Or(args...)
	}
}

// Wide not/and/or combinations evaluate as the row-by-row reference says, over the whole
// index (Eval, Count), over a window (EvalWithin) and in ordinal order (First).
func TestEvalWideMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	rows := wideRows(rng, 30_000)
	ix := NewIndex()
	ix.Upsert(rows)
	tags := setTestTags(ix, rows, rng)
	for evaluated := 0; evaluated < 300; {
		e := randWide(rng, 1+rng.IntN(3))
		if e.Validate() != nil {
			continue // over a limit
		}
		evaluated++
		want := reference(e, rows, tags)
		got, err := ix.Eval(e)
		require.NoError(t, err, e.String())
		require.True(t, slices.Equal(want, arr(got)), "%d of %d: %s", got.GetCardinality(), len(want), e)
		n, err := ix.Count(e)
		require.NoError(t, err)
		require.Equal(t, uint64(len(want)), n, e.String())

		lo := uint64(rng.IntN(len(rows)))
		win := roaring64.New()
		win.AddRange(lo, lo+uint64(rng.IntN(5000)))
		win.Add(uint64(rng.IntN(len(rows))))
		in, err := ix.EvalWithin(e, win)
		require.NoError(t, err)
		wantIn := []uint64{}
		for _, o := range want {
			if win.Contains(o) {
				wantIn = append(wantIn, o)
			}
		}
		require.True(t, slices.Equal(wantIn, arr(in)), "within: %s", e)

		first, err := ix.First(e, 100)
		require.NoError(t, err)
		var wantIDs []int64
		for _, o := range want[:min(100, len(want))] {
			wantIDs = append(wantIDs, rows[o].ID)
		}
		require.Equal(t, len(wantIDs), len(first), e.String())
		require.True(t, slices.Equal(wantIDs, first), e.String())
	}
}

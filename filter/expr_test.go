package filter

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseExprText(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Expr
	}{
		{"brand = Logitech and price < 5000", And(Attr("brand", "Logitech"), Below("price", 5000))},
		{`tag = gaming or not market in (SG, "MY")`, Or(Tag("gaming"), Not(Attr("market", "SG", "MY")))},
		{"price between 1000 and 5000", Range("price", 1000, 5000)},
		{"(a_b = 1)", Expr{}},
		{"stock > 0 AND rating >= 400", And(Above("stock", 0), AtLeast("rating", 400))},
		{"brand != hp", Not(Attr("brand", "hp"))},
		{"price = 42", Range("price", 42, 42)},
		{"released >= 2021-07-01", AtLeast("released", 18809)},
		{"released between 2019-01-01 and 18808", Range("released", 17897, 18808)},
		{"price >= 2021-07-01", Expr{}},
		{"all", All()},
		{`{"and":[{"tag":"x"},{"range":{"field":"price","gte":1,"lt":10}}]}`, And(Tag("x"), Range("price", 1, 9))},
	} {
		got, err := ParseExpr(c.in)
		if c.want.Op == "" {
			require.Error(t, err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, got, c.in)
	}
}

func TestParseExprErrors(t *testing.T) {
	for in, msg := range map[string]string{
		"":                                   "empty",
		"brand =":                            "expected a value",
		"colour = red":                       `unknown field "colour"`,
		"brand < 5":                          "categorical",
		"price < cheap":                      "not an integer",
		"released > 2021-13-01":              "neither a date",
		"price between 1":                    "expected and",
		"(brand = x":                         "missing )",
		"brand = x y":                        `unexpected "y"`,
		"brand = \"x":                        "unterminated",
		`{"tag": 1}`:                         "tag name",
		`{"tag":"a","not":{"all":true}}`:     "exactly one key",
		`{"range":{"field":"price"}}`:        "needs a bound",
		`{"range":{"field":"brand","gt":1}}`: "categorical",
		`{"attr":{"field":"brand"}}`:         "exactly one of",
		`{"xor":[]}`:                         "unknown operator",
		`{"attr":{"field":"brand","value":"x","extra":1}}`: "unknown field",
	} {
		_, err := ParseExpr(in)
		require.ErrorContains(t, err, msg, in)
	}
}

// Text and JSON forms round-trip.
func TestExprRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	exprs := []Expr{Below("price", math.MinInt64), Above("price", math.MaxInt64), AtLeast("price", math.MinInt64),
		Attr("brand", "and"), Attr("brand", ""), Tag("two words"), And(), Or()}
	for i := 0; i < 200; i++ {
		exprs = append(exprs, randExpr(rng, 4))
	}
	for _, e := range exprs {
		b, err := json.Marshal(e)
		require.NoError(t, err)
		back, err := ParseExprJSON(b)
		require.NoError(t, err, string(b))
		require.Equal(t, canon(e), canon(back), string(b))
		txt, err := ParseExpr(e.String())
		require.NoError(t, err, e.String())
		require.Equal(t, canon(e), canon(txt), e.String())
	}
}

// canon flattens what the text form cannot tell apart (nested and/or of one kind, empty and/or).
func canon(e Expr) string {
	b, _ := json.Marshal(e)
	var x Expr
	if err := json.Unmarshal(b, &x); err != nil {
		return "invalid: " + err.Error()
	}
	ix := NewIndex()
	_ = ix
	return fmt.Sprint(flatten(x))
}

func flatten(e Expr) Expr {
	switch e.Op {
	case OpAnd, OpOr:
		var args []Expr
		for _, a := range e.Args {
			a = flatten(a)
			if a.Op == e.Op {
				args = append(args, a.Args...)
			} else {
				args = append(args, a)
			}
		}
		if len(args) == 0 {
			if e.Op == OpAnd {
				return All()
			}
			return Not(All())
		}
		if len(args) == 1 {
			return args[0]
		}
		return Expr{Op: e.Op, Args: args}
	case OpNot:
		return Not(flatten(e.Args[0]))
	}
	return e
}

func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{"brand = Logitech and price < 5000", `tag = "a b" or not market in (SG, MY)`,
		"price between 1 and 2", "((not all))", `{"or":[{"tag":"x"},{"not":{"all":true}}]}`,
		`{"range":{"field":"price","gt":-9223372036854775808}}`, "brand = \"\\u00e9\"", "x in (", "price >= 9223372036854775807",
		"released >= 2024-02-29 and released < 2025-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpr(s)
		if err != nil {
			return
		}
		// Whatever parses validates, prints and parses back to the same meaning.
		require.NoError(t, e.Validate())
		back, err := ParseExpr(e.String())
		require.NoError(t, err, "%q -> %q", s, e.String())
		require.Equal(t, canon(e), canon(back))
		b, err := json.Marshal(e)
		require.NoError(t, err)
		_, err = ParseExprJSON(b)
		require.NoError(t, err, string(b))
	})
}

func FuzzParseExprJSON(f *testing.F) {
	for _, s := range []string{`{"and":[{"tag":"a"},{"attr":{"field":"brand","in":["x","y"]}}]}`,
		`{"range":{"field":"stock","eq":0}}`, `{"not":{"not":{"all":true}}}`, `[]`, `{"and":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseExprJSON(b)
		if err != nil {
			return
		}
		require.NoError(t, e.Validate())
		out, err := json.Marshal(e)
		require.NoError(t, err)
		back, err := ParseExprJSON(out)
		require.NoError(t, err, string(out))
		require.Equal(t, canon(e), canon(back))
	})
}

// Fields and Tags name what an expression reads: each field once, in order of appearance.
func TestExprFieldsAndTags(t *testing.T) {
	e, err := ParseExpr("brand = Logitech and (price < 5000 or tag = deal) and not brand = Razer and stock >= 1")
	require.NoError(t, err)
	require.Equal(t, []string{"brand", "price", "stock"}, e.Fields())
	require.Equal(t, []string{"deal"}, e.Tags())
	require.Empty(t, All().Fields())
}

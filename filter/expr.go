package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Op is the kind of an Expr node.
type Op string

// The operators of the filter language.
const (
	OpAll   Op = "all"   // every live SKU
	OpAnd   Op = "and"   // intersection of Args
	OpOr    Op = "or"    // union of Args
	OpNot   Op = "not"   // live SKUs not in Args[0]
	OpTag   Op = "tag"   // members of tag Name
	OpAttr  Op = "attr"  // categorical Field equal to any of Values
	OpRange Op = "range" // numeric Field in [Lo, Hi] (inclusive)
)

// Expr is a filter over the index: a small boolean AST whose leaves are tags, categorical
// attributes and numeric ranges. Build it with And, Or, Not, Tag, Attr and Range (or parse its
// JSON or text form) and evaluate it with Index.Eval.
//
// JSON form (one key per object):
//
//	{"and": [e, ...]}   {"or": [e, ...]}   {"not": e}   {"all": true}
//	{"tag": "gaming"}
//	{"attr": {"field": "brand", "value": "Logitech"}}
//	{"attr": {"field": "market", "in": ["SG", "MY"]}}
//	{"range": {"field": "price", "gte": 1000, "lt": 5000}}   (gt, gte, lt, lte, eq; integers)
//
// Text form: `brand = Logitech and price < 5000`, `tag = gaming or not market in (SG, MY)`,
// `price between 1000 and 5000`; see ParseExpr.
type Expr struct {
	Op     Op
	Args   []Expr
	Name   string   // OpTag
	Field  string   // OpAttr, OpRange
	Values []string // OpAttr
	Lo, Hi int64    // OpRange, inclusive; math.MinInt64 / math.MaxInt64 when open
}

// All matches every live SKU.
func All() Expr { return Expr{Op: OpAll} }

// And is the intersection of its arguments (All when there are none).
func And(args ...Expr) Expr { return Expr{Op: OpAnd, Args: args} }

// Or is the union of its arguments (nothing when there are none).
func Or(args ...Expr) Expr { return Expr{Op: OpOr, Args: args} }

// Not is every live SKU not matched by e.
func Not(e Expr) Expr { return Expr{Op: OpNot, Args: []Expr{e}} }

// Tag matches the members of the named tag.
func Tag(name string) Expr { return Expr{Op: OpTag, Name: name} }

// Attr matches SKUs whose categorical field equals any of values (case-insensitive).
func Attr(field string, values ...string) Expr { return Expr{Op: OpAttr, Field: field, Values: values} }

// Range matches SKUs whose numeric field is between lo and hi inclusive.
func Range(field string, lo, hi int64) Expr { return Expr{Op: OpRange, Field: field, Lo: lo, Hi: hi} }

// AtLeast is field >= v.
func AtLeast(field string, v int64) Expr { return Range(field, v, math.MaxInt64) }

// AtMost is field <= v.
func AtMost(field string, v int64) Expr { return Range(field, math.MinInt64, v) }

// Below is field < v.
func Below(field string, v int64) Expr {
	if v == math.MinInt64 {
		return Range(field, 1, 0) // empty
	}
	return Range(field, math.MinInt64, v-1)
}

// Above is field > v.
func Above(field string, v int64) Expr {
	if v == math.MaxInt64 {
		return Range(field, 1, 0)
	}
	return Range(field, v+1, math.MaxInt64)
}

// MaxDepth bounds nesting so that hostile input cannot exhaust the stack.
const MaxDepth = 64

// MaxTerms bounds a filter's width: every operator (and, or, not, all), tag, range and
// categorical value counts one term, so `not brand = x or not brand = y` is five. Real filters
// are far narrower: the page adds clauses one at a time, a compiled scenario has one term per
// market, brand, tag or bound it names (a 4 KiB scenario names tens), rule tags have a few. A
// 1 MiB body of `not brand = x or ...` is about 65,000 terms; at 1,000 the widest filter without
// ranges costs at most about 10 ms over 1M SKUs (BenchmarkEvalWidest), and parsers stop reading
// at the first term past it.
const MaxTerms = 1000

// MaxRanges bounds the numeric terms of a filter (ranges, and the values of an attr on a
// numeric field): each is a scan of the field's range buckets, 1 to 2 ms over 1M SKUs when it
// cannot be confined to few candidates (BenchmarkRange, BenchmarkEvalWidest/ranges-or-brands),
// where a tag or categorical term is a bitmap at hand. 16 keeps the widest filter under 40 ms;
// a plan compiled from a scenario bounds at most four fields (price, discount, rating,
// released).
const MaxRanges = 16

// ErrTooWide is returned (wrapped) for a filter with more than MaxTerms terms or more than
// MaxRanges numeric terms.
var ErrTooWide = errors.New("filter too wide")

// terms counts what a filter has used of MaxTerms and MaxRanges.
type terms struct{ all, ranges int }

// add counts n terms, numeric of them ranges, and refuses the first past a limit.
func (t *terms) add(n, numeric int) error {
	t.all += n
	t.ranges += numeric
	if t.all > MaxTerms {
		return fmt.Errorf("%w: more than %d terms (each operator, tag, range and value is one)", ErrTooWide, MaxTerms)
	}
	if t.ranges > MaxRanges {
		return fmt.Errorf("%w: more than %d numeric terms (ranges, values of numeric fields)", ErrTooWide, MaxRanges)
	}
	return nil
}

// Validate checks the expression's shape, its width (MaxTerms, MaxRanges) and its field names
// (not tag names: those depend on the index).
func (e Expr) Validate() error { return e.validate(0, &terms{}) }

func (e Expr) validate(depth int, n *terms) error {
	if depth > MaxDepth {
		return fmt.Errorf("expression nested deeper than %d", MaxDepth)
	}
	switch e.Op {
	case OpAll, OpAnd, OpOr, OpNot, OpTag:
		if err := n.add(1, 0); err != nil {
			return err
		}
	}
	switch e.Op {
	case OpAll:
		return nil
	case OpAnd, OpOr:
		for i := range e.Args {
			if err := e.Args[i].validate(depth+1, n); err != nil {
				return err
			}
		}
		return nil
	case OpNot:
		if len(e.Args) != 1 {
			return errors.New("not takes exactly one expression")
		}
		return e.Args[0].validate(depth+1, n)
	case OpTag:
		if strings.TrimSpace(e.Name) == "" {
			return errors.New("tag without a name")
		}
		return nil
	case OpAttr:
		kind, _, err := lookupField(e.Field)
		if err != nil {
			return err
		}
		if len(e.Values) == 0 {
			return fmt.Errorf("attr %s without a value", e.Field)
		}
		numeric := 0
		if kind == Numeric {
			numeric = len(e.Values)
		}
		if err := n.add(len(e.Values), numeric); err != nil {
			return err
		}
		if kind == Numeric {
			for _, v := range e.Values {
				if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
					return fmt.Errorf("%s is numeric: %q is not an integer (money is in minor units)", e.Field, v)
				}
			}
		}
		return nil
	case OpRange:
		kind, _, err := lookupField(e.Field)
		if err != nil {
			return err
		}
		if kind != Numeric {
			return fmt.Errorf("%s is categorical: use = or in, not a range", e.Field)
		}
		return n.add(1, 1)
	case "":
		return errors.New("empty expression")
	}
	return fmt.Errorf("unknown operator %q", e.Op)
}

// Tags returns the names of the tags e refers to.
func (e Expr) Tags() []string {
	var out []string
	var walk func(x *Expr)
	walk = func(x *Expr) {
		if x.Op == OpTag {
			out = append(out, x.Name)
		}
		for i := range x.Args {
			walk(&x.Args[i])
		}
	}
	walk(&e)
	return out
}

// Fields returns the names of the fields e's predicates read (attr and range), each once, in
// the order they first appear.
func (e Expr) Fields() []string {
	var out []string
	var walk func(x *Expr)
	walk = func(x *Expr) {
		if (x.Op == OpAttr || x.Op == OpRange) && !slices.Contains(out, x.Field) {
			out = append(out, x.Field)
		}
		for i := range x.Args {
			walk(&x.Args[i])
		}
	}
	walk(&e)
	return out
}

// ---- JSON ----

type jsonAttr struct {
	Field string   `json:"field"`
	Value *string  `json:"value,omitempty"`
	In    []string `json:"in,omitempty"`
}

type jsonRange struct {
	Field string `json:"field"`
	Eq    *int64 `json:"eq,omitempty"`
	Gt    *int64 `json:"gt,omitempty"`
	Gte   *int64 `json:"gte,omitempty"`
	Lt    *int64 `json:"lt,omitempty"`
	Lte   *int64 `json:"lte,omitempty"`
}

// MarshalJSON writes the JSON form (see Expr).
func (e Expr) MarshalJSON() ([]byte, error) {
	switch e.Op {
	case OpAll:
		return []byte(`{"all":true}`), nil
	case OpAnd, OpOr:
		args := e.Args
		if args == nil {
			args = []Expr{}
		}
		return json.Marshal(map[string]any{string(e.Op): args})
	case OpNot:
		if len(e.Args) != 1 {
			return nil, errors.New("not takes exactly one expression")
		}
		return json.Marshal(map[string]any{"not": e.Args[0]})
	case OpTag:
		return json.Marshal(map[string]any{"tag": e.Name})
	case OpAttr:
		a := jsonAttr{Field: e.Field}
		if len(e.Values) == 1 {
			a.Value = &e.Values[0]
		} else {
			a.In = e.Values
		}
		return json.Marshal(map[string]any{"attr": a})
	case OpRange:
		r := jsonRange{Field: e.Field}
		lo, hi := e.Lo, e.Hi
		switch {
		case lo == hi:
			r.Eq = &lo
		default:
			if lo != math.MinInt64 || hi == math.MaxInt64 {
				r.Gte = &lo
			}
			if hi != math.MaxInt64 {
				r.Lte = &hi
			}
		}
		return json.Marshal(map[string]any{"range": r})
	}
	return nil, fmt.Errorf("cannot encode expression with operator %q", e.Op)
}

// UnmarshalJSON reads the JSON form and validates it. It stops at the first term past
// MaxTerms or MaxRanges rather than decoding the rest.
func (e *Expr) UnmarshalJSON(b []byte) error {
	x, err := decodeExpr(b, 0, &terms{})
	if err != nil {
		return err
	}
	if err := x.Validate(); err != nil {
		return err
	}
	*e = x
	return nil
}

// ParseExprJSON parses the JSON form of an expression.
func ParseExprJSON(b []byte) (Expr, error) {
	var e Expr
	if err := json.Unmarshal(b, &e); err != nil {
		return Expr{}, fmt.Errorf("filter expression: %w", err)
	}
	return e, nil
}

// decodeExpr reads one expression object at the given nesting depth, counting its terms and
// ranges in n.
func decodeExpr(b []byte, depth int, n *terms) (Expr, error) {
	if depth > MaxDepth {
		return Expr{}, fmt.Errorf("expression nested deeper than %d", MaxDepth)
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return Expr{}, fmt.Errorf("an expression is a JSON object with one key (and, or, not, all, tag, attr, range): %w", err)
	}
	if len(obj) != 1 {
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		return Expr{}, fmt.Errorf("an expression object has exactly one key (and, or, not, all, tag, attr, range), got %d %v", len(obj), keys)
	}
	for k, raw := range obj {
		switch Op(k) {
		case OpAll, OpAnd, OpOr, OpNot, OpTag:
			if err := n.add(1, 0); err != nil {
				return Expr{}, err
			}
		case OpRange:
			if err := n.add(1, 1); err != nil {
				return Expr{}, err
			}
		}
		switch Op(k) {
		case OpAll:
			var v bool
			if err := json.Unmarshal(raw, &v); err != nil || !v {
				return Expr{}, errors.New(`"all" takes true`)
			}
			return All(), nil
		case OpAnd, OpOr:
			args, err := decodeArgs(k, raw, depth, n)
			if err != nil {
				return Expr{}, err
			}
			return Expr{Op: Op(k), Args: args}, nil
		case OpNot:
			a, err := decodeExpr(raw, depth+1, n)
			if err != nil {
				return Expr{}, atPath("not", err)
			}
			return Not(a), nil
		case OpTag:
			var name string
			if err := json.Unmarshal(raw, &name); err != nil {
				return Expr{}, fmt.Errorf(`"tag" takes a tag name: %w`, err)
			}
			return Tag(name), nil
		case OpAttr:
			return decodeAttr(raw, n)
		case OpRange:
			var r jsonRange
			if err := strictUnmarshal(raw, &r); err != nil {
				return Expr{}, fmt.Errorf(`"range" takes {"field": ..., "gte"/"gt"/"lte"/"lt"/"eq": integer}: %w`, err)
			}
			return rangeFromJSON(r)
		default:
			return Expr{}, fmt.Errorf("unknown operator %q (and, or, not, all, tag, attr, range)", k)
		}
	}
	panic("unreachable")
}

// decodeAttr reads the body of an attr expression; each value counts one term and, for a
// numeric field, one range.
func decodeAttr(raw []byte, n *terms) (Expr, error) {
	var a jsonAttr
	if err := strictUnmarshal(raw, &a); err != nil {
		return Expr{}, fmt.Errorf(`"attr" takes {"field": ..., "value": ...} or {"field": ..., "in": [...]}: %w`, err)
	}
	if (a.Value == nil) == (a.In == nil) {
		return Expr{}, errors.New(`"attr" needs exactly one of "value" and "in"`)
	}
	e := Attr(a.Field, a.In...)
	if a.Value != nil {
		e = Attr(a.Field, *a.Value)
	}
	numeric := 0
	if kind, _, err := lookupField(a.Field); err == nil && kind == Numeric {
		numeric = len(e.Values)
	}
	if err := n.add(len(e.Values), numeric); err != nil {
		return Expr{}, err
	}
	return e, nil
}

// decodeArgs reads the array of an and or an or item by item, so that a filter past MaxTerms
// is refused at its first term too many, before the rest is read.
func decodeArgs(k string, raw []byte, depth int, n *terms) ([]Expr, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	args := []Expr{}
	switch t, err := dec.Token(); {
	case err != nil:
		return nil, fmt.Errorf("%q takes an array of expressions: %w", k, err)
	case t == nil: // null, as before: no arguments
		return args, nil
	case t != json.Delim('['):
		return nil, fmt.Errorf("%q takes an array of expressions, not %v", k, t)
	}
	for i := 0; dec.More(); i++ {
		var it json.RawMessage
		if err := dec.Decode(&it); err != nil {
			return nil, fmt.Errorf("%q takes an array of expressions: %w", k, err)
		}
		a, err := decodeExpr(it, depth+1, n)
		if err != nil {
			return nil, atPath(k+"["+strconv.Itoa(i)+"]", err)
		}
		args = append(args, a)
	}
	return args, nil
}

func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func rangeFromJSON(r jsonRange) (Expr, error) {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	bounds := 0
	if r.Eq != nil {
		lo, hi = *r.Eq, *r.Eq
		bounds++
	}
	if r.Gte != nil && r.Gt != nil {
		return Expr{}, errors.New(`"range" takes at most one of "gt" and "gte"`)
	}
	if r.Lte != nil && r.Lt != nil {
		return Expr{}, errors.New(`"range" takes at most one of "lt" and "lte"`)
	}
	if r.Gte != nil {
		lo = *r.Gte
		bounds++
	}
	if r.Gt != nil {
		if *r.Gt == math.MaxInt64 {
			return Below(r.Field, math.MinInt64), nil
		}
		lo = *r.Gt + 1
		bounds++
	}
	if r.Lte != nil {
		hi = *r.Lte
		bounds++
	}
	if r.Lt != nil {
		if *r.Lt == math.MinInt64 {
			return Below(r.Field, math.MinInt64), nil
		}
		hi = *r.Lt - 1
		bounds++
	}
	if bounds == 0 {
		return Expr{}, errors.New(`"range" needs a bound (gt, gte, lt, lte or eq)`)
	}
	if r.Eq != nil && bounds > 1 {
		return Expr{}, errors.New(`"range" with "eq" takes no other bound`)
	}
	return Range(r.Field, lo, hi), nil
}

// ---- text ----

// String renders the text form, which ParseExpr reads back.
func (e Expr) String() string {
	var b strings.Builder
	e.write(&b, 0)
	return b.String()
}

// precedence: or 1, and 2, not/leaves 3
func (e Expr) write(b *strings.Builder, parent int) {
	switch e.Op {
	case OpAll:
		b.WriteString("all")
	case OpAnd, OpOr:
		if len(e.Args) == 0 {
			if e.Op == OpAnd {
				b.WriteString("all")
			} else {
				b.WriteString("not all")
			}
			return
		}
		prec := 1
		if e.Op == OpAnd {
			prec = 2
		}
		if prec < parent {
			b.WriteByte('(')
		}
		for i := range e.Args {
			if i > 0 {
				b.WriteString(" " + string(e.Op) + " ")
			}
			e.Args[i].write(b, prec+1)
		}
		if prec < parent {
			b.WriteByte(')')
		}
	case OpNot:
		b.WriteString("not ")
		if len(e.Args) == 1 {
			e.Args[0].write(b, 3)
		}
	case OpTag:
		b.WriteString("tag = " + quoteWord(e.Name))
	case OpAttr:
		if len(e.Values) == 1 {
			b.WriteString(e.Field + " = " + quoteWord(e.Values[0]))
			return
		}
		b.WriteString(e.Field + " in (")
		for i, v := range e.Values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteWord(v))
		}
		b.WriteByte(')')
	case OpRange:
		lo, hi := e.Lo, e.Hi
		switch {
		case lo > hi:
			b.WriteString(fmt.Sprintf("%s between %d and %d", e.Field, lo, hi))
		case lo == hi:
			b.WriteString(fmt.Sprintf("%s = %d", e.Field, lo))
		case lo == math.MinInt64 && hi == math.MaxInt64:
			b.WriteString(fmt.Sprintf("%s >= %d", e.Field, lo))
		case lo == math.MinInt64:
			b.WriteString(fmt.Sprintf("%s <= %d", e.Field, hi))
		case hi == math.MaxInt64:
			b.WriteString(fmt.Sprintf("%s >= %d", e.Field, lo))
		default:
			b.WriteString(fmt.Sprintf("%s between %d and %d", e.Field, lo, hi))
		}
	default:
		b.WriteString("?" + string(e.Op))
	}
}

var keywords = map[string]bool{"and": true, "or": true, "not": true, "in": true, "between": true, "all": true, "tag": true}

func quoteWord(s string) string {
	if s == "" || keywords[strings.ToLower(s)] {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !isWordRune(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func isWordRune(r rune) bool {
	return r == '_' || r == '-' || r == '.' || r == '/' || r == '&' || r == '+' ||
		(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r > 127
}

package filter

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ParseExpr parses a filter expression, in its JSON form when it starts with '{' and in its
// text form otherwise. The text form:
//
//	expr  := or
//	or    := and ("or" and)*
//	and   := unary ("and" unary)*
//	unary := "not" unary | "(" expr ")" | "all" | pred
//	pred  := "tag" "=" word
//	       | field ("=" | "!=") word
//	       | field "in" "(" word ("," word)* ")"
//	       | field ("<" | "<=" | ">" | ">=") integer
//	       | field "between" integer "and" integer
//
// Words are bare (letters, digits, _ - . / & +) or double-quoted Go strings; keywords are
// case-insensitive. Example: `brand = Logitech and price < 5000 and not market in (VN, PH)`.
func ParseExpr(s string) (Expr, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") {
		return ParseExprJSON([]byte(t))
	}
	p := &parser{src: s}
	e, err := p.parse()
	if err != nil {
		if errors.Is(err, ErrTooWide) {
			return Expr{}, err // refused at the first term too many: the rest stays unread
		}
		// As when the whole text was lexed first: a lexical error anywhere wins.
		if lerr := p.lexRest(); lerr != nil {
			return Expr{}, lerr
		}
		return Expr{}, err
	}
	if err := e.Validate(); err != nil {
		return Expr{}, err
	}
	return e, nil
}

func (p *parser) parse() (Expr, error) {
	if _, ok := p.peek(); !ok {
		if p.lexErr != nil {
			return Expr{}, p.lexErr
		}
		return Expr{}, errors.New("filter expression is empty")
	}
	e, err := p.or(0)
	if err != nil {
		return Expr{}, err
	}
	if t, ok := p.peek(); ok {
		return Expr{}, p.errAt(t, "unexpected %q", t.text)
	}
	if p.lexErr != nil {
		return Expr{}, p.lexErr
	}
	return e, nil
}

type tokKind int

const (
	tWord tokKind = iota
	tString
	tOp
	tLParen
	tRParen
	tComma
)

type token struct {
	kind tokKind
	text string
	at   int
}

// parser reads tokens one at a time (a lookahead of one), counting terms as it builds them, so
// that a text far past MaxTerms is refused without lexing or building the rest.
type parser struct {
	src    string
	i      int   // offset of the next token to lex
	tok    token // the lookahead, when has
	has    bool
	lexErr error // the first lexical error; no tokens follow it
	n      terms
}

func (p *parser) errAt(t token, format string, a ...any) error {
	return fmt.Errorf("filter expression at offset %d: %s", t.at, fmt.Sprintf(format, a...))
}

// peek returns the next token without consuming it; false at the end or at a lexical error.
func (p *parser) peek() (token, bool) {
	if !p.has && p.lexErr == nil {
		p.tok, p.has, p.lexErr = p.lexOne()
	}
	return p.tok, p.has
}

// lexRest lexes what is left, for its first lexical error.
func (p *parser) lexRest() error {
	for {
		if _, ok := p.peek(); !ok {
			return p.lexErr
		}
		p.has = false
	}
}

// lexOne reads the token at p.i; false at the end of the text.
func (p *parser) lexOne() (token, bool, error) {
	s := p.src
	for i := p.i; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			return token{}, false, fmt.Errorf("filter expression at offset %d: invalid UTF-8", i)
		case unicode.IsSpace(r):
			i += w
			continue
		case r == '(':
			p.i = i + 1
			return token{tLParen, "(", i}, true, nil
		case r == ')':
			p.i = i + 1
			return token{tRParen, ")", i}, true, nil
		case r == ',':
			p.i = i + 1
			return token{tComma, ",", i}, true, nil
		case r == '=' || r == '<' || r == '>' || r == '!':
			j := i + 1
			if j < len(s) && s[j] == '=' {
				j++
			}
			op := s[i:j]
			if op == "!" {
				return token{}, false, fmt.Errorf("filter expression at offset %d: '!' must be followed by '='", i)
			}
			if op == "==" {
				op = "="
			}
			p.i = j
			return token{tOp, op, i}, true, nil
		case r == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return token{}, false, fmt.Errorf("filter expression at offset %d: unterminated string", i)
			}
			v, err := strconv.Unquote(s[i : j+1])
			if err != nil {
				return token{}, false, fmt.Errorf("filter expression at offset %d: bad string %s", i, s[i:j+1])
			}
			p.i = j + 1
			return token{tString, v, i}, true, nil
		case isWordRune(r):
			j := i
			for j < len(s) {
				r2, w2 := utf8.DecodeRuneInString(s[j:])
				if !isWordRune(r2) || (r2 == utf8.RuneError && w2 == 1) {
					break
				}
				j += w2
			}
			p.i = j
			return token{tWord, s[i:j], i}, true, nil
		default:
			return token{}, false, fmt.Errorf("filter expression at offset %d: unexpected character %q", i, r)
		}
	}
	p.i = len(s)
	return token{}, false, nil
}

func (p *parser) peekKeyword(kw string) bool {
	t, ok := p.peek()
	return ok && t.kind == tWord && strings.EqualFold(t.text, kw)
}

func (p *parser) end() token {
	return token{at: len(p.src)}
}

func (p *parser) next() (token, bool) {
	t, ok := p.peek()
	if !ok {
		return p.end(), false
	}
	p.has = false
	return t, true
}

func (p *parser) or(depth int) (Expr, error) {
	if depth > MaxDepth {
		return Expr{}, fmt.Errorf("expression nested deeper than %d", MaxDepth)
	}
	first, err := p.and(depth)
	if err != nil {
		return Expr{}, err
	}
	args := []Expr{first}
	for p.peekKeyword("or") {
		p.has = false
		e, err := p.and(depth)
		if err != nil {
			return Expr{}, err
		}
		args = append(args, e)
	}
	if len(args) == 1 {
		return first, nil
	}
	return Or(args...), p.n.add(1, 0)
}

func (p *parser) and(depth int) (Expr, error) {
	first, err := p.unary(depth)
	if err != nil {
		return Expr{}, err
	}
	args := []Expr{first}
	for p.peekKeyword("and") {
		p.has = false
		e, err := p.unary(depth)
		if err != nil {
			return Expr{}, err
		}
		args = append(args, e)
	}
	if len(args) == 1 {
		return first, nil
	}
	return And(args...), p.n.add(1, 0)
}

func (p *parser) unary(depth int) (Expr, error) {
	if depth > MaxDepth {
		return Expr{}, fmt.Errorf("expression nested deeper than %d", MaxDepth)
	}
	t, ok := p.next()
	if !ok {
		return Expr{}, p.errAt(t, "expression ends early")
	}
	switch {
	case t.kind == tLParen:
		e, err := p.or(depth + 1)
		if err != nil {
			return Expr{}, err
		}
		c, ok := p.next()
		if !ok || c.kind != tRParen {
			return Expr{}, p.errAt(c, "missing )")
		}
		return e, nil
	case t.kind == tWord && strings.EqualFold(t.text, "not"):
		if err := p.n.add(1, 0); err != nil {
			return Expr{}, err
		}
		e, err := p.unary(depth + 1)
		if err != nil {
			return Expr{}, err
		}
		return Not(e), nil
	case t.kind == tWord && strings.EqualFold(t.text, "all"):
		return All(), p.n.add(1, 0)
	case t.kind == tWord:
		return p.pred(t)
	}
	return Expr{}, p.errAt(t, "unexpected %q", t.text)
}

func (p *parser) word() (string, token, error) {
	t, ok := p.next()
	if !ok || (t.kind != tWord && t.kind != tString) {
		return "", t, p.errAt(t, "expected a value")
	}
	return t.text, t, nil
}

// integer reads the value of a numeric field: an integer, or for released also a date
// (YYYY-MM-DD, read as its day number).
func (p *parser) integer(field string) (int64, error) {
	s, t, err := p.word()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		return v, nil
	}
	if field == "released" {
		v, derr := ParseReleasedDate(s)
		if derr != nil {
			return 0, p.errAt(t, "%q is neither a date (YYYY-MM-DD) nor a day number", s)
		}
		return v, nil
	}
	return 0, p.errAt(t, "%q is not an integer (money is in minor units)", s)
}

// pred reads one predicate after its field name: tag = <name>, <field> in (...), <field>
// between <lo> and <hi>, or <field> <op> <value>.
func (p *parser) pred(field token) (Expr, error) {
	name := strings.ToLower(field.text)
	if name == "tag" {
		return p.tagPred()
	}
	kind, _, err := lookupField(name)
	if err != nil {
		return Expr{}, p.errAt(field, "%v", err)
	}
	numeric := 0 // what one value or bound counts of MaxRanges
	if kind == Numeric {
		numeric = 1
	}
	op, ok := p.next()
	if !ok {
		return Expr{}, p.errAt(op, "expected an operator after %s", field.text)
	}
	if op.kind == tWord && strings.EqualFold(op.text, "in") {
		return p.inList(name, numeric)
	}
	if op.kind == tWord && strings.EqualFold(op.text, "between") {
		return p.between(name, kind, op)
	}
	if op.kind != tOp {
		return Expr{}, p.errAt(op, "expected an operator after %s, got %q", field.text, op.text)
	}
	if err := p.n.add(1, numeric); err != nil {
		return Expr{}, err
	}
	return p.comparison(name, kind, op)
}

// tagPred reads the rest of tag = <name>.
func (p *parser) tagPred() (Expr, error) {
	op, ok := p.next()
	if !ok || op.kind != tOp || op.text != "=" {
		return Expr{}, p.errAt(op, "expected tag = <name>")
	}
	v, _, err := p.word()
	if err != nil {
		return Expr{}, err
	}
	return Tag(v), p.n.add(1, 0)
}

// inList reads the value list of <name> in (v1, v2, ...); each value counts one node and, for
// a numeric field, one range.
func (p *parser) inList(name string, numeric int) (Expr, error) {
	if c, ok := p.next(); !ok || c.kind != tLParen {
		return Expr{}, p.errAt(c, "expected ( after in")
	}
	var vals []string
	for {
		v, _, err := p.word()
		if err != nil {
			return Expr{}, err
		}
		if err := p.n.add(1, numeric); err != nil {
			return Expr{}, err
		}
		vals = append(vals, v)
		c, ok := p.next()
		if !ok {
			return Expr{}, p.errAt(c, "missing )")
		}
		if c.kind == tRParen {
			break
		}
		if c.kind != tComma {
			return Expr{}, p.errAt(c, "expected , or )")
		}
	}
	return Attr(name, vals...), nil
}

// between reads the bounds of <name> between <lo> and <hi>, for a numeric field.
func (p *parser) between(name string, kind FieldKind, op token) (Expr, error) {
	if kind != Numeric {
		return Expr{}, p.errAt(op, "%s is categorical: between needs a numeric field", name)
	}
	lo, err := p.integer(name)
	if err != nil {
		return Expr{}, err
	}
	if !p.peekKeyword("and") {
		t, _ := p.next()
		return Expr{}, p.errAt(t, "expected and in between")
	}
	p.has = false
	hi, err := p.integer(name)
	if err != nil {
		return Expr{}, err
	}
	return Range(name, lo, hi), p.n.add(1, 1)
}

// comparison reads the value of <name> <op> <value>: = and != for any field, the orderings
// for a numeric one.
func (p *parser) comparison(name string, kind FieldKind, op token) (Expr, error) {
	switch op.text {
	case "=", "!=":
		var e Expr
		if kind == Numeric {
			v, err := p.integer(name)
			if err != nil {
				return Expr{}, err
			}
			e = Range(name, v, v)
		} else {
			v, _, err := p.word()
			if err != nil {
				return Expr{}, err
			}
			e = Attr(name, v)
		}
		if op.text == "!=" {
			return Not(e), p.n.add(1, 0)
		}
		return e, nil
	}
	if kind != Numeric {
		return Expr{}, p.errAt(op, "%s is categorical: use = or in", name)
	}
	v, err := p.integer(name)
	if err != nil {
		return Expr{}, err
	}
	switch op.text {
	case "<":
		return Below(name, v), nil
	case "<=":
		return AtMost(name, v), nil
	case ">":
		return Above(name, v), nil
	case ">=":
		return AtLeast(name, v), nil
	}
	return Expr{}, p.errAt(op, "unknown operator %q", op.text)
}

var _ = math.MaxInt64

package filter

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrInvalid is wrapped by every error Compile and Validate return, so
// callers can answer 400 with errors.Is.
var ErrInvalid = errors.New("invalid filter")

// maxDepth bounds nesting so a hostile expression cannot exhaust the stack.
const maxDepth = 64

type op int

const (
	opEqual op = iota
	opNotEqual
	opIn       // value in selector
	opNotIn    // value not in selector
	opContains // selector contains value
	opNotContains
	opMatches
	opNotMatches
	opEmpty
	opNotEmpty
)

// node is one node of the parsed expression tree.
type node struct {
	// and / or / not, or a leaf when kind == "match"
	kind     string
	children []*node

	sel   []string
	op    op
	value string
	re    *regexp.Regexp
}

// Expr is a compiled filter expression; it is safe for concurrent use.
type Expr struct {
	src  string
	root *node
}

// String returns the source text.
func (e *Expr) String() string { return e.src }

type parser struct {
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func isKeyword(t token, kw string) bool {
	return t.kind == tokWord && strings.EqualFold(t.text, kw)
}

func (p *parser) errf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Compile parses expr. An empty expression yields a nil *Expr, which
// matches everything.
func Compile(expr string) (*Expr, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	toks, err := lex(expr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	p := &parser{toks: toks}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errf("unexpected %s at position %d", t, t.pos)
	}
	return &Expr{src: expr, root: root}, nil
}

func (p *parser) parseOr() (*node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.errf("expression nested too deeply")
	}
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for isKeyword(p.peek(), "or") {
		p.next()
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = &node{kind: "or", children: []*node{left, right}}
	}
	return left, nil
}

func (p *parser) parseAnd() (*node, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for isKeyword(p.peek(), "and") {
		p.next()
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		left = &node{kind: "and", children: []*node{left, right}}
	}
	return left, nil
}

func (p *parser) parseUnary() (*node, error) {
	t := p.peek()
	switch {
	case isKeyword(t, "not"):
		p.next()
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxDepth {
			return nil, p.errf("expression nested too deeply")
		}
		inner, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &node{kind: "not", children: []*node{inner}}, nil
	case t.kind == tokLParen:
		p.next()
		inner, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, p.errf("expected ')' at position %d, found %s", c.pos, c)
		}
		return inner, nil
	case t.kind == tokEOF:
		return nil, p.errf("unexpected end of expression, expected a match")
	}
	return p.parseMatch()
}

// valueFirst reports whether the match at the cursor is "value [not] in
// selector".
func (p *parser) valueFirst() bool {
	t := p.peek()
	if t.kind == tokString {
		return true
	}
	if t.kind != tokWord {
		return false
	}
	n := p.toks[p.i+1]
	if isKeyword(n, "in") {
		return true
	}
	if isKeyword(n, "not") && p.i+2 < len(p.toks) && isKeyword(p.toks[p.i+2], "in") {
		return true
	}
	return false
}

func (p *parser) parseMatch() (*node, error) {
	if p.valueFirst() {
		v := p.next()
		m := &node{kind: "match", value: v.text, op: opIn}
		if isKeyword(p.peek(), "not") {
			p.next()
			m.op = opNotIn
		}
		if t := p.next(); !isKeyword(t, "in") {
			return nil, p.errf("expected 'in' after value %s at position %d, found %s", v, t.pos, t)
		}
		sel, err := p.parseSelector()
		if err != nil {
			return nil, err
		}
		m.sel = sel
		return m, nil
	}
	sel, err := p.parseSelector()
	if err != nil {
		return nil, err
	}
	m := &node{kind: "match", sel: sel}
	t := p.next()
	switch {
	case t.kind == tokEq:
		m.op = opEqual
	case t.kind == tokNe:
		m.op = opNotEqual
	case isKeyword(t, "contains"):
		m.op = opContains
	case isKeyword(t, "matches"):
		m.op = opMatches
	case isKeyword(t, "is"):
		m.op = opEmpty
		if isKeyword(p.peek(), "not") {
			p.next()
			m.op = opNotEmpty
		}
		if e := p.next(); !isKeyword(e, "empty") {
			return nil, p.errf("expected 'empty' at position %d, found %s", e.pos, e)
		}
		return m, nil
	case isKeyword(t, "not"):
		n := p.next()
		switch {
		case isKeyword(n, "contains"):
			m.op = opNotContains
		case isKeyword(n, "matches"):
			m.op = opNotMatches
		default:
			return nil, p.errf("expected 'contains' or 'matches' after 'not' at position %d, found %s", n.pos, n)
		}
	default:
		return nil, p.errf("expected an operator (==, !=, contains, matches, is empty) after selector %q at position %d, found %s",
			strings.Join(sel, "."), t.pos, t)
	}
	v := p.next()
	if v.kind != tokString && v.kind != tokWord {
		return nil, p.errf("expected a value at position %d, found %s", v.pos, v)
	}
	if v.kind == tokWord && isReserved(v.text) {
		return nil, p.errf("expected a value at position %d, found keyword %s", v.pos, v)
	}
	m.value = v.text
	if m.op == opMatches || m.op == opNotMatches {
		re, err := regexp.Compile(v.text)
		if err != nil {
			return nil, p.errf("invalid regular expression %s: %v", v, err)
		}
		m.re = re
	}
	return m, nil
}

func isReserved(w string) bool {
	switch strings.ToLower(w) {
	case "and", "or", "not", "in", "contains", "matches", "is", "empty":
		return true
	}
	return false
}

// parseSelector reads a dotted path with optional ["key"] parts.
func (p *parser) parseSelector() ([]string, error) {
	t := p.next()
	if t.kind != tokWord || isReserved(t.text) {
		return nil, p.errf("expected a selector at position %d, found %s", t.pos, t)
	}
	var sel []string
	for _, part := range strings.Split(t.text, ".") {
		if part == "" {
			return nil, p.errf("empty path element in selector %q at position %d", t.text, t.pos)
		}
		sel = append(sel, part)
	}
	for p.peek().kind == tokLBrack {
		p.next()
		k := p.next()
		if k.kind != tokString && k.kind != tokWord {
			return nil, p.errf("expected a key inside [] at position %d, found %s", k.pos, k)
		}
		if c := p.next(); c.kind != tokRBrack {
			return nil, p.errf("expected ']' at position %d, found %s", c.pos, c)
		}
		sel = append(sel, k.text)
		// a dotted continuation after ] arrives as a word starting with '.'
		if n := p.peek(); n.kind == tokWord && strings.HasPrefix(n.text, ".") {
			p.next()
			for _, part := range strings.Split(n.text[1:], ".") {
				if part == "" {
					return nil, p.errf("empty path element in selector at position %d", n.pos)
				}
				sel = append(sel, part)
			}
		}
	}
	return sel, nil
}

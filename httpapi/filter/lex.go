package filter

import (
	"fmt"
	"strings"
)

type tokKind int

const (
	tokEOF tokKind = iota
	tokLParen
	tokRParen
	tokLBrack
	tokRBrack
	tokEq
	tokNe
	tokString // quoted
	tokWord   // bare identifier, selector, number or keyword
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokString:
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c == '/' || c == ':' ||
		(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// lex splits expr into tokens; it fails on unterminated strings and
// characters that have no place in the language.
func lex(expr string) ([]token, error) {
	var out []token
	i := 0
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, token{tokLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tokRParen, ")", i})
			i++
		case c == '[':
			out = append(out, token{tokLBrack, "[", i})
			i++
		case c == ']':
			out = append(out, token{tokRBrack, "]", i})
			i++
		case c == '=' || c == '!':
			if i+1 >= len(expr) || expr[i+1] != '=' {
				return nil, fmt.Errorf("unexpected character %q at position %d (did you mean %q?)", c, i, string(c)+"=")
			}
			if c == '=' {
				out = append(out, token{tokEq, "==", i})
			} else {
				out = append(out, token{tokNe, "!=", i})
			}
			i += 2
		case c == '"' || c == '`':
			start := i
			var sb strings.Builder
			i++
			closed := false
			for i < len(expr) {
				ch := expr[i]
				if ch == c {
					closed = true
					i++
					break
				}
				if ch == '\\' && c == '"' && i+1 < len(expr) {
					i++
					switch expr[i] {
					case 'n':
						sb.WriteByte('\n')
					case 't':
						sb.WriteByte('\t')
					default:
						sb.WriteByte(expr[i])
					}
					i++
					continue
				}
				sb.WriteByte(ch)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated string starting at position %d", start)
			}
			out = append(out, token{tokString, sb.String(), start})
		case isWordByte(c):
			start := i
			for i < len(expr) && isWordByte(expr[i]) {
				i++
			}
			out = append(out, token{tokWord, expr[start:i], start})
		default:
			return nil, fmt.Errorf("unexpected character %q at position %d", c, i)
		}
	}
	out = append(out, token{tokEOF, "", len(expr)})
	return out, nil
}

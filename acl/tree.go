package acl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"
	hclparser "github.com/hashicorp/hcl/hcl/parser"
	"github.com/hashicorp/hcl/hcl/token"
)

// The rules are read into a small tree of objects, strings and lists, each
// node knowing its line, so that HCL and JSON share one interpretation and
// every error can name where it is. HCL's `key_prefix "a" { ... }` becomes
// key_prefix: { "a": { ... } }, the shape of the JSON form.

type kind int

const (
	kindOther kind = iota // numbers, booleans, null
	kindString
	kindObject
	kindList
)

type node struct {
	kind   kind
	line   int
	str    string
	fields []field // kindObject, in source order; a key may repeat
	list   []*node // kindList
}

type field struct {
	key  string
	line int
	val  *node
}

// maxDepth bounds nesting; real rules nest three deep.
const maxDepth = 32

// parseHCL reads HCL rules. It recovers a panic in hcl's parser: rules
// arrive from any API caller, and a parser fault must be a 400, not a dead
// server.
func parseHCL(rules string) (root *node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, &ParseError{Line: 1, Msg: fmt.Sprintf("malformed rules: parser failed: %v", r)}
		}
	}()
	f, err := hcl.ParseString(rules)
	if err != nil {
		var pe *hclparser.PosError
		if errors.As(err, &pe) {
			return nil, &ParseError{Line: max(pe.Pos.Line, 1), Msg: "malformed rules: " + pe.Err.Error()}
		}
		return nil, &ParseError{Line: 1, Msg: "malformed rules: " + err.Error()}
	}
	list, ok := f.Node.(*ast.ObjectList)
	if !ok {
		return nil, &ParseError{Line: 1, Msg: "malformed rules: expected resource rules"}
	}
	return fromHCLList(list, 1, 0)
}

func fromHCLList(list *ast.ObjectList, line, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, &ParseError{Line: line, Msg: "malformed rules: nested too deeply"}
	}
	obj := &node{kind: kindObject, line: line}
	for _, item := range list.Items {
		if len(item.Keys) == 0 {
			return nil, &ParseError{Line: posLine(item.Pos()), Msg: "malformed rules: value without a name"}
		}
		val, err := fromHCL(item.Val, depth+1)
		if err != nil {
			return nil, err
		}
		// Fold extra keys into nested objects, innermost first.
		for i := len(item.Keys) - 1; i >= 1; i-- {
			k := item.Keys[i]
			val = &node{kind: kindObject, line: posLine(k.Pos()), fields: []field{{key: hclKey(k), line: posLine(k.Pos()), val: val}}}
		}
		k := item.Keys[0]
		obj.fields = append(obj.fields, field{key: hclKey(k), line: posLine(k.Pos()), val: val})
	}
	return obj, nil
}

func fromHCL(n ast.Node, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, &ParseError{Line: posLine(n.Pos()), Msg: "malformed rules: nested too deeply"}
	}
	switch v := n.(type) {
	case *ast.ObjectType:
		return fromHCLList(v.List, posLine(v.Lbrace), depth)
	case *ast.ListType:
		out := &node{kind: kindList, line: posLine(v.Lbrack)}
		for _, e := range v.List {
			c, err := fromHCL(e, depth+1)
			if err != nil {
				return nil, err
			}
			out.list = append(out.list, c)
		}
		return out, nil
	case *ast.LiteralType:
		out := &node{kind: kindOther, line: posLine(v.Token.Pos)}
		if v.Token.Type == token.STRING || v.Token.Type == token.HEREDOC {
			if s, ok := v.Token.Value().(string); ok {
				out.kind, out.str = kindString, s
			}
		}
		return out, nil
	}
	return &node{kind: kindOther, line: posLine(n.Pos())}, nil
}

// hclKey is the text of an object key, unquoted when it is a string.
func hclKey(k *ast.ObjectKey) string {
	if k.Token.Type == token.STRING {
		if s, ok := k.Token.Value().(string); ok {
			return s
		}
	}
	return k.Token.Text
}

func posLine(p token.Pos) int { return max(p.Line, 1) }

// parseJSON reads JSON rules with encoding/json's tokenizer, taking each
// line from the decoder's offset.
func parseJSON(rules string) (*node, error) {
	r := &jsonReader{src: rules, dec: json.NewDecoder(strings.NewReader(rules))}
	r.dec.UseNumber()
	root, err := r.value(0)
	if err != nil {
		return nil, err
	}
	if root.kind != kindObject {
		return nil, &ParseError{Line: root.line, Msg: "malformed rules: expected an object"}
	}
	if _, err := r.dec.Token(); err != io.EOF {
		return nil, &ParseError{Line: r.line(), Msg: "malformed rules: data after the top-level object"}
	}
	return root, nil
}

type jsonReader struct {
	src string
	dec *json.Decoder
}

// line is the line of the decoder's position (just past the last token).
func (r *jsonReader) line() int {
	off := min(max(r.dec.InputOffset(), 0), int64(len(r.src)))
	return strings.Count(r.src[:off], "\n") + 1
}

func (r *jsonReader) fail(err error) error {
	line := r.line()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off := min(max(se.Offset, 0), int64(len(r.src)))
		line = strings.Count(r.src[:off], "\n") + 1
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &ParseError{Line: line, Msg: "malformed rules: " + err.Error()}
}

func (r *jsonReader) value(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, &ParseError{Line: r.line(), Msg: "malformed rules: nested too deeply"}
	}
	tok, err := r.dec.Token()
	if err != nil {
		return nil, r.fail(err)
	}
	line := r.line()
	switch t := tok.(type) {
	case string:
		return &node{kind: kindString, line: line, str: t}, nil
	case json.Delim:
		switch t {
		case '{':
			obj := &node{kind: kindObject, line: line}
			for r.dec.More() {
				kt, err := r.dec.Token()
				if err != nil {
					return nil, r.fail(err)
				}
				key, ok := kt.(string)
				if !ok {
					return nil, &ParseError{Line: r.line(), Msg: "malformed rules: expected a key"}
				}
				kline := r.line()
				v, err := r.value(depth + 1)
				if err != nil {
					return nil, err
				}
				obj.fields = append(obj.fields, field{key: key, line: kline, val: v})
			}
			if _, err := r.dec.Token(); err != nil { // '}'
				return nil, r.fail(err)
			}
			return obj, nil
		case '[':
			list := &node{kind: kindList, line: line}
			for r.dec.More() {
				v, err := r.value(depth + 1)
				if err != nil {
					return nil, err
				}
				list.list = append(list.list, v)
			}
			if _, err := r.dec.Token(); err != nil { // ']'
				return nil, r.fail(err)
			}
			return list, nil
		}
	}
	return &node{kind: kindOther, line: line}, nil
}

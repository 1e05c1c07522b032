package filter

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"consulate/structs"
)

// printExpr writes n back as filter source, with the fewest parentheses
// that keep the tree (so the printed form never nests deeper than the
// input did). It exists to check parse → print → parse.
func printExpr(n *node) string {
	switch n.kind {
	case "or":
		// "or" is left-associative: a right child that is an "or" came
		// from parentheses.
		return printChild(n.children[0], "") + " or " + printChild(n.children[1], "or")
	case "and":
		return printChild(n.children[0], "and-left") + " and " + printChild(n.children[1], "and-right")
	case "not":
		c := n.children[0]
		if c.kind == "and" || c.kind == "or" {
			return "not (" + printExpr(c) + ")"
		}
		return "not " + printExpr(c)
	}
	sel := printSelector(n.sel)
	val := quote(n.value)
	switch n.op {
	case opEqual:
		return sel + " == " + val
	case opNotEqual:
		return sel + " != " + val
	case opIn:
		return val + " in " + sel
	case opNotIn:
		return val + " not in " + sel
	case opContains:
		return sel + " contains " + val
	case opNotContains:
		return sel + " not contains " + val
	case opMatches:
		return sel + " matches " + val
	case opNotMatches:
		return sel + " not matches " + val
	case opEmpty:
		return sel + " is empty"
	case opNotEmpty:
		return sel + " is not empty"
	}
	panic(fmt.Sprintf("unknown op %d", n.op))
}

func printChild(c *node, pos string) string {
	paren := false
	switch pos {
	case "or":
		paren = c.kind == "or"
	case "and-left":
		paren = c.kind == "or"
	case "and-right":
		paren = c.kind == "or" || c.kind == "and"
	}
	if paren {
		return "(" + printExpr(c) + ")"
	}
	return printExpr(c)
}

func isPlainPart(p string) bool {
	if p == "" {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '.' || !isWordByte(p[i]) {
			return false
		}
	}
	return true
}

// printSelector: the first part bare, then ".part" while parts are plain
// words, ["part"] otherwise.
func printSelector(sel []string) string {
	var sb strings.Builder
	sb.WriteString(sel[0])
	for _, p := range sel[1:] {
		if isPlainPart(p) {
			sb.WriteString("." + p)
		} else {
			sb.WriteString("[" + quote(p) + "]")
		}
	}
	return sb.String()
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// sameTree compares two parsed trees, ignoring compiled regexps.
func sameTree(a, b *node) bool {
	if a.kind != b.kind || a.op != b.op || a.value != b.value || !reflect.DeepEqual(a.sel, b.sel) || len(a.children) != len(b.children) {
		return false
	}
	for i := range a.children {
		if !sameTree(a.children[i], b.children[i]) {
			return false
		}
	}
	return true
}

// FuzzCompile feeds arbitrary ?filter= expressions to Compile.
// Invariants: no panic; errors wrap ErrInvalid (the API's 400); an
// expression that compiles prints back to source that compiles to the
// same tree; validating and matching it against the types the API
// filters never panics.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`Service.Service == "web"`, `"v1" in Service.Tags`, `v1 not in Service.Tags`,
		`Node.Meta["env"] == "prod" and Service.Port != 80`, `Node.Meta["a b"].x is not empty`,
		`not (Service.Service == "web" or Service.Service == "db")`, `Checks.Output matches "^conn.*"`,
		`Service.Meta.version not matches "^2" or Checks.Status not contains passing`,
		`a == b or c == d or (e == f and g == "h\"i")`, `not not a is empty`, "Key == `raw\\string`",
		strings.Repeat("(", 70) + `A == "b"` + strings.Repeat(")", 70), `x.y[z].w == 1`, `""`,
	} {
		f.Add(s)
	}
	csn := sampleCSN()
	samples := []any{csn, *csn.Node, *csn.Service, *csn.Checks[1],
		structs.DirEntry{Key: "k", Value: []byte("v"), Session: "s"},
		structs.ToServiceNode(csn.Node, csn.Service)}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Compile(src)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if e == nil {
			if strings.TrimSpace(src) != "" {
				t.Fatalf("non-empty %q compiled to nil", src)
			}
			return
		}
		printed := printExpr(e.root)
		e2, err := Compile(printed)
		if err != nil {
			t.Fatalf("%q printed as %q, which does not compile: %v", src, printed, err)
		}
		if !sameTree(e.root, e2.root) {
			t.Fatalf("%q printed as %q, which parses differently", src, printed)
		}
		for _, v := range samples {
			_ = e.Validate(reflect.TypeOf(v))
			_ = e.Match(v)
			_ = e.Match(&v)
		}
	})
}

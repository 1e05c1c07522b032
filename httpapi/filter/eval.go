package filter

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// fieldCache maps (struct type, selector part) to a field index; it is
// shared because types are few and fixed.
type fieldKey struct {
	t    reflect.Type
	name string
}

type fieldCache struct{ m sync.Map }

func (c *fieldCache) lookup(t reflect.Type, name string) ([]int, bool) {
	k := fieldKey{t, name}
	if v, ok := c.m.Load(k); ok {
		idx := v.([]int)
		return idx, idx != nil
	}
	idx := findField(t, name)
	c.m.Store(k, idx)
	return idx, idx != nil
}

// findField finds an exported field by Go name or JSON name,
// case-insensitively, exact matches first.
func findField(t reflect.Type, name string) []int {
	fields := reflect.VisibleFields(t)
	for pass := 0; pass < 2; pass++ {
		for _, f := range fields {
			if !f.IsExported() || f.Anonymous && f.Type.Kind() == reflect.Struct {
				continue
			}
			jsonName := strings.Split(f.Tag.Get("json"), ",")[0]
			if pass == 0 && (f.Name == name || jsonName == name) {
				return f.Index
			}
			if pass == 1 && (strings.EqualFold(f.Name, name) || (jsonName != "" && strings.EqualFold(jsonName, name))) {
				return f.Index
			}
		}
	}
	return nil
}

// Validate checks every selector of e against the type of the values it
// will be matched on (the element type for slices and maps), so a typo is
// reported before any data is read. A nil Expr is valid.
func (e *Expr) Validate(t reflect.Type) error {
	if e == nil {
		return nil
	}
	return e.validate(e.root, t)
}

func (e *Expr) validate(n *node, t reflect.Type) error {
	if n.kind != "match" {
		for _, c := range n.children {
			if err := e.validate(c, t); err != nil {
				return err
			}
		}
		return nil
	}
	cur := t
	for i, part := range n.sel {
		cur = indirectType(cur)
		for cur.Kind() == reflect.Slice || cur.Kind() == reflect.Array {
			cur = indirectType(cur.Elem())
		}
		switch cur.Kind() {
		case reflect.Struct:
			idx, ok := e.cache().lookup(cur, part)
			if !ok {
				return fmt.Errorf("%w: selector %q is not valid: %s has no field %q",
					ErrInvalid, strings.Join(n.sel, "."), typeName(cur), part)
			}
			cur = cur.FieldByIndex(idx).Type
		case reflect.Map:
			if cur.Key().Kind() != reflect.String {
				return fmt.Errorf("%w: selector %q is not valid: map keys are not strings", ErrInvalid, strings.Join(n.sel, "."))
			}
			cur = cur.Elem()
		case reflect.Interface:
			return nil // dynamic: checked at match time
		default:
			return fmt.Errorf("%w: selector %q is not valid: %q is a %s and has no fields",
				ErrInvalid, strings.Join(n.sel, "."), strings.Join(n.sel[:i], "."), cur.Kind())
		}
	}
	return nil
}

func typeName(t reflect.Type) string {
	if t.Name() != "" {
		return t.Name()
	}
	return t.String()
}

func indirectType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

var sharedCache fieldCache

func (e *Expr) cache() *fieldCache { return &sharedCache }

// Match evaluates e on v. A nil Expr matches everything.
func (e *Expr) Match(v any) bool {
	if e == nil {
		return true
	}
	return e.eval(e.root, reflect.ValueOf(v))
}

func (e *Expr) eval(n *node, v reflect.Value) bool {
	switch n.kind {
	case "and":
		return e.eval(n.children[0], v) && e.eval(n.children[1], v)
	case "or":
		return e.eval(n.children[0], v) || e.eval(n.children[1], v)
	case "not":
		return !e.eval(n.children[0], v)
	}
	vals := e.resolve(v, n.sel, nil)
	switch n.op {
	case opEqual:
		return anyValue(vals, func(x reflect.Value) bool { return equalsValue(x, n.value) })
	case opNotEqual:
		return !anyValue(vals, func(x reflect.Value) bool { return equalsValue(x, n.value) })
	case opIn, opContains:
		return anyValue(vals, func(x reflect.Value) bool { return containsValue(x, n.value) })
	case opNotIn, opNotContains:
		return !anyValue(vals, func(x reflect.Value) bool { return containsValue(x, n.value) })
	case opMatches:
		return anyValue(vals, func(x reflect.Value) bool { return matchesValue(x, n) })
	case opNotMatches:
		return !anyValue(vals, func(x reflect.Value) bool { return matchesValue(x, n) })
	case opEmpty:
		return !anyValue(vals, func(x reflect.Value) bool { return !isEmpty(x) })
	case opNotEmpty:
		return anyValue(vals, func(x reflect.Value) bool { return !isEmpty(x) })
	}
	return false
}

func anyValue(vals []reflect.Value, f func(reflect.Value) bool) bool {
	for _, v := range vals {
		if f(v) {
			return true
		}
	}
	return false
}

func indirect(v reflect.Value) reflect.Value {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// resolve follows path from v, fanning out over slices met before the
// path ends; a missing field or key yields no values.
func (e *Expr) resolve(v reflect.Value, path []string, out []reflect.Value) []reflect.Value {
	v = indirect(v)
	if !v.IsValid() {
		return out
	}
	if len(path) == 0 {
		return append(out, v)
	}
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			out = e.resolve(v.Index(i), path, out)
		}
		return out
	case reflect.Struct:
		idx, ok := e.cache().lookup(v.Type(), path[0])
		if !ok {
			return out
		}
		f, err := v.FieldByIndexErr(idx)
		if err != nil {
			return out
		}
		return e.resolve(f, path[1:], out)
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return out
		}
		mv := v.MapIndex(reflect.ValueOf(path[0]).Convert(v.Type().Key()))
		if !mv.IsValid() {
			return out
		}
		return e.resolve(mv, path[1:], out)
	}
	return out
}

// scalarString renders a scalar for comparison; ok is false for
// composite values.
func scalarString(v reflect.Value) (string, bool) {
	v = indirect(v)
	if !v.IsValid() {
		return "", false
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), true
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10), true
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64), true
	}
	return "", false
}

func equalsValue(v reflect.Value, want string) bool {
	v = indirect(v)
	if !v.IsValid() {
		return false
	}
	if v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
		for i := 0; i < v.Len(); i++ {
			if equalsValue(v.Index(i), want) {
				return true
			}
		}
		return false
	}
	s, ok := scalarString(v)
	if !ok {
		return false
	}
	if s == want {
		return true
	}
	if v.Kind() == reflect.Bool {
		return strings.EqualFold(s, want)
	}
	if v.Kind() == reflect.Float32 || v.Kind() == reflect.Float64 {
		f, err := strconv.ParseFloat(want, 64)
		return err == nil && f == v.Float()
	}
	return false
}

func containsValue(v reflect.Value, want string) bool {
	v = indirect(v)
	if !v.IsValid() {
		return false
	}
	switch v.Kind() {
	case reflect.String:
		return strings.Contains(v.String(), want)
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if equalsValue(v.Index(i), want) {
				return true
			}
		}
	case reflect.Map:
		if v.Type().Key().Kind() == reflect.String {
			return v.MapIndex(reflect.ValueOf(want).Convert(v.Type().Key())).IsValid()
		}
	}
	return false
}

func matchesValue(v reflect.Value, n *node) bool {
	v = indirect(v)
	if !v.IsValid() {
		return false
	}
	if v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
		for i := 0; i < v.Len(); i++ {
			if matchesValue(v.Index(i), n) {
				return true
			}
		}
		return false
	}
	s, ok := scalarString(v)
	return ok && n.re.MatchString(s)
}

func isEmpty(v reflect.Value) bool {
	v = indirect(v)
	if !v.IsValid() {
		return true
	}
	switch v.Kind() {
	case reflect.String, reflect.Slice, reflect.Array, reflect.Map:
		return v.Len() == 0
	}
	return false
}

// Slice returns the elements of in that e matches, in order; a nil Expr
// returns in unchanged.
func Slice[T any](e *Expr, in []T) []T {
	if e == nil {
		return in
	}
	out := make([]T, 0, len(in))
	for _, x := range in {
		if e.Match(x) {
			out = append(out, x)
		}
	}
	return out
}

// Map returns the entries of in whose values e matches; a nil Expr
// returns in unchanged.
func Map[K comparable, V any](e *Expr, in map[K]V) map[K]V {
	if e == nil {
		return in
	}
	out := make(map[K]V, len(in))
	for k, x := range in {
		if e.Match(x) {
			out[k] = x
		}
	}
	return out
}

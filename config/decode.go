package config

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

var (
	durationType = reflect.TypeOf(time.Duration(0))
	// lenientTypes match keys ignoring case and underscores, as Consul
	// does for service and check definitions (which may be written in the
	// HTTP API's CamelCase).
	lenientTypes = map[reflect.Type]bool{
		reflect.TypeOf(ServiceDef{}):     true,
		reflect.TypeOf(CheckDef{}):       true,
		reflect.TypeOf(Weights{}):        true,
		reflect.TypeOf(ServiceAddress{}): true,
	}
	// unsupportedKeys are Consul keys this agent knows and refuses with a
	// clear reason rather than "unknown key".
	unsupportedKeys = map[reflect.Type]map[string]string{
		reflect.TypeOf(Config{}): {
			"connect":  "Connect",
			"watches":  "config-file watches",
			"ui_dir":   "an external UI directory",
			"segments": "network segments",
		},
		reflect.TypeOf(CheckDef{}): {
			"grpc":                   "gRPC checks",
			"grpcusetls":             "gRPC checks",
			"dockercontainerid":      "Docker checks",
			"shell":                  "Docker checks",
			"aliasnode":              "alias checks",
			"aliasservice":           "alias checks",
			"h2ping":                 "H2PING checks",
			"udp":                    "UDP checks",
			"osservice":              "OS service checks",
			"successbeforepassing":   "check thresholds",
			"failuresbeforecritical": "check thresholds",
		},
	}
)

// fieldInfo is one decodable field of a struct.
type fieldInfo struct {
	index int
	name  string
}

// fieldsOf maps the accepted keys of struct type t to its fields.
func fieldsOf(t reflect.Type) map[string]fieldInfo {
	out := map[string]fieldInfo{}
	lenient := lenientTypes[t]
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		keys := []string{name}
		if a := f.Tag.Get("alias"); a != "" {
			keys = append(keys, strings.Split(a, ",")...)
		}
		for _, k := range keys {
			if lenient {
				k = normKey(k)
			}
			out[k] = fieldInfo{index: i, name: name}
		}
	}
	return out
}

// normKey folds case and drops '_' and '-' ("DeregisterCriticalServiceAfter"
// and "deregister_critical_service_after" are the same key).
func normKey(k string) string {
	k = strings.ToLower(k)
	return strings.NewReplacer("_", "", "-", "").Replace(k)
}

// decoder fills Config structs from the generic values JSON and HCL parse
// into, with errors naming the source and the key path.
type decoder struct {
	src string
}

func (d *decoder) fail(path string, err error) error {
	return &Error{Source: d.src, Key: path, Err: err}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// objects returns raw as a list of objects: JSON gives one map, HCL gives a
// list of maps for blocks (one per repeated block).
func objects(raw any) ([]map[string]any, bool) {
	switch v := raw.(type) {
	case map[string]any:
		return []map[string]any{v}, true
	case []map[string]any:
		return v, true
	case []any:
		var out []map[string]any
		for _, e := range v {
			objs, ok := objects(e)
			if !ok {
				return nil, false
			}
			out = append(out, objs...)
		}
		return out, true
	}
	return nil, false
}

// decodeStruct decodes one object into the struct v (addressable).
func (d *decoder) decodeStruct(path string, obj map[string]any, v reflect.Value) error {
	t := v.Type()
	fields := fieldsOf(t)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lenient := lenientTypes[t]
	for _, k := range keys {
		lookup := k
		if lenient {
			lookup = normKey(k)
		}
		fi, ok := fields[lookup]
		if !ok {
			kp := joinPath(path, k)
			if why, ok := unsupportedKeys[t][lookup]; ok {
				return d.fail(kp, unsupported("%s are not supported by consulate", why))
			}
			e := &Error{Source: d.src, Key: kp, Err: ErrUnknownKey}
			if s := suggest(lookup, fields); s != "" {
				e.Suggestion = joinPath(path, s)
			}
			return e
		}
		if obj[k] == nil {
			// JSON null leaves the key unset.
			continue
		}
		if err := d.decodeValue(joinPath(path, fi.name), obj[k], v.Field(fi.index)); err != nil {
			return err
		}
	}
	return nil
}

// decodeValue decodes raw into v according to v's type.
func (d *decoder) decodeValue(path string, raw any, v reflect.Value) error {
	t := v.Type()
	switch t.Kind() {
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct {
			objs, ok := objects(raw)
			if !ok {
				return d.fail(path, invalid("expected an object, got %s", describe(raw)))
			}
			if v.IsNil() {
				v.Set(reflect.New(t.Elem()))
			}
			for _, o := range objs {
				if err := d.decodeStruct(path, o, v.Elem()); err != nil {
					return err
				}
			}
			return nil
		}
		nv := reflect.New(t.Elem())
		if err := d.decodeScalar(path, raw, nv.Elem()); err != nil {
			return err
		}
		v.Set(nv)
		return nil
	case reflect.Struct:
		objs, ok := objects(raw)
		if !ok {
			return d.fail(path, invalid("expected an object, got %s", describe(raw)))
		}
		for _, o := range objs {
			if err := d.decodeStruct(path, o, v); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		return d.decodeSlice(path, raw, v)
	case reflect.Map:
		objs, ok := objects(raw)
		if !ok {
			return d.fail(path, invalid("expected an object, got %s", describe(raw)))
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		for _, o := range objs {
			keys := make([]string, 0, len(o))
			for k := range o {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				ev := reflect.New(t.Elem()).Elem()
				if err := d.decodeValue(joinPath(path, k), o[k], ev); err != nil {
					return err
				}
				v.SetMapIndex(reflect.ValueOf(k), ev)
			}
		}
		return nil
	}
	return d.decodeScalar(path, raw, v)
}

func (d *decoder) decodeSlice(path string, raw any, v reflect.Value) error {
	t := v.Type()
	if t.Elem().Kind() == reflect.Pointer && t.Elem().Elem().Kind() == reflect.Struct {
		objs, ok := objects(raw)
		if !ok {
			return d.fail(path, invalid("expected a list of objects, got %s", describe(raw)))
		}
		for i, o := range objs {
			ev := reflect.New(t.Elem().Elem())
			if err := d.decodeStruct(fmt.Sprintf("%s[%d]", path, i), o, ev.Elem()); err != nil {
				return err
			}
			v.Set(reflect.Append(v, ev))
		}
		return nil
	}
	var items []any
	switch r := raw.(type) {
	case []any:
		items = r
	case string:
		// A single value where a list is expected, as HCL users write it.
		items = []any{r}
	default:
		return d.fail(path, invalid("expected a list, got %s", describe(raw)))
	}
	out := reflect.MakeSlice(t, 0, len(items))
	for i, it := range items {
		ev := reflect.New(t.Elem()).Elem()
		if err := d.decodeScalar(fmt.Sprintf("%s[%d]", path, i), it, ev); err != nil {
			return err
		}
		out = reflect.Append(out, ev)
	}
	v.Set(out)
	return nil
}

// decodeScalar decodes a string, bool, int or duration.
func (d *decoder) decodeScalar(path string, raw any, v reflect.Value) error {
	if v.Type() == durationType {
		s, ok := raw.(string)
		if !ok {
			return d.fail(path, invalid("expected a duration like \"10s\", got %s", describe(raw)))
		}
		dur, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return d.fail(path, invalid("expected a duration like \"10s\", got %q", s))
		}
		v.SetInt(int64(dur))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			return d.fail(path, invalid("expected a string, got %s", describe(raw)))
		}
		v.SetString(s)
	case reflect.Bool:
		switch b := raw.(type) {
		case bool:
			v.SetBool(b)
		case string:
			pb, err := strconv.ParseBool(b)
			if err != nil {
				return d.fail(path, invalid("expected true or false, got %q", b))
			}
			v.SetBool(pb)
		default:
			return d.fail(path, invalid("expected true or false, got %s", describe(raw)))
		}
	case reflect.Float64:
		f, ok := toFloat(raw)
		if !ok {
			return d.fail(path, invalid("expected a number, got %s", describe(raw)))
		}
		v.SetFloat(f)
	case reflect.Int:
		n, ok := toInt(raw)
		if !ok {
			return d.fail(path, invalid("expected a number, got %s", describe(raw)))
		}
		v.SetInt(n)
	case reflect.Slice:
		// []string inside a map value (header: {"X": ["a"]}).
		return d.decodeSlice(path, raw, v)
	default:
		return d.fail(path, invalid("cannot decode %s", describe(raw)))
	}
	return nil
}

// toInt accepts whole numbers from JSON, HCL or a numeric string.
func toInt(raw any) (int64, bool) {
	var f float64
	switch n := raw.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		f = n
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, inIntRange(i)
		}
		pf, err := n.Float64()
		if err != nil {
			return 0, false
		}
		f = pf
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		if err != nil {
			return 0, false
		}
		return i, inIntRange(i)
	default:
		return 0, false
	}
	if f != math.Trunc(f) || f > math.MaxInt32 || f < math.MinInt32 {
		return 0, false
	}
	return int64(f), true
}

// toFloat accepts finite numbers from JSON, HCL or a numeric string.
func toFloat(raw any) (float64, bool) {
	var f float64
	switch n := raw.(type) {
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	case float64:
		f = n
	case json.Number:
		pf, err := n.Float64()
		if err != nil {
			return 0, false
		}
		f = pf
	case string:
		pf, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err != nil {
			return 0, false
		}
		f = pf
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func inIntRange(i int64) bool { return i >= math.MinInt32 && i <= math.MaxInt32 }

// describe renders a raw value for an error message.
func describe(raw any) string {
	switch v := raw.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case json.Number:
		return v.String()
	case bool, int, int64, float64:
		return fmt.Sprint(v)
	case map[string]any, []map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", raw)
}

// suggest returns the known key closest to an unknown one, if close.
func suggest(key string, fields map[string]fieldInfo) string {
	best, bestD := "", 3
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		names = append(names, f.name)
	}
	sort.Strings(names)
	for _, n := range names {
		if dd := levenshtein(normKey(key), normKey(n)); dd < bestD {
			best, bestD = n, dd
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// reflect0 is the addressable struct behind c.
func reflect0(c *Config) reflect.Value { return reflect.ValueOf(c).Elem() }

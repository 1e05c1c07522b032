package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// addConfigSeeds adds the checked-in example configs of one format.
func addConfigSeeds(f *testing.F, ext string) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*."+ext))
	more, _ := filepath.Glob(filepath.Join("testdata", "dir", "*."+ext))
	for _, p := range append(paths, more...) {
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// fuzzConfig checks one format. Invariants: no panic; every error is a
// *Error (naming the source); a source that parses survives being
// written back out as JSON (Consul's keys) and parsed again unchanged;
// and building a runtime from it either works or fails with an *Error.
func fuzzConfig(t *testing.T, data []byte, format string) {
	c, err := Parse("fuzz."+format, data, format)
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("parse error is not a *config.Error: %v", err)
		}
		return
	}
	out, err := json.Marshal(toRaw(reflect.ValueOf(c)))
	if err != nil {
		t.Fatalf("parsed config does not marshal: %v", err)
	}
	c2, err := Parse("again.json", out, "json")
	if err != nil {
		t.Fatalf("%s parsed, but its JSON form does not:\n%s\n%v", format, out, err)
	}
	if !reflect.DeepEqual(c, c2) {
		out2, _ := json.Marshal(toRaw(reflect.ValueOf(c2)))
		t.Fatalf("JSON form parses differently:\n%s\n%s", out, out2)
	}
	// Build with -dev so nothing depends on this host's interfaces.
	if _, err := Load(LoadOpts{Dev: true, Sources: []Source{{Kind: SourceData, Path: "fuzz." + format, Data: data, Format: format}}}); err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("load error is not a *config.Error: %v", err)
		}
	}
}

// FuzzConfigJSON fuzzes JSON config files.
func FuzzConfigJSON(f *testing.F) {
	addConfigSeeds(f, "json")
	f.Add([]byte(`{"services":[{"name":"web","port":80,"checks":[{"ttl":"10s"}]}],"ports":{"dns":-1}}`))
	f.Add([]byte(`{"retry_interval": 5000000000, "node_meta": {"a": "b"}}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzConfig(t, data, "json") })
}

// FuzzConfigHCL fuzzes HCL config files.
func FuzzConfigHCL(f *testing.F) {
	addConfigSeeds(f, "hcl")
	f.Add([]byte("service { name = \"web\" port = 80 }\nservice { name = \"db\" }\n"))
	f.Add([]byte("check { id = \"c\" ttl = \"5s\" }\nlimits { http_max_conns_per_client = 10 }\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzConfig(t, data, "hcl") })
}

// toRaw writes a parsed Config back in the shape a config file has:
// Consul's keys (the json tags), durations as strings ("10s"), unset
// fields left out and empty lists and maps kept.
func toRaw(v reflect.Value) any {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return toRaw(v.Elem())
	case reflect.Struct:
		out := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			fv := v.Field(i)
			if (fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.IsNil() {
				continue
			}
			out[name] = toRaw(fv)
		}
		return out
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = toRaw(v.Index(i))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for _, k := range v.MapKeys() {
			out[k.String()] = toRaw(v.MapIndex(k))
		}
		return out
	}
	return v.Interface()
}

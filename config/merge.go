package config

import (
	"reflect"
	"strings"
)

// origins records which source last set each key path, so errors found
// after merging still name a file.
type origins map[string]string

// merge folds src into dst the way Consul merges config sources: a set
// pointer replaces, nested stanzas merge field by field, lists append and
// maps overlay key by key. name is src's source name for origins.
func merge(dst, src *Config, name string, og origins) {
	mergeStruct("", reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem(), name, og)
}

func mergeStruct(path string, dst, src reflect.Value, name string, og origins) {
	t := dst.Type()
	for i := 0; i < t.NumField(); i++ {
		if !t.Field(i).IsExported() {
			continue
		}
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		kp := joinPath(path, key)
		d, s := dst.Field(i), src.Field(i)
		switch s.Kind() {
		case reflect.Pointer:
			if s.IsNil() {
				continue
			}
			if s.Elem().Kind() == reflect.Struct && !lenientTypes[s.Elem().Type()] {
				if d.IsNil() {
					d.Set(reflect.New(s.Elem().Type()))
				}
				mergeStruct(kp, d.Elem(), s.Elem(), name, og)
				continue
			}
			d.Set(s)
			og[kp] = name
		case reflect.Slice:
			if s.Len() == 0 {
				continue
			}
			d.Set(reflect.AppendSlice(reflect.MakeSlice(d.Type(), 0, d.Len()+s.Len()), d))
			d.Set(reflect.AppendSlice(d, s))
			og[kp] = name
		case reflect.Map:
			if s.Len() == 0 {
				continue
			}
			nm := reflect.MakeMap(d.Type())
			for _, k := range d.MapKeys() {
				nm.SetMapIndex(k, d.MapIndex(k))
			}
			for _, k := range s.MapKeys() {
				nm.SetMapIndex(k, s.MapIndex(k))
			}
			d.Set(nm)
			og[kp] = name
		}
	}
}

package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl"
)

// SourceKind says what a Source names.
type SourceKind int

// Source kinds.
const (
	// SourceFile is one file (-config-file).
	SourceFile SourceKind = iota
	// SourceDir is a directory whose .json and .hcl files load in lexical
	// order (-config-dir).
	SourceDir
	// SourceData is in-memory content; Path is only its display name.
	SourceData
)

func (k SourceKind) String() string {
	switch k {
	case SourceFile:
		return "file"
	case SourceDir:
		return "dir"
	case SourceData:
		return "data"
	}
	return "unknown"
}

// Source is one configuration source, in command-line order.
type Source struct {
	Kind SourceKind
	Path string
	// Data is the content of a SourceData source.
	Data []byte
	// Format is "json" or "hcl"; empty picks it from the file extension
	// (or LoadOpts.Format).
	Format string
}

// LoadOpts lists what Load merges, lowest precedence first: Consul's
// defaults, the -dev defaults (when Dev), Sources in order, then Flags.
type LoadOpts struct {
	// Sources are -config-file and -config-dir values in the order given.
	Sources []Source
	// Format is -config-format: when set, every file (whatever its
	// extension) is read in this format.
	Format string
	// Flags holds the values set on the command line; they win over files.
	Flags *Config
	// Dev is -dev: an in-memory server that bootstraps itself.
	Dev bool
}

// namedConfig is one decoded source.
type namedConfig struct {
	name string
	cfg  *Config
}

// Load reads, merges, defaults and validates the configuration.
func Load(opts LoadOpts) (*Runtime, error) {
	if opts.Format != "" && opts.Format != "json" && opts.Format != "hcl" {
		return nil, &Error{Key: "config-format", Err: invalid("must be \"json\" or \"hcl\", got %q", opts.Format)}
	}
	var srcs []namedConfig
	if opts.Dev {
		srcs = append(srcs, namedConfig{"dev", devConfig()})
	}
	for _, s := range opts.Sources {
		cs, err := readSource(s, opts.Format)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, cs...)
	}
	if opts.Flags != nil {
		srcs = append(srcs, namedConfig{"flags", opts.Flags})
	}
	return build(srcs, opts.Dev)
}

// Parse decodes one source's content; name is used in errors and format
// is "json" or "hcl".
func Parse(name string, data []byte, format string) (*Config, error) {
	var raw map[string]any
	switch format {
	case "json":
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return nil, &Error{Source: name, Err: fmt.Errorf("%w: %s", ErrParse, jsonErr(data, err))}
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, &Error{Source: name, Err: fmt.Errorf("%w: unexpected data after the top-level object", ErrParse)}
		}
		if raw == nil {
			return nil, &Error{Source: name, Err: fmt.Errorf("%w: top level must be an object", ErrParse)}
		}
	case "hcl":
		if err := hcl.Decode(&raw, string(data)); err != nil {
			return nil, &Error{Source: name, Err: fmt.Errorf("%w: %v", ErrParse, err)}
		}
	default:
		return nil, &Error{Source: name, Err: invalid("unknown format %q (want json or hcl)", format)}
	}
	// A repeated HCL "service"/"check" block means several definitions.
	for single, plural := range map[string]string{"service": "services", "check": "checks"} {
		if objs, ok := objects(raw[single]); ok && len(objs) > 1 {
			delete(raw, single)
			list := []any{}
			if prev, ok := objects(raw[plural]); ok {
				for _, p := range prev {
					list = append(list, p)
				}
			}
			for _, o := range objs {
				list = append(list, o)
			}
			raw[plural] = list
		}
	}
	c := &Config{}
	d := &decoder{src: name}
	if err := d.decodeStruct("", raw, reflect0(c)); err != nil {
		return nil, err
	}
	c.warnings = d.warns
	return c, nil
}

// jsonErr adds a line and column to a JSON syntax error.
func jsonErr(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return err.Error()
	}
	// Offset counts the bytes read, including the offending one.
	if off > 0 {
		off--
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf("line %d, column %d: %v", line, col, err)
}

func formatOf(path, forced string) string {
	if forced != "" {
		return forced
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return "json"
	case ".hcl":
		return "hcl"
	}
	return ""
}

// readSource reads a file, a directory or in-memory data.
func readSource(s Source, forced string) ([]namedConfig, error) {
	if s.Format != "" {
		forced = s.Format
	}
	switch s.Kind {
	case SourceData:
		f := formatOf(s.Path, forced)
		if f == "" {
			f = "json"
		}
		c, err := Parse(s.Path, s.Data, f)
		if err != nil {
			return nil, err
		}
		return []namedConfig{{s.Path, c}}, nil
	case SourceFile, SourceDir:
	default:
		return nil, &Error{Source: s.Path, Err: invalid("unknown source kind %d", s.Kind)}
	}
	fi, err := os.Stat(s.Path)
	if err != nil {
		return nil, &Error{Source: s.Path, Err: err}
	}
	if !fi.IsDir() {
		f := formatOf(s.Path, forced)
		if f == "" {
			return nil, &Error{Source: s.Path, Err: invalid("cannot tell the format from the extension (want .json or .hcl, or set -config-format)")}
		}
		return readFile(s.Path, f)
	}
	if s.Kind == SourceFile {
		// Consul loads a directory given to -config-file like -config-dir.
		s.Kind = SourceDir
	}
	entries, err := os.ReadDir(s.Path)
	if err != nil {
		return nil, &Error{Source: s.Path, Err: err}
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var out []namedConfig
	for _, n := range names {
		p := filepath.Join(s.Path, n)
		st, err := os.Stat(p) // follows symlinks
		if err != nil {
			return nil, &Error{Source: p, Err: err}
		}
		if st.IsDir() || !st.Mode().IsRegular() {
			continue
		}
		f := formatOf(p, forced)
		if f == "" {
			continue
		}
		cs, err := readFile(p, f)
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

func readFile(path, format string) ([]namedConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Source: path, Err: err}
	}
	c, err := Parse(path, data, format)
	if err != nil {
		return nil, err
	}
	return []namedConfig{{path, c}}, nil
}

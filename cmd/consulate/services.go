package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) servicesCommand() *cli.Command {
	return &cli.Command{
		Name:  "services",
		Usage: "Interact with services registered with the local agent",
		Subcommands: []*cli.Command{
			e.servicesRegisterCommand(),
			e.servicesDeregisterCommand(),
		},
	}
}

func (e *env) servicesRegisterCommand() *cli.Command {
	return &cli.Command{
		Name:      "register",
		Usage:     "Register services with the local agent, from flags or definition files",
		ArgsUsage: "[FILE...]",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "service name"},
			&cli.StringFlag{Name: "id", Usage: "service ID (default: the name)"},
			&cli.StringFlag{Name: "address", Usage: "service address (default: the node's)"},
			&cli.IntFlag{Name: "port", Usage: "service port"},
			&cli.StringSliceFlag{Name: "tag", Usage: "service tag (repeatable)"},
			&cli.StringSliceFlag{Name: "meta", Usage: "service metadata key=value (repeatable)"},
		}),
		Action: e.servicesRegister,
	}
}

func (e *env) servicesRegister(c *cli.Context) error {
	var svcs []*api.AgentServiceRegistration
	flagged := c.String("name") != "" || c.String("id") != "" || c.String("address") != "" ||
		c.IsSet("port") || len(c.StringSlice("tag")) > 0 || len(c.StringSlice("meta")) > 0
	switch {
	case flagged && c.NArg() > 0:
		return fmt.Errorf("Error! Give either service flags or definition files, not both")
	case flagged:
		if c.String("name") == "" {
			return fmt.Errorf("Error! -name is required when registering from flags")
		}
		if p := c.Int("port"); p < 0 || p > 65535 {
			return fmt.Errorf("Error! -port %d is out of range", p)
		}
		meta, err := parseKVList("meta", c.StringSlice("meta"))
		if err != nil {
			return err
		}
		svcs = append(svcs, &api.AgentServiceRegistration{
			ID:      c.String("id"),
			Name:    c.String("name"),
			Address: c.String("address"),
			Port:    c.Int("port"),
			Tags:    c.StringSlice("tag"),
			Meta:    meta,
		})
	case c.NArg() > 0:
		for _, path := range c.Args().Slice() {
			defs, err := readServiceFile(path)
			if err != nil {
				return err
			}
			svcs = append(svcs, defs...)
		}
	default:
		return fmt.Errorf("Error! Give -name (and other service flags) or one or more definition files")
	}

	cl, err := e.client(c)
	if err != nil {
		return err
	}
	for _, s := range svcs {
		if err := cl.Agent().ServiceRegisterOpts(s, api.ServiceRegisterOpts{}.WithContext(c.Context)); err != nil {
			return fmt.Errorf("Error registering service %q: %w", s.Name, err)
		}
		fmt.Fprintf(e.stdout, "Registered service: %s\n", s.Name)
	}
	return nil
}

func (e *env) servicesDeregisterCommand() *cli.Command {
	return &cli.Command{
		Name:      "deregister",
		Usage:     "Deregister services from the local agent, by ID or definition files",
		ArgsUsage: "[FILE...]",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.StringFlag{Name: "id", Usage: "ID of the service to deregister"},
		}),
		Action: func(c *cli.Context) error {
			var ids []string
			switch id := c.String("id"); {
			case id != "" && c.NArg() > 0:
				return fmt.Errorf("Error! Give either -id or definition files, not both")
			case id != "":
				ids = []string{id}
			case c.NArg() > 0:
				for _, path := range c.Args().Slice() {
					defs, err := readServiceFile(path)
					if err != nil {
						return err
					}
					for _, d := range defs {
						if d.ID != "" {
							ids = append(ids, d.ID)
						} else {
							ids = append(ids, d.Name)
						}
					}
				}
			default:
				return fmt.Errorf("Error! Give -id or one or more definition files")
			}
			cl, err := e.client(c)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if err := cl.Agent().ServiceDeregisterOpts(id, (&api.QueryOptions{}).WithContext(c.Context)); err != nil {
					return fmt.Errorf("Error deregistering service %q: %w", id, err)
				}
				fmt.Fprintf(e.stdout, "Deregistered service: %s\n", id)
			}
			return nil
		},
	}
}

// parseKVList turns repeated key=value flags into a map.
func parseKVList(flag string, vals []string) (map[string]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(vals))
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("Error! Invalid -%s %q: want key=value", flag, v)
		}
		m[k] = val
	}
	return m, nil
}

// readServiceFile reads a service definition in the agent's config-file
// shape: {"service": {...}} or {"services": [...]}, snake_case or
// CamelCase keys.
func readServiceFile(path string) ([]*api.AgentServiceRegistration, error) {
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".hcl" {
		return nil, fmt.Errorf("Error! %s: HCL service definitions are not supported yet; use JSON", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("Error! Failed to read %s: %w", path, err)
	}
	defs, err := parseServiceDefs(data)
	if err != nil {
		return nil, fmt.Errorf("Error! %s: %w", path, err)
	}
	return defs, nil
}

// parseServiceDefs decodes the JSON of a service definition file.
func parseServiceDefs(data []byte) ([]*api.AgentServiceRegistration, error) {
	var raw any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	top, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON object with a \"service\" or \"services\" key")
	}
	var items []any
	for k, v := range top {
		switch normKey(k) {
		case "service":
			items = append(items, v)
		case "services":
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("\"services\" must be an array")
			}
			items = append(items, list...)
		default:
			return nil, fmt.Errorf("unexpected top-level key %q (want \"service\" or \"services\")", k)
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("no service definitions found")
	}
	out := make([]*api.AgentServiceRegistration, 0, len(items))
	for i, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("service %d: want a JSON object", i)
		}
		b, err := json.Marshal(canonService(obj))
		if err != nil {
			return nil, fmt.Errorf("service %d: %w", i, err)
		}
		var reg api.AgentServiceRegistration
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		if err := d.Decode(&reg); err != nil {
			return nil, fmt.Errorf("service %d: %w", i, err)
		}
		if reg.Name == "" {
			return nil, fmt.Errorf("service %d: missing \"name\"", i)
		}
		out = append(out, &reg)
	}
	return out, nil
}

// normKey folds snake_case onto the client's CamelCase field names:
// encoding/json matches field names case-insensitively, so dropping the
// underscores is enough ("enable_tag_override" → "enabletagoverride").
func normKey(k string) string {
	return strings.ToLower(strings.ReplaceAll(k, "_", ""))
}

// opaqueKey reports whether a (normalized) key holds a map whose keys are
// chosen by the user and must not be rewritten.
func opaqueKey(nk string) bool {
	switch nk {
	case "meta", "taggedaddresses", "header", "config":
		return true
	}
	return false
}

// canonService rewrites the keys of a service object for decoding into
// api.AgentServiceRegistration.
func canonService(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		nk := normKey(k)
		switch {
		case opaqueKey(nk):
			out[nk] = v
		case nk == "check":
			if m, ok := v.(map[string]any); ok {
				v = canonCheck(m)
			}
			out[nk] = v
		case nk == "checks":
			if list, ok := v.([]any); ok {
				for i, c := range list {
					if m, ok := c.(map[string]any); ok {
						list[i] = canonCheck(m)
					}
				}
			}
			out[nk] = v
		default:
			out[nk] = canonAny(v)
		}
	}
	return out
}

// canonCheck rewrites a check object; the agent file format calls a few
// fields differently from the client struct.
func canonCheck(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		nk := normKey(k)
		switch nk {
		case "id":
			nk = "checkid"
		case "args":
			nk = "scriptargs"
		}
		if opaqueKey(nk) {
			out[nk] = v
			continue
		}
		out[nk] = canonAny(v)
	}
	return out
}

// canonAny rewrites nested objects (weights, connect, proxy, ...).
func canonAny(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return canonService(t)
	case []any:
		for i := range t {
			t[i] = canonAny(t[i])
		}
		return t
	}
	return v
}

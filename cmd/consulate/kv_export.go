package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"
)

// kvEntry is one element of the JSON array `kv export` prints and
// `kv import` reads; the shape is Consul's, values base64-encoded.
type kvEntry struct {
	Key   string `json:"key"`
	Flags uint64 `json:"flags"`
	Value string `json:"value"`
}

func (e *env) kvExportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "Exports a tree from the KV store as JSON",
		ArgsUsage: "[PREFIX]",
		Flags:     kvFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return fmt.Errorf("Too many arguments (expected 0 or 1, got %d)", c.NArg())
			}
			prefix := trimKey(c.Args().First())
			cl, err := e.client(c)
			if err != nil {
				return err
			}
			pairs, _, err := cl.KV().List(prefix, queryOpts(c))
			if err != nil {
				return fmt.Errorf("Error querying Consul agent: %w", err)
			}
			entries := make([]kvEntry, 0, len(pairs))
			for _, p := range pairs {
				entries = append(entries, kvEntry{Key: p.Key, Flags: p.Flags, Value: base64.StdEncoding.EncodeToString(p.Value)})
			}
			out, err := json.MarshalIndent(entries, "", "\t")
			if err != nil {
				return fmt.Errorf("Error exporting KV data: %w", err)
			}
			fmt.Fprintln(e.stdout, string(out))
			return nil
		},
	}
}

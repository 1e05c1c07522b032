package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) kvImportCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "Imports a tree stored as JSON to the KV store",
		ArgsUsage: "[DATA|@FILE|-]",
		Flags: kvFlags(
			&cli.StringFlag{Name: "prefix", Usage: "prepend this to every imported key"},
		),
		Action: e.kvImport,
	}
}

func (e *env) kvImport(c *cli.Context) error {
	var arg string
	switch c.NArg() {
	case 0:
		arg = "-" // like Consul: no argument reads standard input
	case 1:
		arg = c.Args().First()
		if arg == "" {
			return fmt.Errorf("Empty DATA argument")
		}
	default:
		return fmt.Errorf("Too many arguments (expected 1, got %d)", c.NArg())
	}
	data, err := e.readData(arg)
	if err != nil {
		return err
	}
	var entries []kvEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return fmt.Errorf("Cannot unmarshal data: %w", err)
	}
	// Decode everything before writing anything, so bad input leaves the
	// store untouched.
	pairs := make([]*api.KVPair, 0, len(entries))
	for _, ent := range entries {
		v, err := base64.StdEncoding.DecodeString(ent.Value)
		if err != nil {
			return fmt.Errorf("Error base 64 decoding value for key %s: %w", ent.Key, err)
		}
		key := c.String("prefix") + ent.Key
		if key == "" {
			return fmt.Errorf("Error! Entry with an empty key")
		}
		pairs = append(pairs, &api.KVPair{Key: key, Flags: ent.Flags, Value: v})
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if _, err := cl.KV().Put(p, writeOpts(c)); err != nil {
			return fmt.Errorf("Error! Failed writing data for key %s: %w", p.Key, err)
		}
		fmt.Fprintf(e.stdout, "Imported: %s\n", p.Key)
	}
	return nil
}

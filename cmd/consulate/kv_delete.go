package main

import (
	"fmt"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) kvDeleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "Removes data from the KV store",
		ArgsUsage: "KEY_OR_PREFIX",
		Flags: kvFlags(
			&cli.BoolFlag{Name: "recurse", Usage: "delete every key under the prefix"},
			&cli.BoolFlag{Name: "cas", Usage: "delete only if the key's modify index equals -modify-index"},
			&cli.Uint64Flag{Name: "modify-index", Usage: "the index -cas compares against"},
		),
		Action: e.kvDelete,
	}
}

func (e *env) kvDelete(c *cli.Context) error {
	if c.NArg() > 1 {
		return fmt.Errorf("Too many arguments (expected 1, got %d)", c.NArg())
	}
	key := trimKey(c.Args().First())
	recurse, cas := c.Bool("recurse"), c.Bool("cas")
	switch {
	case key == "" && !recurse:
		return fmt.Errorf("Error! Missing KEY argument")
	case cas && recurse:
		return fmt.Errorf("Cannot specify both -cas and -recurse!")
	case cas && !c.IsSet("modify-index"):
		return fmt.Errorf("Must specify -modify-index with -cas!")
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	kv := cl.KV()
	switch {
	case recurse:
		if _, err := kv.DeleteTree(key, writeOpts(c)); err != nil {
			return fmt.Errorf("Error! Did not delete prefix %s: %w", key, err)
		}
		fmt.Fprintf(e.stdout, "Success! Deleted keys with prefix: %s\n", key)
	case cas:
		ok, _, err := kv.DeleteCAS(&api.KVPair{Key: key, ModifyIndex: c.Uint64("modify-index")}, writeOpts(c))
		if err != nil {
			return fmt.Errorf("Error! Did not delete key %s: %w", key, err)
		}
		if !ok {
			return fmt.Errorf("Error! Did not delete key %s: CAS failed", key)
		}
		fmt.Fprintf(e.stdout, "Success! Deleted key: %s\n", key)
	default:
		if _, err := kv.Delete(key, writeOpts(c)); err != nil {
			return fmt.Errorf("Error! Did not delete key %s: %w", key, err)
		}
		fmt.Fprintf(e.stdout, "Success! Deleted key: %s\n", key)
	}
	return nil
}

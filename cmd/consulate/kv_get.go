package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func (e *env) kvGetCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "Retrieves or lists data from the KV store",
		ArgsUsage: "[KEY_OR_PREFIX]",
		Flags: kvFlags(
			&cli.BoolFlag{Name: "recurse", Usage: "print every key under the prefix as key:value"},
			&cli.BoolFlag{Name: "keys", Usage: "list key names only, up to -separator"},
			&cli.StringFlag{Name: "separator", Value: "/", Usage: "with -keys, stop listing at this separator"},
			&cli.BoolFlag{Name: "detailed", Usage: "print every field of each pair"},
			&cli.BoolFlag{Name: "base64", Usage: "base64-encode values on output"},
		),
		Action: e.kvGet,
	}
}

func (e *env) kvGet(c *cli.Context) error {
	if c.NArg() > 1 {
		return fmt.Errorf("Too many arguments (expected 1, got %d)", c.NArg())
	}
	key := trimKey(c.Args().First())
	recurse, keysOnly := c.Bool("recurse"), c.Bool("keys")
	if key == "" && !recurse && !keysOnly {
		return fmt.Errorf("Error! Missing KEY argument")
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	kv := cl.KV()
	b64, detailed := c.Bool("base64"), c.Bool("detailed")

	switch {
	case keysOnly:
		sep := c.String("separator")
		if recurse {
			sep = ""
		}
		keys, _, err := kv.Keys(key, sep, queryOpts(c))
		if err != nil {
			return fmt.Errorf("Error querying Consul agent: %w", err)
		}
		for _, k := range keys {
			fmt.Fprintln(e.stdout, k)
		}
	case recurse:
		pairs, _, err := kv.List(key, queryOpts(c))
		if err != nil {
			return fmt.Errorf("Error querying Consul agent: %w", err)
		}
		for i, p := range pairs {
			if detailed {
				if i > 0 {
					fmt.Fprintln(e.stdout)
				}
				printKVPair(e.stdout, p, b64)
				continue
			}
			fmt.Fprintf(e.stdout, "%s:%s\n", p.Key, kvValue(p.Value, b64))
		}
	default:
		p, _, err := kv.Get(key, queryOpts(c))
		if err != nil {
			return fmt.Errorf("Error querying Consul agent: %w", err)
		}
		if p == nil {
			return fmt.Errorf("Error! No key exists at: %s", key)
		}
		if detailed {
			printKVPair(e.stdout, p, b64)
			return nil
		}
		fmt.Fprintln(e.stdout, kvValue(p.Value, b64))
	}
	return nil
}

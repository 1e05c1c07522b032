package main

import (
	"encoding/base64"
	"fmt"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) kvPutCommand() *cli.Command {
	return &cli.Command{
		Name:      "put",
		Usage:     "Sets or updates data in the KV store",
		ArgsUsage: "KEY [DATA|@FILE|-]",
		Flags: kvFlags(
			&cli.BoolFlag{Name: "cas", Usage: "check-and-set: write only if the key's modify index equals -modify-index (0: only if absent)"},
			&cli.Uint64Flag{Name: "modify-index", Usage: "the index -cas compares against"},
			&cli.Uint64Flag{Name: "flags", Usage: "opaque integer stored with the value"},
			&cli.BoolFlag{Name: "acquire", Usage: "acquire the lock on the key for -session"},
			&cli.BoolFlag{Name: "release", Usage: "release the lock on the key held by -session"},
			&cli.StringFlag{Name: "session", Usage: "session ID for -acquire and -release"},
			&cli.BoolFlag{Name: "base64", Usage: "the DATA argument is base64-encoded"},
		),
		Action: e.kvPut,
	}
}

func (e *env) kvPut(c *cli.Context) error {
	args := c.Args().Slice()
	switch {
	case len(args) == 0:
		return fmt.Errorf("Error! Missing KEY argument")
	case len(args) > 2:
		return fmt.Errorf("Too many arguments (expected 1 or 2, got %d)", len(args))
	}
	key := trimKey(args[0])
	if key == "" {
		return fmt.Errorf("Error! Missing KEY argument")
	}
	var data []byte
	if len(args) == 2 {
		d, err := e.readData(args[1])
		if err != nil {
			return err
		}
		data = d
	}
	if c.Bool("base64") {
		d, err := base64.StdEncoding.DecodeString(string(data))
		if err != nil {
			return fmt.Errorf("Error! Cannot base 64 decode data: %w", err)
		}
		data = d
	}
	cas, acquire, release := c.Bool("cas"), c.Bool("acquire"), c.Bool("release")
	session := c.String("session")
	switch {
	case cas && !c.IsSet("modify-index"):
		return fmt.Errorf("Must specify -modify-index with -cas!")
	case (acquire || release) && session == "":
		return fmt.Errorf("Error! Missing -session (required with -acquire and -release)")
	case boolCount(cas, acquire, release) > 1:
		return fmt.Errorf("Only one of -cas, -acquire and -release may be given")
	}

	cl, err := e.client(c)
	if err != nil {
		return err
	}
	pair := &api.KVPair{Key: key, Value: data, Flags: c.Uint64("flags"), ModifyIndex: c.Uint64("modify-index"), Session: session}
	kv := cl.KV()
	switch {
	case cas:
		ok, _, err := kv.CAS(pair, writeOpts(c))
		if err != nil {
			return fmt.Errorf("Error! Did not write to %s: %w", key, err)
		}
		if !ok {
			return fmt.Errorf("Error! Did not write to %s: CAS failed", key)
		}
		fmt.Fprintf(e.stdout, "Success! Data written to: %s\n", key)
	case acquire:
		ok, _, err := kv.Acquire(pair, writeOpts(c))
		if err != nil {
			return fmt.Errorf("Error! Failed writing data: %w", err)
		}
		if !ok {
			return fmt.Errorf("Error! Did not acquire lock")
		}
		fmt.Fprintf(e.stdout, "Success! Lock acquired on: %s\n", key)
	case release:
		ok, _, err := kv.Release(pair, writeOpts(c))
		if err != nil {
			return fmt.Errorf("Error! Failed writing data: %w", err)
		}
		if !ok {
			return fmt.Errorf("Error! Did not release lock")
		}
		fmt.Fprintf(e.stdout, "Success! Lock released on: %s\n", key)
	default:
		if _, err := kv.Put(pair, writeOpts(c)); err != nil {
			return fmt.Errorf("Error! Failed writing data: %w", err)
		}
		fmt.Fprintf(e.stdout, "Success! Data written to: %s\n", key)
	}
	return nil
}

func boolCount(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) kvCommand() *cli.Command {
	return &cli.Command{
		Name:  "kv",
		Usage: "Interact with the key-value store",
		Subcommands: []*cli.Command{
			e.kvDeleteCommand(),
			e.kvExportCommand(),
			e.kvGetCommand(),
			e.kvImportCommand(),
			e.kvPutCommand(),
		},
	}
}

// kvFlags are the connection flags every kv subcommand takes.
func kvFlags(own ...cli.Flag) []cli.Flag {
	return withFlags(httpFlags(), serverFlags(), own)
}

// trimKey drops one leading slash: keys never start with one, but users
// type "/foo" often enough that Consul forgives it.
func trimKey(key string) string {
	return strings.TrimPrefix(key, "/")
}

// readData resolves a data argument: "@path" reads a file, "-" reads stdin,
// anything else is the literal value.
func (e *env) readData(arg string) ([]byte, error) {
	switch {
	case strings.HasPrefix(arg, "@"):
		b, err := os.ReadFile(arg[1:])
		if err != nil {
			return nil, fmt.Errorf("Failed to read file: %w", err)
		}
		return b, nil
	case arg == "-":
		if e.stdin == nil {
			return nil, fmt.Errorf("Failed to read stdin: no standard input")
		}
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, e.stdin); err != nil {
			return nil, fmt.Errorf("Failed to read stdin: %w", err)
		}
		return buf.Bytes(), nil
	}
	return []byte(arg), nil
}

// printKVPair prints every field of a pair in two aligned columns, as
// `consul kv get -detailed` does.
func printKVPair(w io.Writer, p *api.KVPair, b64 bool) {
	tw := tabwriter.NewWriter(w, 0, 2, 6, ' ', 0)
	fmt.Fprintf(tw, "CreateIndex\t%d\n", p.CreateIndex)
	fmt.Fprintf(tw, "Flags\t%d\n", p.Flags)
	fmt.Fprintf(tw, "Key\t%s\n", p.Key)
	fmt.Fprintf(tw, "LockIndex\t%d\n", p.LockIndex)
	fmt.Fprintf(tw, "ModifyIndex\t%d\n", p.ModifyIndex)
	session := p.Session
	if session == "" {
		session = "-"
	}
	fmt.Fprintf(tw, "Session\t%s\n", session)
	fmt.Fprintf(tw, "Value\t%s\n", kvValue(p.Value, b64))
	_ = tw.Flush()
}

func kvValue(v []byte, b64 bool) string {
	if b64 {
		return base64.StdEncoding.EncodeToString(v)
	}
	return string(v)
}

package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"consulate/snapshot"
)

func (e *env) snapshotCommand() *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "Saves, restores and inspects snapshots of the servers' state",
		Subcommands: []*cli.Command{
			{
				Name: "save", Usage: "Saves a snapshot to FILE (ask the leader)", ArgsUsage: "FILE",
				Flags: withFlags(httpFlags(), serverFlags()),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("snapshot save: exactly one file name is needed")
					}
					cl, err := e.client(c)
					if err != nil {
						return err
					}
					rc, meta, err := cl.Snapshot().Save(queryOpts(c))
					if err != nil {
						return fmt.Errorf("Error saving snapshot: %w", err)
					}
					defer rc.Close()
					path := c.Args().First()
					tmp, err := os.CreateTemp(filepath.Dir(path), ".snapshot-*")
					if err != nil {
						return err
					}
					defer os.Remove(tmp.Name())
					if _, err := io.Copy(tmp, rc); err != nil {
						tmp.Close()
						return fmt.Errorf("Error writing snapshot: %w", err)
					}
					if err := tmp.Close(); err != nil {
						return err
					}
					// Verify before handing it over: a broken backup is worse
					// than none.
					f, err := os.Open(tmp.Name())
					if err != nil {
						return err
					}
					_, _, verr := snapshot.Read(f)
					f.Close()
					if verr != nil {
						return fmt.Errorf("Error verifying snapshot: %w", verr)
					}
					if err := os.Rename(tmp.Name(), path); err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "Saved and verified snapshot to index %d\n", meta.LastIndex)
					return nil
				},
			},
			{
				Name: "restore", Usage: "Restores a snapshot from FILE (ask the leader)", ArgsUsage: "FILE",
				Flags: httpFlags(),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("snapshot restore: exactly one file name is needed")
					}
					cl, err := e.client(c)
					if err != nil {
						return err
					}
					f, err := os.Open(c.Args().First())
					if err != nil {
						return err
					}
					defer f.Close()
					if err := cl.Snapshot().Restore(nil, f); err != nil {
						return fmt.Errorf("Error restoring snapshot: %w", err)
					}
					fmt.Fprintln(e.stdout, "Restored snapshot")
					return nil
				},
			},
			{
				Name: "inspect", Usage: "Shows a snapshot file's metadata", ArgsUsage: "FILE",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("snapshot inspect: exactly one file name is needed")
					}
					f, err := os.Open(c.Args().First())
					if err != nil {
						return err
					}
					defer f.Close()
					meta, state, err := snapshot.Read(f)
					if err != nil {
						return fmt.Errorf("Error inspecting snapshot: %w", err)
					}
					fmt.Fprint(e.stdout, columnize([][]string{
						{"ID", meta.ID}, {"Size", fmt.Sprint(len(state))}, {"Index", fmt.Sprint(meta.Index)},
						{"Term", fmt.Sprint(meta.Term)}, {"Version", fmt.Sprint(meta.Version)},
					}))
					return nil
				},
			},
		},
	}
}

package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func (e *env) reloadCommand() *cli.Command {
	return &cli.Command{
		Name:  "reload",
		Usage: "Triggers the agent to reload configuration files",
		Flags: httpFlags(),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			cl, err := e.client(c)
			if err != nil {
				return err
			}
			if err := cl.Agent().Reload(); err != nil {
				return fmt.Errorf("Error reloading: %w", err)
			}
			fmt.Fprintln(e.stdout, "Configuration reload triggered")
			return nil
		},
	}
}

package main

import (
	"fmt"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) reloadCommand() *cli.Command {
	return &cli.Command{
		Name:  "reload",
		Usage: "Triggers the agent to reload configuration files",
		Flags: httpFlags(),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			if err := cl.Agent().Reload(); err != nil {
				return fmt.Errorf("Error reloading: %w", err)
			}
			fmt.Fprintln(e.stdout, "Configuration reload triggered")
			return nil
		}),
	}
}

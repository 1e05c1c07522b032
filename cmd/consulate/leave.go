package main

import (
	"fmt"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) leaveCommand() *cli.Command {
	return &cli.Command{
		Name:  "leave",
		Usage: "Gracefully leaves the cluster and shuts down the agent",
		Flags: httpFlags(),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			if err := cl.Agent().Leave(); err != nil {
				return fmt.Errorf("Error leaving: %w", err)
			}
			fmt.Fprintln(e.stdout, "Graceful leave complete")
			return nil
		}),
	}
}

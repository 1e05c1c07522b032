package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func (e *env) leaveCommand() *cli.Command {
	return &cli.Command{
		Name:  "leave",
		Usage: "Gracefully leaves the cluster and shuts down the agent",
		Flags: httpFlags(),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			cl, err := e.client(c)
			if err != nil {
				return err
			}
			if err := cl.Agent().Leave(); err != nil {
				return fmt.Errorf("Error leaving: %w", err)
			}
			fmt.Fprintln(e.stdout, "Graceful leave complete")
			return nil
		},
	}
}

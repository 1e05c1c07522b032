package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func (e *env) joinCommand() *cli.Command {
	return &cli.Command{
		Name:      "join",
		Usage:     "Tell a Consulate agent to join the cluster",
		ArgsUsage: "ADDRESS...",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.BoolFlag{Name: "wan", Usage: "join the WAN pool (servers only)"},
		}),
		Action: func(c *cli.Context) error {
			addrs := c.Args().Slice()
			if len(addrs) == 0 {
				return fmt.Errorf("At least one address to join must be specified.")
			}
			cl, err := e.client(c)
			if err != nil {
				return err
			}
			joined := 0
			for _, addr := range addrs {
				if err := cl.Agent().Join(addr, c.Bool("wan")); err != nil {
					return fmt.Errorf("Error joining address '%s': %w", addr, err)
				}
				joined++
			}
			fmt.Fprintf(e.stdout, "Successfully joined cluster by contacting %d nodes.\n", joined)
			return nil
		},
	}
}

package main

import (
	"fmt"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) forceLeaveCommand() *cli.Command {
	return &cli.Command{
		Name:      "force-leave",
		Usage:     "Forces a member of the cluster to enter the \"left\" state",
		ArgsUsage: "NODE",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.BoolFlag{Name: "prune", Usage: "also remove the node from the member list entirely"},
			&cli.BoolFlag{Name: "wan", Usage: "act on the WAN pool only"},
		}),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("A single node name must be specified to force leave.")
			}
			node := c.Args().First()
			cl, err := e.client(c)
			if err != nil {
				return err
			}
			opts := api.ForceLeaveOpts{Prune: c.Bool("prune"), WAN: c.Bool("wan")}
			if err := cl.Agent().ForceLeaveOptions(node, opts, (&api.QueryOptions{}).WithContext(c.Context)); err != nil {
				return fmt.Errorf("Error force leaving: %w", err)
			}
			return nil
		},
	}
}

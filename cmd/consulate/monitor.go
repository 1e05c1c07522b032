package main

import (
	"fmt"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) monitorCommand() *cli.Command {
	return &cli.Command{
		Name:  "monitor",
		Usage: "Streams the logs of a running agent",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "trace, debug, info, warn or err"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			stop := make(chan struct{})
			defer close(stop)
			lines, err := cl.Agent().Monitor(c.String("log-level"), stop, (&api.QueryOptions{}).WithContext(c.Context))
			if err != nil {
				return fmt.Errorf("Error starting monitor: %w", err)
			}
			for {
				select {
				case <-c.Context.Done():
					return nil
				case line, ok := <-lines:
					if !ok {
						fmt.Fprintln(e.stderr, "Remote side ended the monitor! This usually means that the\nremote side has exited or crashed.")
						return &exitError{code: 1, silent: true}
					}
					fmt.Fprintln(e.stdout, strings.TrimRight(line, "\n"))
				}
			}
		}),
	}
}

package main

import (
	"fmt"
	"regexp"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) eventCommand() *cli.Command {
	return &cli.Command{
		Name:      "event",
		Usage:     "Fire a new event",
		ArgsUsage: "[PAYLOAD]",
		Flags: withFlags(httpFlags(), serverFlags(), []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "name of the event (required)"},
			&cli.StringFlag{Name: "node", Usage: "regular expression: deliver only to matching node names"},
			&cli.StringFlag{Name: "service", Usage: "regular expression: deliver only to nodes running a matching service"},
			&cli.StringFlag{Name: "tag", Usage: "regular expression: with -service, also match a service tag"},
		}),
		Action: e.event,
	}
}

func (e *env) event(c *cli.Context) error {
	name := c.String("name")
	if name == "" {
		return fmt.Errorf("Event name must be specified")
	}
	for _, f := range []string{"node", "service", "tag"} {
		if v := c.String(f); v != "" {
			if _, err := regexp.Compile(v); err != nil {
				return fmt.Errorf("Failed to compile %s regexp: %w", f, err)
			}
		}
	}
	if c.String("tag") != "" && c.String("service") == "" {
		return fmt.Errorf("Cannot provide tag filter without service filter.")
	}
	if c.NArg() > 1 {
		return fmt.Errorf("Too many command line arguments (expected 0 or 1, got %d)", c.NArg())
	}
	var payload []byte
	if c.NArg() == 1 {
		payload = []byte(c.Args().First())
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	id, _, err := cl.Event().Fire(&api.UserEvent{
		Name:          name,
		Payload:       payload,
		NodeFilter:    c.String("node"),
		ServiceFilter: c.String("service"),
		TagFilter:     c.String("tag"),
	}, writeOpts(c))
	if err != nil {
		return fmt.Errorf("Error firing event: %w", err)
	}
	fmt.Fprintf(e.stdout, "Event ID: %s\n", id)
	return nil
}

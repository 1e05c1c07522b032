package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/hashicorp/consul/api/watch"
	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"
)

func (e *env) watchCommand() *cli.Command {
	return &cli.Command{
		Name:      "watch",
		Usage:     "Watches a view of data (keys, services, nodes, checks, events) for changes",
		ArgsUsage: "[handler command...]",
		Flags: withFlags(httpFlags(), serverFlags(), []cli.Flag{
			&cli.StringFlag{Name: "type", Usage: "key, keyprefix, services, nodes, service, checks or event"},
			&cli.StringFlag{Name: "key", Usage: "key to watch (type key)"},
			&cli.StringFlag{Name: "prefix", Usage: "key prefix to watch (type keyprefix)"},
			&cli.StringFlag{Name: "service", Usage: "service to watch (types service, checks)"},
			&cli.StringFlag{Name: "tag", Usage: "service tag to filter on (type service)"},
			&cli.BoolFlag{Name: "passingonly", Usage: "only passing instances (type service)"},
			&cli.StringFlag{Name: "state", Usage: "check state to filter on (type checks)"},
			&cli.StringFlag{Name: "name", Usage: "event name (type event)"},
		}),
		Action: func(c *cli.Context) error {
			params := map[string]any{"type": c.String("type")}
			if params["type"] == "" {
				return fmt.Errorf("watch: -type is required")
			}
			if dc := c.String("datacenter"); dc != "" {
				params["datacenter"] = dc
			}
			if c.Bool("stale") {
				params["stale"] = true
			}
			for _, name := range []string{"key", "prefix", "service", "tag", "state", "name"} {
				if v := c.String(name); v != "" {
					params[name] = v
				}
			}
			if c.Bool("passingonly") {
				params["passingonly"] = true
			}
			plan, err := watch.Parse(params)
			if err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			cl, err := e.client(c)
			if err != nil {
				return err
			}
			handler := c.Args().Slice()
			var handlerErr error
			plan.HybridHandler = func(_ watch.BlockingParamVal, data any) {
				body, err := json.MarshalIndent(data, "", "    ")
				if err != nil {
					handlerErr = err
					plan.Stop()
					return
				}
				if len(handler) == 0 {
					// Without a handler: print the current view once.
					fmt.Fprintln(e.stdout, string(body))
					plan.Stop()
					return
				}
				cmd := exec.CommandContext(c.Context, "/bin/sh", "-c", strings.Join(handler, " "))
				cmd.Stdin = bytes.NewReader(body)
				cmd.Stdout, cmd.Stderr = e.stdout, e.stderr
				cmd.Env = os.Environ()
				if err := cmd.Run(); err != nil {
					fmt.Fprintf(e.stderr, "Error running handler: %v\n", err)
				}
			}
			go func() {
				<-c.Context.Done()
				plan.Stop()
			}()
			logger := hclog.New(&hclog.LoggerOptions{Name: "watch", Output: e.stderr, Level: hclog.Warn})
			if err := plan.RunWithClientAndHclog(cl, logger); err != nil {
				return fmt.Errorf("Error querying Consulate agent: %w", err)
			}
			return handlerErr
		},
	}
}

package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"consulate/config"
)

// validateCommand is `consulate validate`: it loads config files and
// directories exactly as the agent would and reports the first problem,
// with Consul's wording and exit codes (0 valid, 1 not).
func (e *env) validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "Validate config files/directories",
		ArgsUsage: "FILE_OR_DIRECTORY...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config-format", Usage: "Config files are in this format irrespective of their extension. Must be 'hcl' or 'json'"},
			&cli.BoolFlag{Name: "quiet", Usage: "When given, a successful run will produce no output."},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return fmt.Errorf("Must specify at least one config file or directory")
			}
			format := c.String("config-format")
			if format != "" && format != "json" && format != "hcl" {
				return fmt.Errorf("-config-format must be either 'hcl' or 'json'")
			}
			var srcs []config.Source
			for _, p := range c.Args().Slice() {
				// A directory given as a file loads like -config-dir.
				srcs = append(srcs, config.Source{Kind: config.SourceFile, Path: p})
			}
			rt, err := config.Load(config.LoadOpts{Sources: srcs, Format: format})
			if err != nil {
				return fmt.Errorf("Config validation failed: %v", err)
			}
			if c.Bool("quiet") {
				return nil
			}
			for _, w := range rt.Warnings {
				fmt.Fprintln(e.stderr, w)
			}
			fmt.Fprintln(e.stdout, "Configuration is valid!")
			return nil
		},
	}
}

package main

import (
	"fmt"
	"sort"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) infoCommand() *cli.Command {
	return &cli.Command{
		Name:  "info",
		Usage: "Provides debugging information for operators",
		Flags: httpFlags(),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			self, err := cl.Agent().Self()
			if err != nil {
				return fmt.Errorf("Error querying agent: %w", err)
			}
			stats, ok := self["Stats"]
			if !ok {
				return fmt.Errorf("Agent response did not contain 'Stats' key: %v", self)
			}
			printInfo(e, stats)
			return nil
		}),
	}
}

// printInfo prints each stats section as "section:" followed by
// "\tkey = value" lines, sections and keys sorted, as Consul does.
func printInfo(e *env, stats map[string]any) {
	sections := make([]string, 0, len(stats))
	for k := range stats {
		sections = append(sections, k)
	}
	sort.Strings(sections)
	for _, s := range sections {
		fmt.Fprintf(e.stdout, "%s:\n", s)
		sub, ok := stats[s].(map[string]any)
		if !ok {
			continue
		}
		keys := make([]string, 0, len(sub))
		for k := range sub {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(e.stdout, "\t%s = %v\n", k, sub[k])
		}
	}
}

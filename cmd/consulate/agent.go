package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"consulate/agent"
	"consulate/config"
)

// agentCommand runs an agent in the foreground until it is told to stop.
func agentCommand() *cli.Command {
	return &cli.Command{
		Name:   "agent",
		Usage:  "Runs a Consulate agent",
		Flags:  agentFlags(),
		Action: runAgent,
	}
}

func runAgent(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("agent: unexpected arguments %q", c.Args().Slice())
	}
	flags, err := configFromFlags(c)
	if err != nil {
		return err
	}
	opts := config.LoadOpts{
		Sources: configSourcesFromArgs(os.Args),
		Format:  c.String("config-format"),
		Flags:   flags,
		Dev:     c.Bool("dev"),
	}
	rt, err := config.Load(opts)
	if err != nil {
		return err
	}
	a, err := agent.New(rt, agent.Options{LoadOpts: opts, LogOutput: c.App.ErrWriter, Version: Version, Revision: revision(), BuildDate: BuildDate})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "==> Starting Consulate agent...\n")
	if err := a.Start(c.Context); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "==> Consulate agent running!\n           Node name: '%s'\n          Datacenter: '%s'\n              Server: %v (Bootstrap: %v)\n         Client Addr: %v (HTTP: %d, DNS: %d)\n        Cluster Addr: %v (LAN: %d, WAN: %d)\n\n",
		rt.NodeName, rt.Datacenter, rt.ServerMode, rt.Bootstrap || rt.DevMode,
		rt.ClientAddrs, rt.HTTPPort, rt.DNSPort, rt.AdvertiseAddrLAN, rt.SerfPortLAN, rt.SerfPortWAN)
	return a.Run()
}

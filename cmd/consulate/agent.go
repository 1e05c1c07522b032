package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

// agentCommand is a placeholder until the agent wiring lands; the integrator
// replaces this file.
func agentCommand() *cli.Command {
	return &cli.Command{
		Name:            "agent",
		Usage:           "Runs a Consulate agent (not wired yet)",
		SkipFlagParsing: true,
		Action: func(*cli.Context) error {
			return errors.New("consulate agent: agent not wired yet")
		},
	}
}

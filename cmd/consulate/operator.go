package main

import (
	"fmt"
	"strconv"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) operatorCommand() *cli.Command {
	return &cli.Command{
		Name:  "operator",
		Usage: "Provides cluster-level tools for Consulate operators",
		Subcommands: []*cli.Command{e.operatorWANCommand(), e.operatorAutopilotCommand(), {
			Name:  "raft",
			Usage: "Inspect and change the Raft configuration",
			Subcommands: []*cli.Command{
				e.raftListPeersCommand(),
				e.raftRemovePeerCommand(),
				e.raftTransferLeaderCommand(),
			},
		}},
	}
}

func (e *env) raftListPeersCommand() *cli.Command {
	return &cli.Command{
		Name:  "list-peers",
		Usage: "Display the current Raft peer configuration",
		Flags: withFlags(httpFlags(), serverFlags()),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			conf, err := cl.Operator().RaftGetConfiguration(queryOpts(c))
			if err != nil {
				return fmt.Errorf("Error getting peers: %w", err)
			}
			rows := [][]string{{"Node", "ID", "Address", "State", "Voter", "RaftProtocol"}}
			for _, s := range conf.Servers {
				state := "follower"
				if s.Leader {
					state = "leader"
				}
				proto := s.ProtocolVersion
				if proto == "" {
					proto = "<=1"
				}
				rows = append(rows, []string{s.Node, s.ID, s.Address, state, strconv.FormatBool(s.Voter), proto})
			}
			fmt.Fprint(e.stdout, columnize(rows))
			return nil
		}),
	}
}

func (e *env) raftRemovePeerCommand() *cli.Command {
	return &cli.Command{
		Name:  "remove-peer",
		Usage: "Remove a Consulate server from the Raft configuration",
		Flags: withFlags(httpFlags(), serverFlags(), []cli.Flag{
			&cli.StringFlag{Name: "address", Usage: "IP:port of the server to remove"},
			&cli.StringFlag{Name: "id", Usage: "Raft ID of the server to remove"},
		}),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			addr, id := c.String("address"), c.String("id")
			switch {
			case addr == "" && id == "":
				return fmt.Errorf("Error removing peer: an address or id is required for the peer to remove")
			case addr != "" && id != "":
				return fmt.Errorf("Error removing peer: cannot give both an address and id")
			}
			cl, err := e.client(c)
			if err != nil {
				return err
			}
			if addr != "" {
				if err := cl.Operator().RaftRemovePeerByAddress(addr, writeOpts(c)); err != nil {
					return fmt.Errorf("Error removing peer: %w", err)
				}
				fmt.Fprintf(e.stdout, "Removed peer with address %q\n", addr)
				return nil
			}
			if err := cl.Operator().RaftRemovePeerByID(id, writeOpts(c)); err != nil {
				return fmt.Errorf("Error removing peer: %w", err)
			}
			fmt.Fprintf(e.stdout, "Removed peer with id %q\n", id)
			return nil
		},
	}
}

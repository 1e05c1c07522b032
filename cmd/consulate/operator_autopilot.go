package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) operatorAutopilotCommand() *cli.Command {
	return &cli.Command{
		Name:  "autopilot",
		Usage: "Provides tools for modifying Autopilot configuration",
		Subcommands: []*cli.Command{
			e.autopilotGetConfigCommand(),
			e.autopilotSetConfigCommand(),
			e.autopilotStateCommand(),
		},
	}
}

func (e *env) autopilotGetConfigCommand() *cli.Command {
	return &cli.Command{
		Name:  "get-config",
		Usage: "Display the current Autopilot configuration",
		Flags: withFlags(httpFlags(), serverFlags()),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			conf, err := cl.Operator().AutopilotGetConfiguration(queryOpts(c))
			if err != nil {
				return fmt.Errorf("Error querying Autopilot configuration: %w", err)
			}
			writeAutopilotConfig(e.stdout, conf)
			return nil
		}),
	}
}

// writeAutopilotConfig prints the configuration as Consul's get-config.
func writeAutopilotConfig(w io.Writer, conf *api.AutopilotConfiguration) {
	fmt.Fprintf(w, "CleanupDeadServers = %v\n", conf.CleanupDeadServers)
	fmt.Fprintf(w, "LastContactThreshold = %v\n", conf.LastContactThreshold.String())
	fmt.Fprintf(w, "MaxTrailingLogs = %v\n", conf.MaxTrailingLogs)
	fmt.Fprintf(w, "MinQuorum = %v\n", conf.MinQuorum)
	fmt.Fprintf(w, "ServerStabilizationTime = %v\n", conf.ServerStabilizationTime.String())
	fmt.Fprintf(w, "RedundancyZoneTag = %q\n", conf.RedundancyZoneTag)
	fmt.Fprintf(w, "DisableUpgradeMigration = %v\n", conf.DisableUpgradeMigration)
	fmt.Fprintf(w, "UpgradeVersionTag = %q\n", conf.UpgradeVersionTag)
}

// autopilotCASAttempts bounds set-config's read-modify-CAS rounds when
// another writer changes the configuration in between.
const autopilotCASAttempts = 3

func (e *env) autopilotSetConfigCommand() *cli.Command {
	return &cli.Command{
		Name:  "set-config",
		Usage: "Modify the current Autopilot configuration",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.StringFlag{Name: "datacenter", Usage: "datacenter to change (default: the agent's)"},
			&cli.BoolFlag{Name: "cleanup-dead-servers", Usage: "controls whether Consulate removes dead servers from the Raft peer list periodically or when a new server joins"},
			&cli.UintFlag{Name: "max-trailing-logs", Usage: "how many log entries a server may trail the leader by and still be healthy"},
			&cli.UintFlag{Name: "min-quorum", Usage: "the minimum number of servers dead-server cleanup leaves"},
			&cli.DurationFlag{Name: "last-contact-threshold", Usage: "how long a server may go without contact from the leader and still be healthy"},
			&cli.DurationFlag{Name: "server-stabilization-time", Usage: "how long a server must be healthy before it counts as stable"},
			&cli.StringFlag{Name: "redundancy-zone-tag", Usage: "(Consul Enterprise; stored, no effect) the node meta key of redundancy zones"},
			&cli.BoolFlag{Name: "disable-upgrade-migration", Usage: "(Consul Enterprise; stored, no effect) turns off upgrade migrations"},
			&cli.StringFlag{Name: "upgrade-version-tag", Usage: "(Consul Enterprise; stored, no effect) the node meta key of upgrade versions"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			op := cl.Operator()
			q := &api.QueryOptions{Datacenter: c.String("datacenter")}
			for attempt := 0; attempt < autopilotCASAttempts; attempt++ {
				conf, err := op.AutopilotGetConfiguration(q.WithContext(c.Context))
				if err != nil {
					return fmt.Errorf("Error querying Autopilot configuration: %w", err)
				}
				applyAutopilotFlags(c, conf)
				ok, err := op.AutopilotCASConfiguration(conf, writeOpts(c))
				if err != nil {
					return fmt.Errorf("Error setting Autopilot configuration: %w", err)
				}
				if ok {
					fmt.Fprintln(e.stdout, "Configuration updated!")
					return nil
				}
			}
			return fmt.Errorf("Configuration could not be atomically updated, please try again")
		}),
	}
}

// applyAutopilotFlags changes only the fields whose flags were given.
func applyAutopilotFlags(c *cli.Context, conf *api.AutopilotConfiguration) {
	if c.IsSet("cleanup-dead-servers") {
		conf.CleanupDeadServers = c.Bool("cleanup-dead-servers")
	}
	if c.IsSet("max-trailing-logs") {
		conf.MaxTrailingLogs = uint64(c.Uint("max-trailing-logs"))
	}
	if c.IsSet("min-quorum") {
		conf.MinQuorum = c.Uint("min-quorum")
	}
	if c.IsSet("last-contact-threshold") {
		conf.LastContactThreshold = api.NewReadableDuration(c.Duration("last-contact-threshold"))
	}
	if c.IsSet("server-stabilization-time") {
		conf.ServerStabilizationTime = api.NewReadableDuration(c.Duration("server-stabilization-time"))
	}
	if c.IsSet("redundancy-zone-tag") {
		conf.RedundancyZoneTag = c.String("redundancy-zone-tag")
	}
	if c.IsSet("disable-upgrade-migration") {
		conf.DisableUpgradeMigration = c.Bool("disable-upgrade-migration")
	}
	if c.IsSet("upgrade-version-tag") {
		conf.UpgradeVersionTag = c.String("upgrade-version-tag")
	}
}

func (e *env) autopilotStateCommand() *cli.Command {
	return &cli.Command{
		Name:  "state",
		Usage: "Display the current Autopilot state",
		Flags: withFlags(httpFlags(), serverFlags(), []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "pretty", Usage: "output format: pretty or json"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			format := c.String("format")
			if format != "pretty" && format != "json" {
				return fmt.Errorf("Invalid format %q: must be one of pretty or json", format)
			}
			st, err := cl.Operator().AutopilotState(queryOpts(c))
			if err != nil {
				return fmt.Errorf("Error querying Autopilot state: %w", err)
			}
			if format == "json" {
				b, err := json.MarshalIndent(st, "", "   ")
				if err != nil {
					return fmt.Errorf("Error formatting Autopilot state: %w", err)
				}
				fmt.Fprintln(e.stdout, string(b))
				return nil
			}
			io.WriteString(e.stdout, formatAutopilotState(st))
			return nil
		}),
	}
}

// formatAutopilotState renders the state as Consul's pretty output.
func formatAutopilotState(st *api.AutopilotState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Healthy:                      %t\n", st.Healthy)
	fmt.Fprintf(&b, "Failure Tolerance:            %d\n", st.FailureTolerance)
	fmt.Fprintf(&b, "Optimistic Failure Tolerance: %d\n", st.OptimisticFailureTolerance)
	fmt.Fprintf(&b, "Leader:                       %s\n", st.Leader)
	b.WriteString("Voters:\n")
	for _, v := range st.Voters {
		fmt.Fprintf(&b, "   %s\n", v)
	}
	b.WriteString("\nServers:\n")
	ids := make([]string, 0, len(st.Servers))
	for id := range st.Servers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return st.Servers[ids[i]].Name < st.Servers[ids[j]].Name })
	for _, id := range ids {
		s := st.Servers[id]
		fmt.Fprintf(&b, "   %s\n", id)
		fmt.Fprintf(&b, "      Name:            %s\n", s.Name)
		fmt.Fprintf(&b, "      Address:         %s\n", s.Address)
		fmt.Fprintf(&b, "      Version:         %s\n", s.Version)
		fmt.Fprintf(&b, "      Status:          %s\n", s.Status)
		fmt.Fprintf(&b, "      Node Type:       %s\n", s.NodeType)
		fmt.Fprintf(&b, "      Node Status:     %s\n", s.NodeStatus)
		fmt.Fprintf(&b, "      Healthy:         %t\n", s.Healthy)
		fmt.Fprintf(&b, "      Last Contact:    %s\n", s.LastContact.Duration())
		fmt.Fprintf(&b, "      Last Term:       %d\n", s.LastTerm)
		fmt.Fprintf(&b, "      Last Index:      %d\n", s.LastIndex)
		if len(s.Meta) > 0 {
			b.WriteString("      Meta\n")
			keys := make([]string, 0, len(s.Meta))
			for k := range s.Meta {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "         %q: %q\n", k, s.Meta[k])
			}
		}
	}
	return b.String()
}

func (e *env) raftTransferLeaderCommand() *cli.Command {
	return &cli.Command{
		Name:  "transfer-leader",
		Usage: "Transfer raft leadership to another Consulate server",
		Flags: withFlags(httpFlags(), serverFlags(), []cli.Flag{
			&cli.StringFlag{Name: "id", Usage: "the ID of the node to transfer leadership to"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			res, err := cl.Operator().RaftLeaderTransfer(c.String("id"), queryOpts(c))
			if err != nil {
				return fmt.Errorf("Error transferring leadership: %w", err)
			}
			if !res.Success {
				return fmt.Errorf("Error transferring leadership: the leader did not hand it on")
			}
			fmt.Fprintln(e.stdout, "Success")
			return nil
		}),
	}
}

package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// The check IDs the agent uses for maintenance mode, as in Consul.
const (
	nodeMaintCheckID   = "_node_maintenance"
	serviceMaintPrefix = "_service_maintenance:"
)

func (e *env) maintCommand() *cli.Command {
	return &cli.Command{
		Name:  "maint",
		Usage: "Controls node or service maintenance mode",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.BoolFlag{Name: "enable", Usage: "enable maintenance mode"},
			&cli.BoolFlag{Name: "disable", Usage: "disable maintenance mode"},
			&cli.StringFlag{Name: "reason", Usage: "text describing the maintenance reason (with -enable)"},
			&cli.StringFlag{Name: "service", Usage: "ID of the service to put in maintenance instead of the node"},
		}),
		Action: e.maint,
	}
}

func (e *env) maint(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	enable, disable := c.Bool("enable"), c.Bool("disable")
	reason, serviceID := c.String("reason"), c.String("service")
	if enable && disable {
		return fmt.Errorf("Only one of -enable or -disable may be provided")
	}
	if !enable && reason != "" {
		return fmt.Errorf("Reason may only be provided with -enable")
	}
	if !enable && !disable && serviceID != "" {
		return fmt.Errorf("Service requires either -enable or -disable")
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	a := cl.Agent()
	nodeName, err := a.NodeName()
	if err != nil {
		return fmt.Errorf("Error querying Consul agent: %w", err)
	}

	switch {
	case enable && serviceID == "":
		if err := a.EnableNodeMaintenance(reason); err != nil {
			return fmt.Errorf("Error enabling node maintenance: %w", err)
		}
		fmt.Fprintln(e.stdout, "Node maintenance is now enabled")
	case enable:
		if err := a.EnableServiceMaintenance(serviceID, reason); err != nil {
			return fmt.Errorf("Error enabling service maintenance: %w", err)
		}
		fmt.Fprintf(e.stdout, "Service maintenance is now enabled for %q\n", serviceID)
	case disable && serviceID == "":
		if err := a.DisableNodeMaintenance(); err != nil {
			return fmt.Errorf("Error disabling node maintenance: %w", err)
		}
		fmt.Fprintln(e.stdout, "Node maintenance is now disabled")
	case disable:
		if err := a.DisableServiceMaintenance(serviceID); err != nil {
			return fmt.Errorf("Error disabling service maintenance: %w", err)
		}
		fmt.Fprintf(e.stdout, "Service maintenance is now disabled for %q\n", serviceID)
	default:
		// List mode: what is in maintenance on this agent.
		checks, err := a.Checks()
		if err != nil {
			return fmt.Errorf("Error getting checks: %w", err)
		}
		ids := make([]string, 0, len(checks))
		for id := range checks {
			ids = append(ids, id)
		}
		// The node first, then services by ID, so the listing is stable.
		sort.Slice(ids, func(i, j int) bool {
			if (ids[i] == nodeMaintCheckID) != (ids[j] == nodeMaintCheckID) {
				return ids[i] == nodeMaintCheckID
			}
			return ids[i] < ids[j]
		})
		for _, id := range ids {
			check := checks[id]
			switch {
			case id == nodeMaintCheckID:
				fmt.Fprintln(e.stdout, "Node:")
				fmt.Fprintln(e.stdout, "  Name:   "+nodeName)
				fmt.Fprintln(e.stdout, "  Reason: "+check.Notes)
				fmt.Fprintln(e.stdout)
			case strings.HasPrefix(id, serviceMaintPrefix):
				fmt.Fprintln(e.stdout, "Service:")
				fmt.Fprintln(e.stdout, "  ID:     "+check.ServiceID)
				fmt.Fprintln(e.stdout, "  Reason: "+check.Notes)
				fmt.Fprintln(e.stdout)
			}
		}
	}
	return nil
}

package main

import (
	"fmt"
	"strings"

	"github.com/hashicorp/serf/coordinate"
	"github.com/urfave/cli/v2"
)

func (e *env) rttCommand() *cli.Command {
	return &cli.Command{
		Name:      "rtt",
		Usage:     "Estimates network round trip time between nodes",
		ArgsUsage: "NODE1 [NODE2]",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.BoolFlag{Name: "wan", Usage: "use WAN coordinates; nodes are given as NODE.DATACENTER"},
		}),
		Action: e.rtt,
	}
}

func (e *env) rtt(c *cli.Context) error {
	nodes := c.Args().Slice()
	if len(nodes) < 1 || len(nodes) > 2 {
		return fmt.Errorf("One or two node names must be specified")
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	wan := c.Bool("wan")
	if len(nodes) < 2 {
		// The second node defaults to the agent we are talking to.
		self, err := cl.Agent().Self()
		if err != nil {
			return fmt.Errorf("Unable to look up agent info: %w", err)
		}
		name, _ := self["Config"]["NodeName"].(string)
		dc, _ := self["Config"]["Datacenter"].(string)
		if name == "" || (wan && dc == "") {
			return fmt.Errorf("Unable to look up agent info: no node name or datacenter in /v1/agent/self")
		}
		if wan {
			name += "." + dc
		}
		nodes = append(nodes, name)
	}

	var coord1, coord2 *coordinate.Coordinate
	var area1, area2 string
	if wan {
		node1, dc1, ok1 := splitNodeDC(nodes[0])
		node2, dc2, ok2 := splitNodeDC(nodes[1])
		if !ok1 || !ok2 {
			return fmt.Errorf("Node names must be specified as <node name>.<datacenter> with -wan")
		}
		dcs, err := cl.Coordinate().Datacenters()
		if err != nil {
			return fmt.Errorf("Error getting coordinates: %w", err)
		}
		for _, dc := range dcs {
			for _, ent := range dc.Coordinates {
				// WAN entries are named NODE.DC; accept the short name too.
				if coord1 == nil && dc.Datacenter == dc1 && (strings.EqualFold(ent.Node, node1) || strings.EqualFold(ent.Node, nodes[0])) {
					coord1, area1 = ent.Coord, dc.AreaID
				}
				if coord2 == nil && dc.Datacenter == dc2 && (strings.EqualFold(ent.Node, node2) || strings.EqualFold(ent.Node, nodes[1])) {
					coord2, area2 = ent.Coord, dc.AreaID
				}
			}
		}
	} else {
		entries, _, err := cl.Coordinate().Nodes(queryOpts(c))
		if err != nil {
			return fmt.Errorf("Error getting coordinates: %w", err)
		}
		for _, ent := range entries {
			if coord1 == nil && ent.Node == nodes[0] {
				coord1, area1 = ent.Coord, ent.Segment
			}
			if coord2 == nil && ent.Node == nodes[1] {
				coord2, area2 = ent.Coord, ent.Segment
			}
		}
	}
	switch {
	case coord1 == nil:
		return fmt.Errorf("Could not find a coordinate for node %q", nodes[0])
	case coord2 == nil:
		return fmt.Errorf("Could not find a coordinate for node %q", nodes[1])
	case area1 != area2:
		return fmt.Errorf("Nodes %q and %q are in different areas or segments", nodes[0], nodes[1])
	case !coord1.IsValid() || !coord2.IsValid() || !coord1.IsCompatibleWith(coord2):
		return fmt.Errorf("Coordinates for %q and %q are invalid or incompatible", nodes[0], nodes[1])
	}
	source := "LAN"
	if wan {
		source = "WAN"
	}
	ms := coord1.DistanceTo(coord2).Seconds() * 1000.0
	fmt.Fprintf(e.stdout, "Estimated %s <-> %s rtt: %.3f ms (using %s coordinates)\n", nodes[0], nodes[1], ms, source)
	return nil
}

// splitNodeDC splits "node.dc" at the last dot, so node names may hold dots.
func splitNodeDC(s string) (node, dc string, ok bool) {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) catalogCommand() *cli.Command {
	return &cli.Command{
		Name:  "catalog",
		Usage: "Interact with the catalog",
		Subcommands: []*cli.Command{
			e.catalogDatacentersCommand(),
			e.catalogNodesCommand(),
			e.catalogServicesCommand(),
		},
	}
}

func catalogFlags(own ...cli.Flag) []cli.Flag {
	return withFlags(httpFlags(), serverFlags(), own)
}

func nodeMetaFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "node-meta", Usage: "filter by node metadata key=value (repeatable)"}
}

// parseNodeMeta turns repeated key=value flags into the NodeMeta filter.
func parseNodeMeta(vals []string) (map[string]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(vals))
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("Error! Invalid -node-meta %q: want key=value", v)
		}
		m[k] = val
	}
	return m, nil
}

func (e *env) catalogDatacentersCommand() *cli.Command {
	return &cli.Command{
		Name:  "datacenters",
		Usage: "Lists all known datacenters",
		Flags: httpFlags(),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			dcs, err := cl.Catalog().Datacenters()
			if err != nil {
				return fmt.Errorf("Error listing datacenters: %w", err)
			}
			if len(dcs) == 0 {
				fmt.Fprintln(e.stderr, "No datacenters found.")
				return nil
			}
			for _, dc := range dcs {
				fmt.Fprintln(e.stdout, dc)
			}
			return nil
		}),
	}
}

func (e *env) catalogNodesCommand() *cli.Command {
	return &cli.Command{
		Name:  "nodes",
		Usage: "Lists all nodes in the given datacenter",
		Flags: catalogFlags(
			&cli.BoolFlag{Name: "detailed", Usage: "full node IDs, tagged addresses and metadata"},
			&cli.StringFlag{Name: "service", Usage: "only nodes providing this service"},
			&cli.StringFlag{Name: "near", Usage: "sort by round-trip time from this node (\"_agent\" for the agent's)"},
			&cli.StringFlag{Name: "filter", Usage: "filter expression over the nodes (Node, Address, Datacenter, Meta, TaggedAddresses, …), as the API's ?filter"},
			nodeMetaFlag(),
		),
		Action: e.catalogNodes,
	}
}

// catalogQuery checks a catalog listing's arguments and builds its client
// and query options (datacenter, stale, -node-meta).
func (e *env) catalogQuery(c *cli.Context) (*api.Client, *api.QueryOptions, error) {
	if err := noArgs(c); err != nil {
		return nil, nil, err
	}
	meta, err := parseNodeMeta(c.StringSlice("node-meta"))
	if err != nil {
		return nil, nil, err
	}
	cl, err := e.client(c)
	if err != nil {
		return nil, nil, err
	}
	q := queryOpts(c)
	q.NodeMeta = meta
	return cl, q, nil
}

func (e *env) catalogNodes(c *cli.Context) error {
	cl, q, err := e.catalogQuery(c)
	if err != nil {
		return err
	}
	q.Near = c.String("near")
	q.Filter = c.String("filter")

	var nodes []*api.Node
	if svc := c.String("service"); svc != "" {
		entries, _, err := cl.Catalog().Service(svc, "", q)
		if err != nil {
			return fmt.Errorf("Error listing nodes for service: %w", err)
		}
		for _, s := range entries {
			nodes = append(nodes, &api.Node{
				ID: s.ID, Node: s.Node, Address: s.Address, Datacenter: s.Datacenter,
				TaggedAddresses: s.TaggedAddresses, Meta: s.NodeMeta,
			})
		}
	} else {
		nodes, _, err = cl.Catalog().Nodes(q)
		if err != nil {
			return fmt.Errorf("Error listing nodes: %w", err)
		}
	}
	if len(nodes) == 0 {
		fmt.Fprintln(e.stderr, "No nodes match the given query.")
		return nil
	}
	detailed := c.Bool("detailed")
	header := []string{"Node", "ID", "Address", "DC"}
	if detailed {
		header = append(header, "TaggedAddresses", "Meta")
	}
	rows := [][]string{header}
	for _, n := range nodes {
		id := n.ID
		if !detailed && len(id) > 8 {
			id = id[:8]
		}
		row := []string{n.Node, id, n.Address, n.Datacenter}
		if detailed {
			row = append(row, joinSortedKV(n.TaggedAddresses, ", "), joinSortedKV(n.Meta, ", "))
		}
		rows = append(rows, row)
	}
	fmt.Fprint(e.stdout, columnize(rows))
	return nil
}

func (e *env) catalogServicesCommand() *cli.Command {
	return &cli.Command{
		Name:  "services",
		Usage: "Lists all registered services in a datacenter",
		Flags: catalogFlags(
			&cli.StringFlag{Name: "node", Usage: "only services on this node"},
			&cli.BoolFlag{Name: "tags", Usage: "show each service's tags"},
			nodeMetaFlag(),
		),
		Action: e.catalogServices,
	}
}

func (e *env) catalogServices(c *cli.Context) error {
	cl, q, err := e.catalogQuery(c)
	if err != nil {
		return err
	}

	services := map[string][]string{}
	if node := c.String("node"); node != "" {
		cn, _, err := cl.Catalog().Node(node, q)
		if err != nil {
			return fmt.Errorf("Error listing services for node: %w", err)
		}
		if cn == nil {
			return fmt.Errorf("No node found with name %q", node)
		}
		for _, s := range cn.Services {
			services[s.Service] = mergeTags(services[s.Service], s.Tags)
		}
	} else {
		services, _, err = cl.Catalog().Services(q)
		if err != nil {
			return fmt.Errorf("Error listing services: %w", err)
		}
	}
	if len(services) == 0 {
		fmt.Fprintln(e.stderr, "No services match the given query.")
		return nil
	}
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	if !c.Bool("tags") {
		for _, n := range names {
			fmt.Fprintln(e.stdout, n)
		}
		return nil
	}
	rows := make([][]string, 0, len(names))
	for _, n := range names {
		tags := append([]string(nil), services[n]...)
		sort.Strings(tags)
		rows = append(rows, []string{n, strings.Join(tags, ",")})
	}
	fmt.Fprint(e.stdout, columnize(rows))
	return nil
}

// mergeTags adds the tags of b missing from a.
func mergeTags(a, b []string) []string {
	seen := make(map[string]bool, len(a))
	for _, t := range a {
		seen[t] = true
	}
	for _, t := range b {
		if !seen[t] {
			seen[t] = true
			a = append(a, t)
		}
	}
	return a
}

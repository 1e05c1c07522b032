package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

// wanDatacenter is one row of /v1/operator/wan.
type wanDatacenter struct {
	Datacenter     string
	Local          bool
	Alive          int
	Suspect        int
	Failed         int
	Left           int
	HasLeader      bool
	Unreachable    bool
	MedianRTT      time.Duration
	MedianRTTKnown bool
	LastReached    time.Time
	Requests       uint64
	Errors         uint64
	Flaps          int
	// Route is how the answering server reaches the datacenter: direct,
	// gateway, via dcX (none, unknown); Gateways the next-hop gateways.
	Route      string
	Gateways   []string
	RouteError string
	Servers    []struct {
		Name   string
		Addr   string
		Status string
		Flaps  int
	}
}

// status sums a datacenter up in one word.
func (d *wanDatacenter) status() string {
	switch {
	case d.Alive == 0:
		return "failed"
	case d.Unreachable:
		// Gossip may still call its servers alive while no RPC reaches
		// them (a cut of the RPC port only, or the first seconds of a
		// WAN cut): requests for it fail at once.
		return "unreachable"
	case !d.HasLeader:
		return "no-leader"
	case d.Failed > 0 || d.Suspect > 0:
		return "degraded"
	}
	return "healthy"
}

// route is the Route column: "-" from a server that does not say.
func (d *wanDatacenter) route() string {
	if d.Route == "" {
		return "-"
	}
	return d.Route
}

func (e *env) operatorWANCommand() *cli.Command {
	return &cli.Command{
		Name:  "wan",
		Usage: "Show the WAN view of every datacenter: servers, leader, route, RTT, reachability, flaps",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.BoolFlag{Name: "detailed", Usage: "list every server"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			var dcs []wanDatacenter
			if _, err := cl.Raw().Query("/v1/operator/wan", &dcs, queryOpts(c)); err != nil {
				return fmt.Errorf("Error reading WAN health: %w", err)
			}
			rows := [][]string{{"Datacenter", "Status", "Servers", "Leader", "Route", "MedianRTT", "LastReached", "Requests", "Errors", "Flaps(1h)"}}
			for _, d := range dcs {
				rtt := "-"
				if d.MedianRTTKnown {
					rtt = d.MedianRTT.Round(10 * time.Microsecond).String()
				}
				reached := "-"
				if d.Local {
					reached = "local"
				} else if !d.LastReached.IsZero() {
					reached = time.Since(d.LastReached).Round(time.Second).String() + " ago"
				}
				rows = append(rows, []string{
					d.Datacenter, d.status(),
					fmt.Sprintf("%d alive, %d failed, %d left", d.Alive, d.Failed, d.Left),
					fmt.Sprint(d.HasLeader), d.route(), rtt, reached,
					fmt.Sprint(d.Requests), fmt.Sprint(d.Errors), fmt.Sprint(d.Flaps),
				})
			}
			fmt.Fprint(e.stdout, columnize(rows))
			if c.Bool("detailed") {
				srows := [][]string{{"Server", "Datacenter", "Address", "Status", "Flaps(1h)"}}
				for _, d := range dcs {
					for _, s := range d.Servers {
						srows = append(srows, []string{s.Name, d.Datacenter, s.Addr, s.Status, fmt.Sprint(s.Flaps)})
					}
				}
				fmt.Fprintln(e.stdout)
				fmt.Fprint(e.stdout, columnize(srows))
				grows := [][]string{{"Datacenter", "Route", "Gateways"}}
				for _, d := range dcs {
					if len(d.Gateways) > 0 || d.RouteError != "" {
						gws := strings.Join(d.Gateways, ", ")
						if d.RouteError != "" {
							gws = d.RouteError
						}
						grows = append(grows, []string{d.Datacenter, d.route(), gws})
					}
				}
				if len(grows) > 1 {
					fmt.Fprintln(e.stdout)
					fmt.Fprint(e.stdout, columnize(grows))
				}
			}
			return nil
		}),
	}
}

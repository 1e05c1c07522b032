package main

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

func (e *env) membersCommand() *cli.Command {
	return &cli.Command{
		Name:  "members",
		Usage: "Lists the members of a Consulate cluster",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.BoolFlag{Name: "detailed", Usage: "show every tag of each member"},
			&cli.StringFlag{Name: "status", Value: ".*", Usage: "only members whose status matches this regular expression"},
			&cli.BoolFlag{Name: "wan", Usage: "list the WAN pool instead of the LAN pool"},
			&cli.StringFlag{Name: "filter", Usage: "filter expression over the members (Name, Addr, Port, Status, Tags, …), as /v1/agent/members?filter"},
		}),
		Action: e.members,
	}
}

func (e *env) members(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	statusRe, err := regexp.Compile(c.String("status"))
	if err != nil {
		return fmt.Errorf("Failed to compile status regexp: %w", err)
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	members, err := cl.Agent().MembersOpts(api.MembersOpts{WAN: c.Bool("wan"), Filter: c.String("filter")})
	if err != nil {
		return fmt.Errorf("Error retrieving members: %w", err)
	}
	var kept []*api.AgentMember
	for _, m := range members {
		if statusRe.MatchString(memberStatus(m.Status)) {
			kept = append(kept, m)
		}
	}
	if len(kept) == 0 {
		// Consul exits 2 when the filter leaves nothing, so scripts can tell
		// "no such members" from "could not ask".
		return &exitError{code: 2, silent: true}
	}
	sort.SliceStable(kept, func(i, j int) bool { return memberLess(kept[i], kept[j]) })

	var rows [][]string
	if c.Bool("detailed") {
		rows = append(rows, []string{"Node", "Address", "Status", "Tags"})
		for _, m := range kept {
			rows = append(rows, []string{m.Name, memberAddr(m), memberStatus(m.Status), joinSortedKV(m.Tags, ",")})
		}
	} else {
		rows = append(rows, []string{"Node", "Address", "Status", "Type", "Build", "Protocol", "DC", "Partition", "Segment"})
		for _, m := range kept {
			rows = append(rows, memberRow(m))
		}
	}
	fmt.Fprint(e.stdout, columnize(rows))
	return nil
}

// memberRow is one line of the standard members table.
func memberRow(m *api.AgentMember) []string {
	build := m.Tags["build"]
	if build == "" {
		build = "< 0.3"
	} else if i := strings.IndexByte(build, ':'); i >= 0 {
		build = build[:i]
	}
	partition := m.Tags["ap"]
	if partition == "" {
		partition = "default"
	}
	segment := m.Tags["segment"]
	typ := "unknown"
	switch m.Tags["role"] {
	case "consul":
		typ = "server"
		if segment == "" {
			segment = "<all>"
		}
	case "node":
		typ = "client"
		if segment == "" {
			segment = "<default>"
		}
	}
	return []string{m.Name, memberAddr(m), memberStatus(m.Status), typ, build, m.Tags["vsn"], m.Tags["dc"], partition, segment}
}

// memberLess orders servers first, then the default partition, then by
// segment and name — the order Consul prints.
func memberLess(a, b *api.AgentMember) bool {
	as, bs := a.Tags["role"] == "consul", b.Tags["role"] == "consul"
	if as != bs {
		return as
	}
	ap, bp := a.Tags["ap"], b.Tags["ap"]
	ad, bd := ap == "" || ap == "default", bp == "" || bp == "default"
	if ad != bd {
		return ad
	}
	if ap != bp {
		return ap < bp
	}
	if a.Tags["segment"] != b.Tags["segment"] {
		return a.Tags["segment"] < b.Tags["segment"]
	}
	return a.Name < b.Name
}

func memberAddr(m *api.AgentMember) string {
	ip := net.ParseIP(m.Addr)
	if ip == nil {
		return net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))
	}
	return (&net.TCPAddr{IP: ip, Port: int(m.Port)}).String()
}

// memberStatus names a serf member status the way serf does.
func memberStatus(s int) string {
	switch s {
	case 0:
		return "none"
	case 1:
		return "alive"
	case 2:
		return "leaving"
	case 3:
		return "left"
	case 4:
		return "failed"
	}
	return "unknown"
}

// joinSortedKV renders a map as k=v pairs sorted by key.
func joinSortedKV(m map[string]string, sep string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, sep)
}

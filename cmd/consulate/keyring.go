package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

// keyringCommand is `consulate keyring`: list, install, use or remove
// gossip encryption keys in the WAN pool and every datacenter's LAN pool,
// with Consul's flags and output.
func (e *env) keyringCommand() *cli.Command {
	return &cli.Command{
		Name:  "keyring",
		Usage: "Manages gossip layer encryption keys",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.BoolFlag{Name: "list", Usage: "list the keys installed in every pool, with how many members hold each"},
			&cli.BoolFlag{Name: "list-primary", Usage: "list the primary keys in use in every pool"},
			&cli.StringFlag{Name: "install", Usage: "install a new (base64) key; it is accepted but not yet used to send"},
			&cli.StringFlag{Name: "use", Usage: "make an installed key the primary key, used to encrypt"},
			&cli.StringFlag{Name: "remove", Usage: "remove a key (not the primary one)"},
			&cli.BoolFlag{Name: "local-only", Usage: "with -list: only this datacenter's LAN pool"},
			&cli.IntFlag{Name: "relay-factor", Usage: "accepted as Consul's (0-5); answers are not relayed"},
		}),
		Action: e.withClient(e.keyring),
	}
}

func (e *env) keyring(c *cli.Context, cl *api.Client) error {
	list, listPrimary := c.Bool("list"), c.Bool("list-primary")
	install, use, remove := c.String("install"), c.String("use"), c.String("remove")
	n := 0
	for _, set := range []bool{list, listPrimary, install != "", use != "", remove != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("Only a single action is allowed")
	}
	rf := c.Int("relay-factor")
	if rf < 0 || rf > 5 {
		return fmt.Errorf("Relay factor must be in range: [0, 5]")
	}
	localOnly := c.Bool("local-only")
	if localOnly && !list && !listPrimary {
		return fmt.Errorf("Local-only must be used with the -list or -list-primary flags")
	}
	op := cl.Operator()
	w := writeOpts(c)
	w.RelayFactor = uint8(rf)
	switch {
	case list || listPrimary:
		if listPrimary {
			fmt.Fprintln(e.stdout, "==> Gathering installed primary encryption keys...")
		} else {
			fmt.Fprintln(e.stdout, "==> Gathering installed encryption keys...")
		}
		q := queryOpts(c)
		q.RelayFactor, q.LocalOnly = uint8(rf), localOnly
		rs, err := op.KeyringList(q)
		if err != nil {
			return fmt.Errorf("error: %w", err)
		}
		for _, r := range rs {
			keys := r.Keys
			if listPrimary {
				keys = r.PrimaryKeys
			}
			fmt.Fprintln(e.stdout, formatKeyringResponse(r, keys))
		}
	case install != "":
		fmt.Fprintln(e.stdout, "==> Installing new gossip encryption key...")
		if err := op.KeyringInstall(install, w); err != nil {
			return fmt.Errorf("error: %w", err)
		}
	case use != "":
		fmt.Fprintln(e.stdout, "==> Changing primary gossip encryption key...")
		if err := op.KeyringUse(use, w); err != nil {
			return fmt.Errorf("error: %w", err)
		}
	case remove != "":
		fmt.Fprintln(e.stdout, "==> Removing gossip encryption key...")
		if err := op.KeyringRemove(remove, w); err != nil {
			return fmt.Errorf("error: %w", err)
		}
	}
	return nil
}

// formatKeyringResponse prints one pool as Consul does: a blank line, the
// pool's name, each member's message, then each key with how many of the
// pool's members hold it.
func formatKeyringResponse(r *api.KeyringResponse, keys map[string]int) string {
	var b strings.Builder
	b.WriteString("\n")
	pool := r.Datacenter + " (LAN)"
	if r.WAN {
		pool = "WAN"
	}
	if r.Partition != "" {
		pool += fmt.Sprintf(" [partition: %s]", r.Partition)
	}
	if r.Segment != "" {
		pool += fmt.Sprintf(" [segment: %s]", r.Segment)
	}
	b.WriteString(pool + ":\n")
	for _, node := range sortedStrings(r.Messages) {
		fmt.Fprintf(&b, "  ===> %s: %s\n", node, r.Messages[node])
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "  %s [%d/%d]\n", k, keys[k], r.NumNodes)
	}
	return strings.TrimRight(b.String(), "\n")
}

func sortedStrings(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

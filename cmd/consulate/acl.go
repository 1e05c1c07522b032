package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

// aclCommand is `consulate acl`: bootstrap, policies, tokens, roles and
// the agent's own tokens, with Consul's flags and output.
func (e *env) aclCommand() *cli.Command {
	return &cli.Command{
		Name:  "acl",
		Usage: "Interact with Consulate's ACLs",
		Subcommands: []*cli.Command{
			e.aclBootstrapCommand(),
			e.aclPolicyCommand(),
			e.aclTokenCommand(),
			e.aclRoleCommand(),
			e.aclSetAgentTokenCommand(),
		},
	}
}

// aclOutputFlags are -format and -meta, on every command that prints ACL
// objects.
func aclOutputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "format", Value: "pretty", Usage: "output format: pretty or json"},
		&cli.BoolFlag{Name: "meta", Usage: "also show the content hash and Raft indices"},
	}
}

// repeatable is a flag that may be given many times; values are never
// split on commas.
func repeatable(name, usage string) cli.Flag {
	return &cli.GenericFlag{Name: name, Usage: usage + " (repeatable)", Value: &agentFlagList{}}
}

// values returns the occurrences of a repeatable flag.
func values(c *cli.Context, name string) []string {
	if l, ok := c.Generic(name).(*agentFlagList); ok && l != nil {
		return *l
	}
	return nil
}

// aclFormat checks -format.
func aclFormat(c *cli.Context) (string, error) {
	switch f := c.String("format"); f {
	case "pretty", "json":
		return f, nil
	default:
		return "", fmt.Errorf("Invalid format %q: must be one of pretty or json", f)
	}
}

// printJSON writes v as Consul's CLI does (four-space indent).
func (e *env) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return fmt.Errorf("Failed to encode output: %w", err)
	}
	fmt.Fprintln(e.stdout, string(b))
	return nil
}

// printToken prints a token in the chosen format.
func (e *env) printToken(c *cli.Context, t *api.ACLToken) error {
	format, err := aclFormat(c)
	if err != nil {
		return err
	}
	if format == "json" {
		return e.printJSON(t)
	}
	io.WriteString(e.stdout, formatToken(t, c.Bool("meta"), ""))
	return nil
}

// formatToken renders a token as Consul's pretty output, each line
// prefixed with indent.
func formatToken(t *api.ACLToken, meta bool, indent string) string {
	var b bytes.Buffer
	line := func(format string, args ...any) { b.WriteString(indent + fmt.Sprintf(format, args...) + "\n") }
	line("AccessorID:       %s", t.AccessorID)
	line("SecretID:         %s", t.SecretID)
	line("Description:      %s", t.Description)
	line("Local:            %t", t.Local)
	line("Create Time:      %v", t.CreateTime)
	if t.ExpirationTime != nil && !t.ExpirationTime.IsZero() {
		line("Expiration Time:  %v", *t.ExpirationTime)
	}
	if meta {
		line("Hash:             %x", t.Hash)
		line("Create Index:     %d", t.CreateIndex)
		line("Modify Index:     %d", t.ModifyIndex)
	}
	writeLinks(&b, indent, "Policies:", t.Policies)
	writeLinks(&b, indent, "Roles:", t.Roles)
	writeIdentities(&b, indent, t.ServiceIdentities, t.NodeIdentities)
	return b.String()
}

func writeLinks(b *bytes.Buffer, indent, title string, links []*api.ACLLink) {
	if len(links) == 0 {
		return
	}
	b.WriteString(indent + title + "\n")
	for _, l := range links {
		fmt.Fprintf(b, "%s   %s - %s\n", indent, l.ID, l.Name)
	}
}

func writeIdentities(b *bytes.Buffer, indent string, svcs []*api.ACLServiceIdentity, nodes []*api.ACLNodeIdentity) {
	if len(svcs) > 0 {
		b.WriteString(indent + "Service Identities:\n")
		for _, s := range svcs {
			dcs := "all"
			if len(s.Datacenters) > 0 {
				dcs = strings.Join(s.Datacenters, ", ")
			}
			fmt.Fprintf(b, "%s   %s (Datacenters: %s)\n", indent, s.ServiceName, dcs)
		}
	}
	if len(nodes) > 0 {
		b.WriteString(indent + "Node Identities:\n")
		for _, n := range nodes {
			fmt.Fprintf(b, "%s   %s (Datacenter: %s)\n", indent, n.NodeName, n.Datacenter)
		}
	}
}

// parseServiceIdentities reads -service-identity values: NAME or
// NAME:DC1,DC2.
func parseServiceIdentities(vals []string) ([]*api.ACLServiceIdentity, error) {
	var out []*api.ACLServiceIdentity
	for _, v := range vals {
		name, dcs, hasDCs := strings.Cut(v, ":")
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("Service identity %q must not have an empty name", v)
		}
		id := &api.ACLServiceIdentity{ServiceName: name}
		if hasDCs {
			for _, dc := range strings.Split(dcs, ",") {
				if dc = strings.TrimSpace(dc); dc != "" {
					id.Datacenters = append(id.Datacenters, dc)
				}
			}
		}
		out = append(out, id)
	}
	return out, nil
}

// parseNodeIdentities reads -node-identity values: NODE:DATACENTER.
func parseNodeIdentities(vals []string) ([]*api.ACLNodeIdentity, error) {
	var out []*api.ACLNodeIdentity
	for _, v := range vals {
		node, dc, ok := strings.Cut(v, ":")
		if !ok || strings.TrimSpace(node) == "" || strings.TrimSpace(dc) == "" {
			return nil, fmt.Errorf("Malformed -node-identity argument: %q (want NODENAME:DATACENTER)", v)
		}
		out = append(out, &api.ACLNodeIdentity{NodeName: strings.TrimSpace(node), Datacenter: strings.TrimSpace(dc)})
	}
	return out, nil
}

// policyLinks builds links from -policy-id and -policy-name values
// (IDs may be unique prefixes, as Consul).
func policyLinks(cl *api.Client, c *cli.Context, idFlag, nameFlag string) ([]*api.ACLLink, error) {
	var out []*api.ACLLink
	for _, id := range values(c, idFlag) {
		full, err := policyIDFromPartial(cl, c, id)
		if err != nil {
			return nil, err
		}
		out = append(out, &api.ACLLink{ID: full})
	}
	for _, name := range values(c, nameFlag) {
		out = append(out, &api.ACLLink{Name: name})
	}
	return out, nil
}

// roleLinks builds links from -role-id and -role-name values.
func roleLinks(cl *api.Client, c *cli.Context, idFlag, nameFlag string) ([]*api.ACLLink, error) {
	var out []*api.ACLLink
	for _, id := range values(c, idFlag) {
		full, err := roleIDFromPartial(cl, c, id)
		if err != nil {
			return nil, err
		}
		out = append(out, &api.ACLLink{ID: full})
	}
	for _, name := range values(c, nameFlag) {
		out = append(out, &api.ACLLink{Name: name})
	}
	return out, nil
}

// fullIDLen is the length of a UUID; shorter IDs are prefixes.
const fullIDLen = 36

// idFromPartial resolves a unique ID prefix among ids, as Consul's CLI.
func idFromPartial(kind, partial string, ids []string) (string, error) {
	var match string
	for _, id := range ids {
		if strings.HasPrefix(id, partial) {
			if match != "" {
				return "", fmt.Errorf("Multiple %s IDs with prefix: %s", kind, partial)
			}
			match = id
		}
	}
	if match == "" {
		return "", fmt.Errorf("No such %s ID with prefix: %s", kind, partial)
	}
	return match, nil
}

// fullID turns partial into a full ID: a well-known name to its ID, a
// full-length ID as it is, else the one ID among those list returns that
// starts with it.
func fullID[T any](kind, partial string, known map[string]string, list func() ([]T, error), id func(T) string) (string, error) {
	if full, ok := known[partial]; ok {
		return full, nil
	}
	if len(partial) >= fullIDLen {
		return partial, nil
	}
	items, err := list()
	if err != nil {
		return "", err
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, id(it))
	}
	return idFromPartial(kind, partial, ids)
}

func policyIDFromPartial(cl *api.Client, c *cli.Context, partial string) (string, error) {
	return fullID("policy", partial, map[string]string{"global-management": "00000000-0000-0000-0000-000000000001"},
		func() ([]*api.ACLPolicyListEntry, error) {
			l, _, err := cl.ACL().PolicyList(queryOpts(c))
			return l, err
		},
		func(p *api.ACLPolicyListEntry) string { return p.ID })
}

func tokenIDFromPartial(cl *api.Client, c *cli.Context, partial string) (string, error) {
	return fullID("token", partial, map[string]string{"anonymous": "00000000-0000-0000-0000-000000000002"},
		func() ([]*api.ACLTokenListEntry, error) { l, _, err := cl.ACL().TokenList(queryOpts(c)); return l, err },
		func(t *api.ACLTokenListEntry) string { return t.AccessorID })
}

func roleIDFromPartial(cl *api.Client, c *cli.Context, partial string) (string, error) {
	return fullID("role", partial, nil,
		func() ([]*api.ACLRole, error) { l, _, err := cl.ACL().RoleList(queryOpts(c)); return l, err },
		func(r *api.ACLRole) string { return r.ID })
}

func (e *env) aclBootstrapCommand() *cli.Command {
	return &cli.Command{
		Name:  "bootstrap",
		Usage: "Bootstrap Consulate's ACL system",
		Flags: withFlags(httpFlags(), aclOutputFlags()),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			if _, err := aclFormat(c); err != nil {
				return err
			}
			t, _, err := cl.ACL().Bootstrap()
			if err != nil {
				return fmt.Errorf("Failed ACL bootstrapping: %w", err)
			}
			return e.printToken(c, t)
		}),
	}
}

// agentTokenSetters maps set-agent-token's TYPE to the client call.
var agentTokenSetters = map[string]func(a *api.Agent, token string, q *api.WriteOptions) (*api.WriteMeta, error){
	"default":                          (*api.Agent).UpdateDefaultACLToken,
	"agent":                            (*api.Agent).UpdateAgentACLToken,
	"recovery":                         (*api.Agent).UpdateAgentRecoveryACLToken,
	"agent_recovery":                   (*api.Agent).UpdateAgentRecoveryACLToken,
	"master":                           (*api.Agent).UpdateAgentRecoveryACLToken,
	"replication":                      (*api.Agent).UpdateReplicationACLToken,
	"config_file_service_registration": (*api.Agent).UpdateConfigFileRegistrationToken,
}

func (e *env) aclSetAgentTokenCommand() *cli.Command {
	return &cli.Command{
		Name:      "set-agent-token",
		Usage:     "Assign tokens for the Consulate agent's usage",
		ArgsUsage: "TYPE TOKEN (TYPE: default, agent, recovery, replication, config_file_service_registration)",
		Flags:     httpFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("Missing TYPE and TOKEN arguments")
			}
			kind, secret := c.Args().Get(0), c.Args().Get(1)
			set, ok := agentTokenSetters[kind]
			if !ok {
				return fmt.Errorf("Unknown token type %q", kind)
			}
			cl, err := e.client(c)
			if err != nil {
				return err
			}
			w := (&api.WriteOptions{}).WithContext(c.Context)
			if _, err := set(cl.Agent(), secret, w); err != nil {
				return fmt.Errorf("Failed to set ACL token: %w", err)
			}
			fmt.Fprintln(e.stdout, "ACL token set successfully")
			return nil
		},
	}
}

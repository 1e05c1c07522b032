package main

import (
	"fmt"
	"io"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

// aclTokenCommand is `consulate acl token`.
func (e *env) aclTokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "Manage Consulate's ACL tokens",
		Subcommands: []*cli.Command{
			e.aclTokenCreateCommand(),
			e.aclTokenListCommand(),
			e.aclTokenReadCommand(),
			e.aclTokenUpdateCommand(),
			e.aclTokenDeleteCommand(),
			e.aclTokenCloneCommand(),
		},
	}
}

func dcFlag() cli.Flag {
	return &cli.StringFlag{Name: "datacenter", Usage: "datacenter to send the request to (default: the agent's)"}
}

func tokenIDFlag(verb string) cli.Flag {
	return &cli.StringFlag{Name: "id", Aliases: []string{"accessor-id"}, Usage: "AccessorID of the token to " + verb + " (a unique prefix will do)"}
}

// tokenLinkFlags set a token's policies, roles and identities.
func tokenLinkFlags() []cli.Flag {
	return []cli.Flag{
		repeatable("policy-id", "ID of a policy for the token (a unique prefix will do)"),
		repeatable("policy-name", "name of a policy for the token"),
		repeatable("role-id", "ID of a role for the token (a unique prefix will do)"),
		repeatable("role-name", "name of a role for the token"),
		repeatable("service-identity", "service identity for the token, NAME or NAME:DC1,DC2"),
		repeatable("node-identity", "node identity for the token, NODENAME:DATACENTER"),
	}
}

// resolveTokenID reads -id and resolves a prefix.
func resolveTokenID(c *cli.Context, cl *api.Client) (string, error) {
	id := c.String("id")
	if id == "" {
		return "", fmt.Errorf("Must specify the -id parameter")
	}
	full, err := tokenIDFromPartial(cl, c, id)
	if err != nil {
		return "", fmt.Errorf("Error determining token ID: %w", err)
	}
	return full, nil
}

func (e *env) aclTokenCreateCommand() *cli.Command {
	return &cli.Command{
		Name:  "create",
		Usage: "Create an ACL token",
		Flags: withFlags(httpFlags(), []cli.Flag{dcFlag()}, tokenLinkFlags(), aclOutputFlags(), []cli.Flag{
			&cli.StringFlag{Name: "description", Usage: "a description of the token"},
			&cli.BoolFlag{Name: "local", Usage: "create a token local to this datacenter"},
			&cli.DurationFlag{Name: "expires-ttl", Usage: "how long the token is valid for"},
			&cli.StringFlag{Name: "secret", Usage: "the token's SecretID (a UUID; generated when empty)"},
			&cli.StringFlag{Name: "accessor", Usage: "the token's AccessorID (a UUID; generated when empty)"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			if _, err := aclFormat(c); err != nil {
				return err
			}
			t := &api.ACLToken{Description: c.String("description"), Local: c.Bool("local"),
				ExpirationTTL: c.Duration("expires-ttl"), SecretID: c.String("secret"), AccessorID: c.String("accessor")}
			if err := fillTokenLinks(c, cl, t, false); err != nil {
				return err
			}
			out, _, err := cl.ACL().TokenCreate(t, writeOpts(c))
			if err != nil {
				return fmt.Errorf("Failed to create new token: %w", err)
			}
			return e.printToken(c, out)
		}),
	}
}

// fillTokenLinks sets (or, with appendLinks, adds to) the token's links
// from the flags that were given.
func fillTokenLinks(c *cli.Context, cl *api.Client, t *api.ACLToken, appendLinks bool) error {
	pols, err := policyLinks(cl, c, "policy-id", "policy-name")
	if err != nil {
		return fmt.Errorf("Error resolving policy: %w", err)
	}
	roles, err := roleLinks(cl, c, "role-id", "role-name")
	if err != nil {
		return fmt.Errorf("Error resolving role: %w", err)
	}
	svcs, err := parseServiceIdentities(values(c, "service-identity"))
	if err != nil {
		return err
	}
	nodes, err := parseNodeIdentities(values(c, "node-identity"))
	if err != nil {
		return err
	}
	if !appendLinks {
		t.Policies, t.Roles, t.ServiceIdentities, t.NodeIdentities = pols, roles, svcs, nodes
		return nil
	}
	t.Policies = append(t.Policies, pols...)
	t.Roles = append(t.Roles, roles...)
	t.ServiceIdentities = append(t.ServiceIdentities, svcs...)
	t.NodeIdentities = append(t.NodeIdentities, nodes...)
	return nil
}

func (e *env) aclTokenListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "List ACL tokens",
		Flags: withFlags(httpFlags(), serverFlags(), aclOutputFlags()),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			format, err := aclFormat(c)
			if err != nil {
				return err
			}
			list, _, err := cl.ACL().TokenList(queryOpts(c))
			if err != nil {
				return fmt.Errorf("Failed to retrieve the token list: %w", err)
			}
			if format == "json" {
				return e.printJSON(list)
			}
			for i, t := range list {
				if i > 0 {
					fmt.Fprintln(e.stdout)
				}
				io.WriteString(e.stdout, formatToken(&api.ACLToken{
					AccessorID: t.AccessorID, SecretID: t.SecretID, Description: t.Description, Local: t.Local,
					CreateTime: t.CreateTime, ExpirationTime: t.ExpirationTime, Hash: t.Hash,
					CreateIndex: t.CreateIndex, ModifyIndex: t.ModifyIndex, Policies: t.Policies, Roles: t.Roles,
					ServiceIdentities: t.ServiceIdentities, NodeIdentities: t.NodeIdentities,
				}, c.Bool("meta"), ""))
			}
			return nil
		}),
	}
}

func (e *env) aclTokenReadCommand() *cli.Command {
	return &cli.Command{
		Name:  "read",
		Usage: "Read an ACL token",
		Flags: withFlags(httpFlags(), serverFlags(), aclOutputFlags(), []cli.Flag{
			tokenIDFlag("read"),
			&cli.BoolFlag{Name: "self", Usage: "read the token the request is made with"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			if _, err := aclFormat(c); err != nil {
				return err
			}
			if c.Bool("self") {
				t, _, err := cl.ACL().TokenReadSelf(queryOpts(c))
				if err != nil {
					return fmt.Errorf("Error reading token: %w", err)
				}
				return e.printToken(c, t)
			}
			id, err := resolveTokenID(c, cl)
			if err != nil {
				return err
			}
			t, _, err := cl.ACL().TokenRead(id, queryOpts(c))
			if err != nil {
				return fmt.Errorf("Error reading token %q: %w", id, err)
			}
			return e.printToken(c, t)
		}),
	}
}

func (e *env) aclTokenUpdateCommand() *cli.Command {
	return &cli.Command{
		Name:  "update",
		Usage: "Update an ACL token",
		Flags: withFlags(httpFlags(), []cli.Flag{dcFlag()}, tokenLinkFlags(), aclOutputFlags(), []cli.Flag{
			tokenIDFlag("update"),
			&cli.StringFlag{Name: "description", Usage: "a new description of the token"},
			repeatable("append-policy-id", "ID of a policy to add to the token's"),
			repeatable("append-policy-name", "name of a policy to add to the token's"),
			repeatable("append-role-id", "ID of a role to add to the token's"),
			repeatable("append-role-name", "name of a role to add to the token's"),
			repeatable("append-service-identity", "service identity to add to the token's"),
			repeatable("append-node-identity", "node identity to add to the token's"),
			&cli.BoolFlag{Name: "merge-policies", Usage: "add the -policy-* policies to the token's instead of replacing them"},
			&cli.BoolFlag{Name: "merge-roles", Usage: "add the -role-* roles to the token's instead of replacing them"},
			&cli.BoolFlag{Name: "merge-service-identities", Usage: "add the -service-identity values instead of replacing them"},
			&cli.BoolFlag{Name: "merge-node-identities", Usage: "add the -node-identity values instead of replacing them"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			if _, err := aclFormat(c); err != nil {
				return err
			}
			id, err := resolveTokenID(c, cl)
			if err != nil {
				return err
			}
			t, _, err := cl.ACL().TokenRead(id, queryOpts(c))
			if err != nil {
				return fmt.Errorf("Error when retrieving current token: %w", err)
			}
			if c.IsSet("description") {
				t.Description = c.String("description")
			}
			if err := updateTokenLinks(c, cl, t); err != nil {
				return err
			}
			out, _, err := cl.ACL().TokenUpdate(t, writeOpts(c))
			if err != nil {
				return fmt.Errorf("Failed to update token %s: %w", id, err)
			}
			return e.printToken(c, out)
		}),
	}
}

// updateTokenLinks applies update's link flags: -policy-* and the like
// replace the current set when given (add with -merge-*), -append-* add.
func updateTokenLinks(c *cli.Context, cl *api.Client, t *api.ACLToken) error {
	pols, err := policyLinks(cl, c, "policy-id", "policy-name")
	if err != nil {
		return fmt.Errorf("Error resolving policy: %w", err)
	}
	morePols, err := policyLinks(cl, c, "append-policy-id", "append-policy-name")
	if err != nil {
		return fmt.Errorf("Error resolving policy: %w", err)
	}
	roles, err := roleLinks(cl, c, "role-id", "role-name")
	if err != nil {
		return fmt.Errorf("Error resolving role: %w", err)
	}
	moreRoles, err := roleLinks(cl, c, "append-role-id", "append-role-name")
	if err != nil {
		return fmt.Errorf("Error resolving role: %w", err)
	}
	svcs, err := parseServiceIdentities(values(c, "service-identity"))
	if err != nil {
		return err
	}
	moreSvcs, err := parseServiceIdentities(values(c, "append-service-identity"))
	if err != nil {
		return err
	}
	nodes, err := parseNodeIdentities(values(c, "node-identity"))
	if err != nil {
		return err
	}
	moreNodes, err := parseNodeIdentities(values(c, "append-node-identity"))
	if err != nil {
		return err
	}
	if len(pols) > 0 && !c.Bool("merge-policies") {
		t.Policies = nil
	}
	t.Policies = mergeLinks(t.Policies, append(pols, morePols...))
	if len(roles) > 0 && !c.Bool("merge-roles") {
		t.Roles = nil
	}
	t.Roles = mergeLinks(t.Roles, append(roles, moreRoles...))
	if len(svcs) > 0 && !c.Bool("merge-service-identities") {
		t.ServiceIdentities = nil
	}
	t.ServiceIdentities = append(t.ServiceIdentities, append(svcs, moreSvcs...)...)
	if len(nodes) > 0 && !c.Bool("merge-node-identities") {
		t.NodeIdentities = nil
	}
	t.NodeIdentities = append(t.NodeIdentities, append(nodes, moreNodes...)...)
	return nil
}

// mergeLinks adds the links not already present (by ID, or by name for
// links given by name only).
func mergeLinks(have, add []*api.ACLLink) []*api.ACLLink {
	for _, a := range add {
		dup := false
		for _, h := range have {
			if (a.ID != "" && a.ID == h.ID) || (a.ID == "" && a.Name != "" && a.Name == h.Name) {
				dup = true
				break
			}
		}
		if !dup {
			have = append(have, a)
		}
	}
	return have
}

func (e *env) aclTokenDeleteCommand() *cli.Command {
	return &cli.Command{
		Name:  "delete",
		Usage: "Delete an ACL token",
		Flags: withFlags(httpFlags(), []cli.Flag{dcFlag(), tokenIDFlag("delete")}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			id, err := resolveTokenID(c, cl)
			if err != nil {
				return err
			}
			if _, err := cl.ACL().TokenDelete(id, writeOpts(c)); err != nil {
				return fmt.Errorf("Error deleting token %q: %w", id, err)
			}
			fmt.Fprintf(e.stdout, "Token %q deleted successfully\n", id)
			return nil
		}),
	}
}

func (e *env) aclTokenCloneCommand() *cli.Command {
	return &cli.Command{
		Name:  "clone",
		Usage: "Clone an ACL token",
		Flags: withFlags(httpFlags(), []cli.Flag{dcFlag(), tokenIDFlag("clone")}, aclOutputFlags(), []cli.Flag{
			&cli.StringFlag{Name: "description", Usage: "description of the new token (default: the original's)"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			if _, err := aclFormat(c); err != nil {
				return err
			}
			id, err := resolveTokenID(c, cl)
			if err != nil {
				return err
			}
			t, _, err := cl.ACL().TokenClone(id, c.String("description"), writeOpts(c))
			if err != nil {
				return fmt.Errorf("Error cloning token: %w", err)
			}
			return e.printToken(c, t)
		}),
	}
}

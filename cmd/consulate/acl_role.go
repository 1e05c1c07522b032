package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

// aclRoleCommand is `consulate acl role`.
func (e *env) aclRoleCommand() *cli.Command {
	return &cli.Command{
		Name:  "role",
		Usage: "Manage Consulate's ACL roles",
		Subcommands: []*cli.Command{
			e.aclRoleCreateCommand(),
			e.aclRoleListCommand(),
			e.aclRoleReadCommand(),
			e.aclRoleUpdateCommand(),
			e.aclRoleDeleteCommand(),
		},
	}
}

// roleLinkFlags set a role's policies and identities.
func roleLinkFlags() []cli.Flag {
	return []cli.Flag{
		repeatable("policy-id", "ID of a policy for the role (a unique prefix will do)"),
		repeatable("policy-name", "name of a policy for the role"),
		repeatable("service-identity", "service identity for the role, NAME or NAME:DC1,DC2"),
		repeatable("node-identity", "node identity for the role, NODENAME:DATACENTER"),
	}
}

// formatRole renders a role as Consul's pretty output, each line
// prefixed with indent; list entries (under their name) omit the Name.
func formatRole(r *api.ACLRole, meta bool, indent string, listEntry bool) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%sID:           %s\n", indent, r.ID)
	if !listEntry {
		fmt.Fprintf(&b, "%sName:         %s\n", indent, r.Name)
	}
	fmt.Fprintf(&b, "%sDescription:  %s\n", indent, r.Description)
	if meta {
		fmt.Fprintf(&b, "%sHash:         %x\n", indent, r.Hash)
		fmt.Fprintf(&b, "%sCreate Index: %d\n", indent, r.CreateIndex)
		fmt.Fprintf(&b, "%sModify Index: %d\n", indent, r.ModifyIndex)
	}
	writeLinks(&b, indent, "Policies:", r.Policies)
	writeIdentities(&b, indent, r.ServiceIdentities, r.NodeIdentities)
	return b.String()
}

func (e *env) printRole(c *cli.Context, r *api.ACLRole) error {
	format, err := aclFormat(c)
	if err != nil {
		return err
	}
	if format == "json" {
		return e.printJSON(r)
	}
	io.WriteString(e.stdout, formatRole(r, c.Bool("meta"), "", false))
	return nil
}

// fillRoleLinks sets the role's policies and identities from the flags.
func fillRoleLinks(c *cli.Context, cl *api.Client, r *api.ACLRole) error {
	pols, err := policyLinks(cl, c, "policy-id", "policy-name")
	if err != nil {
		return fmt.Errorf("Error resolving policy: %w", err)
	}
	svcs, err := parseServiceIdentities(values(c, "service-identity"))
	if err != nil {
		return err
	}
	nodes, err := parseNodeIdentities(values(c, "node-identity"))
	if err != nil {
		return err
	}
	r.Policies, r.ServiceIdentities, r.NodeIdentities = pols, svcs, nodes
	return nil
}

func (e *env) aclRoleCreateCommand() *cli.Command {
	return &cli.Command{
		Name:  "create",
		Usage: "Create an ACL role",
		Flags: withFlags(httpFlags(), []cli.Flag{dcFlag()}, roleLinkFlags(), aclOutputFlags(), []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "the role's name"},
			&cli.StringFlag{Name: "description", Usage: "a description of the role"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			if _, err := aclFormat(c); err != nil {
				return err
			}
			if c.String("name") == "" {
				return fmt.Errorf("Missing required '-name' flag")
			}
			r := &api.ACLRole{Name: c.String("name"), Description: c.String("description")}
			if err := fillRoleLinks(c, cl, r); err != nil {
				return err
			}
			if len(r.Policies) == 0 && len(r.ServiceIdentities) == 0 && len(r.NodeIdentities) == 0 {
				return fmt.Errorf("Cannot create a role without specifying -policy-name, -policy-id, -service-identity, or -node-identity at least once")
			}
			out, _, err := cl.ACL().RoleCreate(r, writeOpts(c))
			if err != nil {
				return fmt.Errorf("Failed to create new role: %w", err)
			}
			return e.printRole(c, out)
		}),
	}
}

func (e *env) aclRoleListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "List ACL roles",
		Flags: withFlags(httpFlags(), serverFlags(), aclOutputFlags()),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			format, err := aclFormat(c)
			if err != nil {
				return err
			}
			list, _, err := cl.ACL().RoleList(queryOpts(c))
			if err != nil {
				return fmt.Errorf("Failed to retrieve the role list: %w", err)
			}
			if format == "json" {
				return e.printJSON(list)
			}
			for _, r := range list {
				fmt.Fprintf(e.stdout, "%s:\n", r.Name)
				io.WriteString(e.stdout, formatRole(r, c.Bool("meta"), "   ", true))
			}
			return nil
		}),
	}
}

// findRole reads the role named by -id (a unique prefix will do) or
// -name.
func findRole(c *cli.Context, cl *api.Client) (*api.ACLRole, error) {
	id, name := c.String("id"), c.String("name")
	var r *api.ACLRole
	var err error
	switch {
	case id == "" && name == "":
		return nil, fmt.Errorf("Must specify either the -id or -name parameters")
	case id != "":
		full, perr := roleIDFromPartial(cl, c, id)
		if perr != nil {
			return nil, fmt.Errorf("Error determining role ID: %w", perr)
		}
		id = full
		r, _, err = cl.ACL().RoleRead(id, queryOpts(c))
	default:
		id = name
		r, _, err = cl.ACL().RoleReadByName(name, queryOpts(c))
	}
	if err != nil {
		return nil, fmt.Errorf("Error reading role %q: %w", id, err)
	}
	if r == nil {
		return nil, fmt.Errorf("Role not found with ID %q", id)
	}
	return r, nil
}

func (e *env) aclRoleReadCommand() *cli.Command {
	return &cli.Command{
		Name:  "read",
		Usage: "Read an ACL role",
		Flags: withFlags(httpFlags(), serverFlags(), aclOutputFlags(), []cli.Flag{
			&cli.StringFlag{Name: "id", Usage: "ID of the role to read (a unique prefix will do)"},
			&cli.StringFlag{Name: "name", Usage: "name of the role to read"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			if _, err := aclFormat(c); err != nil {
				return err
			}
			r, err := findRole(c, cl)
			if err != nil {
				return err
			}
			return e.printRole(c, r)
		}),
	}
}

func (e *env) aclRoleUpdateCommand() *cli.Command {
	return &cli.Command{
		Name:  "update",
		Usage: "Update an ACL role",
		Flags: withFlags(httpFlags(), []cli.Flag{dcFlag()}, roleLinkFlags(), aclOutputFlags(), []cli.Flag{
			&cli.StringFlag{Name: "id", Usage: "ID of the role to update (a unique prefix will do)"},
			&cli.StringFlag{Name: "name", Usage: "a new name for the role"},
			&cli.StringFlag{Name: "description", Usage: "a new description of the role"},
			&cli.BoolFlag{Name: "no-merge", Usage: "replace the role's fields with the flags' values instead of adding to them"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			if _, err := aclFormat(c); err != nil {
				return err
			}
			if c.String("id") == "" {
				return fmt.Errorf("Cannot update a role without specifying the -id parameter")
			}
			id, err := roleIDFromPartial(cl, c, c.String("id"))
			if err != nil {
				return fmt.Errorf("Error determining role ID: %w", err)
			}
			var add api.ACLRole
			if err := fillRoleLinks(c, cl, &add); err != nil {
				return err
			}
			var r *api.ACLRole
			if c.Bool("no-merge") {
				r = &api.ACLRole{ID: id, Name: c.String("name"), Description: c.String("description"),
					Policies: add.Policies, ServiceIdentities: add.ServiceIdentities, NodeIdentities: add.NodeIdentities}
			} else {
				cur, _, err := cl.ACL().RoleRead(id, queryOpts(c))
				if err != nil {
					return fmt.Errorf("Error retrieving current role: %w", err)
				}
				if cur == nil {
					return fmt.Errorf("Role not found with ID %q", id)
				}
				r = cur
				if c.IsSet("name") {
					r.Name = c.String("name")
				}
				if c.IsSet("description") {
					r.Description = c.String("description")
				}
				r.Policies = mergeLinks(r.Policies, add.Policies)
				r.ServiceIdentities = append(r.ServiceIdentities, add.ServiceIdentities...)
				r.NodeIdentities = append(r.NodeIdentities, add.NodeIdentities...)
			}
			out, _, err := cl.ACL().RoleUpdate(r, writeOpts(c))
			if err != nil {
				return fmt.Errorf("Failed to update role %s: %w", id, err)
			}
			return e.printRole(c, out)
		}),
	}
}

func (e *env) aclRoleDeleteCommand() *cli.Command {
	return &cli.Command{
		Name:  "delete",
		Usage: "Delete an ACL role",
		Flags: withFlags(httpFlags(), []cli.Flag{
			dcFlag(),
			&cli.StringFlag{Name: "id", Usage: "ID of the role to delete (a unique prefix will do)"},
			&cli.StringFlag{Name: "name", Usage: "name of the role to delete"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			r, err := findRole(c, cl)
			if err != nil {
				return err
			}
			if _, err := cl.ACL().RoleDelete(r.ID, writeOpts(c)); err != nil {
				return fmt.Errorf("Error deleting role %q: %w", r.ID, err)
			}
			fmt.Fprintf(e.stdout, "Role %q deleted successfully\n", r.ID)
			return nil
		}),
	}
}

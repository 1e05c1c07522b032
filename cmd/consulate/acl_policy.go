package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

// aclPolicyCommand is `consulate acl policy`.
func (e *env) aclPolicyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "Manage Consulate's ACL policies",
		Subcommands: []*cli.Command{
			e.aclPolicyCreateCommand(),
			e.aclPolicyListCommand(),
			e.aclPolicyReadCommand(),
			e.aclPolicyUpdateCommand(),
			e.aclPolicyDeleteCommand(),
		},
	}
}

// policyFields are the flags that set a policy's contents.
func policyFields() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "the policy's name"},
		&cli.StringFlag{Name: "description", Usage: "a description of the policy"},
		&cli.StringFlag{Name: "rules", Usage: "the policy rules (HCL or JSON), @FILE to read a file or - for stdin"},
		repeatable("valid-datacenter", "datacenter the policy is valid in (default: all)"),
	}
}

// printPolicy prints a policy in the chosen format.
func (e *env) printPolicy(c *cli.Context, p *api.ACLPolicy) error {
	format, err := aclFormat(c)
	if err != nil {
		return err
	}
	if format == "json" {
		return e.printJSON(p)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "ID:           %s\n", p.ID)
	fmt.Fprintf(&b, "Name:         %s\n", p.Name)
	fmt.Fprintf(&b, "Description:  %s\n", p.Description)
	fmt.Fprintf(&b, "Datacenters:  %s\n", strings.Join(p.Datacenters, ", "))
	if c.Bool("meta") {
		fmt.Fprintf(&b, "Hash:         %x\n", p.Hash)
		fmt.Fprintf(&b, "Create Index: %d\n", p.CreateIndex)
		fmt.Fprintf(&b, "Modify Index: %d\n", p.ModifyIndex)
	}
	fmt.Fprintf(&b, "Rules:\n%s\n", p.Rules)
	io.Copy(e.stdout, &b)
	return nil
}

func (e *env) aclPolicyCreateCommand() *cli.Command {
	return &cli.Command{
		Name:  "create",
		Usage: "Create an ACL policy",
		Flags: withFlags(httpFlags(), []cli.Flag{&cli.StringFlag{Name: "datacenter", Usage: "datacenter to send the request to (default: the agent's)"}},
			policyFields(), aclOutputFlags()),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			if _, err := aclFormat(c); err != nil {
				return err
			}
			if c.String("name") == "" {
				return fmt.Errorf("Missing required '-name' flag")
			}
			rules, err := e.readRules(c.String("rules"))
			if err != nil {
				return err
			}
			p := &api.ACLPolicy{Name: c.String("name"), Description: c.String("description"),
				Rules: rules, Datacenters: values(c, "valid-datacenter")}
			out, _, err := cl.ACL().PolicyCreate(p, writeOpts(c))
			if err != nil {
				return fmt.Errorf("Failed to create new policy: %w", err)
			}
			return e.printPolicy(c, out)
		}),
	}
}

// readRules reads -rules: literal text, @FILE or - (stdin).
func (e *env) readRules(arg string) (string, error) {
	if arg == "" {
		return "", nil
	}
	b, err := e.readData(arg)
	if err != nil {
		return "", fmt.Errorf("Error loading rules: %w", err)
	}
	return string(b), nil
}

func (e *env) aclPolicyListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "List ACL policies",
		Flags: withFlags(httpFlags(), serverFlags(), aclOutputFlags()),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			format, err := aclFormat(c)
			if err != nil {
				return err
			}
			list, _, err := cl.ACL().PolicyList(queryOpts(c))
			if err != nil {
				return fmt.Errorf("Failed to retrieve the policy list: %w", err)
			}
			if format == "json" {
				return e.printJSON(list)
			}
			var b bytes.Buffer
			for _, p := range list {
				fmt.Fprintf(&b, "%s:\n", p.Name)
				fmt.Fprintf(&b, "   ID:           %s\n", p.ID)
				fmt.Fprintf(&b, "   Description:  %s\n", p.Description)
				fmt.Fprintf(&b, "   Datacenters:  %s\n", strings.Join(p.Datacenters, ", "))
				if c.Bool("meta") {
					fmt.Fprintf(&b, "   Hash:         %x\n", p.Hash)
					fmt.Fprintf(&b, "   Create Index: %d\n", p.CreateIndex)
					fmt.Fprintf(&b, "   Modify Index: %d\n", p.ModifyIndex)
				}
			}
			io.Copy(e.stdout, &b)
			return nil
		}),
	}
}

// findPolicy reads the policy named by -id (a unique prefix will do) or
// -name.
func findPolicy(c *cli.Context, cl *api.Client) (*api.ACLPolicy, error) {
	id, name := c.String("id"), c.String("name")
	switch {
	case id == "" && name == "":
		return nil, fmt.Errorf("Must specify either the -id or -name parameters")
	case id != "":
		full, err := policyIDFromPartial(cl, c, id)
		if err != nil {
			return nil, fmt.Errorf("Error determining policy ID: %w", err)
		}
		p, _, err := cl.ACL().PolicyRead(full, queryOpts(c))
		if err != nil {
			return nil, fmt.Errorf("Error reading policy %q: %w", full, err)
		}
		return p, nil
	}
	p, _, err := cl.ACL().PolicyReadByName(name, queryOpts(c))
	if err != nil {
		return nil, fmt.Errorf("Error reading policy %q: %w", name, err)
	}
	if p == nil {
		return nil, fmt.Errorf("Error reading policy %q: No such policy", name)
	}
	return p, nil
}

func (e *env) aclPolicyReadCommand() *cli.Command {
	return &cli.Command{
		Name:  "read",
		Usage: "Read an ACL policy",
		Flags: withFlags(httpFlags(), serverFlags(), aclOutputFlags(), []cli.Flag{
			&cli.StringFlag{Name: "id", Usage: "ID of the policy to read (a unique prefix will do)"},
			&cli.StringFlag{Name: "name", Usage: "name of the policy to read"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			if _, err := aclFormat(c); err != nil {
				return err
			}
			p, err := findPolicy(c, cl)
			if err != nil {
				return err
			}
			return e.printPolicy(c, p)
		}),
	}
}

func (e *env) aclPolicyUpdateCommand() *cli.Command {
	return &cli.Command{
		Name:  "update",
		Usage: "Update an ACL policy",
		Flags: withFlags(httpFlags(), []cli.Flag{&cli.StringFlag{Name: "datacenter", Usage: "datacenter to send the request to (default: the agent's)"}},
			policyFields(), aclOutputFlags(), []cli.Flag{
				&cli.StringFlag{Name: "id", Usage: "ID of the policy to update (a unique prefix will do)"},
				&cli.BoolFlag{Name: "no-merge", Usage: "replace every field with the flags' values instead of changing only those given"},
			}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			if _, err := aclFormat(c); err != nil {
				return err
			}
			if c.String("id") == "" {
				return fmt.Errorf("Cannot update a policy without specifying the -id parameter")
			}
			id, err := policyIDFromPartial(cl, c, c.String("id"))
			if err != nil {
				return fmt.Errorf("Error determining policy ID: %w", err)
			}
			rules, err := e.readRules(c.String("rules"))
			if err != nil {
				return err
			}
			var p *api.ACLPolicy
			if c.Bool("no-merge") {
				p = &api.ACLPolicy{ID: id, Name: c.String("name"), Description: c.String("description"),
					Rules: rules, Datacenters: values(c, "valid-datacenter")}
			} else {
				cur, _, err := cl.ACL().PolicyRead(id, queryOpts(c))
				if err != nil {
					return fmt.Errorf("Error reading policy %q: %w", id, err)
				}
				p = cur
				if c.IsSet("name") {
					p.Name = c.String("name")
				}
				if c.IsSet("description") {
					p.Description = c.String("description")
				}
				if c.IsSet("rules") {
					p.Rules = rules
				}
				if dcs := values(c, "valid-datacenter"); len(dcs) > 0 {
					p.Datacenters = dcs
				}
			}
			out, _, err := cl.ACL().PolicyUpdate(p, writeOpts(c))
			if err != nil {
				return fmt.Errorf("Failed to update policy %s: %w", id, err)
			}
			return e.printPolicy(c, out)
		}),
	}
}

func (e *env) aclPolicyDeleteCommand() *cli.Command {
	return &cli.Command{
		Name:  "delete",
		Usage: "Delete an ACL policy",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.StringFlag{Name: "datacenter", Usage: "datacenter to send the request to (default: the agent's)"},
			&cli.StringFlag{Name: "id", Usage: "ID of the policy to delete (a unique prefix will do)"},
			&cli.StringFlag{Name: "name", Usage: "name of the policy to delete"},
		}),
		Action: e.withClient(func(c *cli.Context, cl *api.Client) error {
			id := c.String("id")
			switch {
			case id == "" && c.String("name") == "":
				return fmt.Errorf("Must specify either the -id or -name parameters")
			case id != "":
				full, err := policyIDFromPartial(cl, c, id)
				if err != nil {
					return fmt.Errorf("Error determining policy ID: %w", err)
				}
				id = full
			default:
				p, err := findPolicy(c, cl)
				if err != nil {
					return err
				}
				id = p.ID
			}
			if _, err := cl.ACL().PolicyDelete(id, writeOpts(c)); err != nil {
				return fmt.Errorf("Error deleting policy %q: %w", id, err)
			}
			fmt.Fprintf(e.stdout, "Policy %q deleted successfully\n", id)
			return nil
		}),
	}
}

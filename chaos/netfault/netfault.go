// Package netfault cuts and heals traffic between loopback addresses with
// nftables, so that agents bound to their own 127.x addresses can be
// partitioned as if they ran on separate hosts.
//
// Packets are dropped in the input hook: the sender's packets leave and
// vanish, as on a real network that lost a link, so a dial or a write
// times out rather than failing at once with EPERM (which a drop in the
// output hook would give).
//
// It is not a firewall manager: every Net owns one table of its own,
// named after the process, and deletes it on Close; it never touches any
// other rule on the machine.
package netfault

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// ErrUnavailable says this machine cannot run partition tests: not root,
// or no nft binary, or a kernel without nf_tables.
var ErrUnavailable = errors.New("netfault: nftables unavailable")

// Available reports whether nft can create and delete a table here. The
// error wraps ErrUnavailable and says why.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root (running as uid %d)", ErrUnavailable, os.Geteuid())
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return fmt.Errorf("%w: no nft binary in PATH (apt-get install nftables)", ErrUnavailable)
	}
	name := fmt.Sprintf("consulate_probe_%d", os.Getpid())
	if err := run(fmt.Sprintf("add table inet %s\ndelete table inet %s\n", name, name)); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// Net is one nftables table whose rules drop packets between addresses.
// It is safe for concurrent use.
type Net struct {
	table string

	// mu guards cuts and closed, and serializes nft calls.
	mu     sync.Mutex
	cuts   map[cut]struct{}
	closed bool
}

// cut is one direction of dropped traffic.
type cut struct{ from, to string }

// New creates a table of its own (name is a label to tell tables apart;
// the process ID is added) with an empty input chain.
func New(name string) (*Net, error) {
	table := fmt.Sprintf("consulate_%s_%d", sanitize(name), os.Getpid())
	script := fmt.Sprintf("add table inet %[1]s\n"+
		"add chain inet %[1]s input { type filter hook input priority -10 ; policy accept ; }\n", table)
	if err := run(script); err != nil {
		return nil, err
	}
	return &Net{table: table, cuts: make(map[cut]struct{})}, nil
}

// Table is the nftables table's name, for logs.
func (n *Net) Table() string { return n.table }

// Partition drops every packet between each address of a and each of b,
// both ways. Addresses already cut stay cut.
func (n *Net) Partition(a, b []string) error {
	var add []cut
	for _, x := range a {
		for _, y := range b {
			add = append(add, cut{x, y}, cut{y, x})
		}
	}
	return n.apply(add)
}

// Isolate cuts ip off from every address in others, both ways.
func (n *Net) Isolate(ip string, others []string) error {
	var rest []string
	for _, o := range others {
		if o != ip {
			rest = append(rest, o)
		}
	}
	return n.Partition([]string{ip}, rest)
}

// Drop drops packets from one address to another, one way only.
func (n *Net) Drop(from, to string) error { return n.apply([]cut{{from, to}}) }

// Cuts returns how many one-way cuts are in force.
func (n *Net) Cuts() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.cuts)
}

// Heal removes every cut; traffic flows again at once.
func (n *Net) Heal() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	if err := run(fmt.Sprintf("flush chain inet %s input\n", n.table)); err != nil {
		return err
	}
	clear(n.cuts)
	return nil
}

// Close heals and deletes the table. It is idempotent.
func (n *Net) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	return run(fmt.Sprintf("delete table inet %s\n", n.table))
}

func (n *Net) apply(add []cut) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errors.New("netfault: table closed")
	}
	var script strings.Builder
	var added []cut
	for _, c := range add {
		if _, ok := n.cuts[c]; ok {
			continue
		}
		fam, err := family(c.from, c.to)
		if err != nil {
			return err
		}
		fmt.Fprintf(&script, "add rule inet %s input %s saddr %s %s daddr %s drop\n", n.table, fam, c.from, fam, c.to)
		added = append(added, c)
	}
	if len(added) == 0 {
		return nil
	}
	if err := run(script.String()); err != nil {
		return err
	}
	for _, c := range added {
		n.cuts[c] = struct{}{}
	}
	return nil
}

// family returns nft's address family keyword for a pair of addresses.
func family(from, to string) (string, error) {
	a, b := net.ParseIP(from), net.ParseIP(to)
	if a == nil || b == nil {
		return "", fmt.Errorf("netfault: not an IP address: %q or %q", from, to)
	}
	if (a.To4() == nil) != (b.To4() == nil) {
		return "", fmt.Errorf("netfault: %s and %s are of different families", from, to)
	}
	if a.To4() != nil {
		return "ip", nil
	}
	return "ip6", nil
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// run feeds script to `nft -f -` so that it applies atomically.
func run(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("netfault: nft: %v: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// TB is the part of testing.TB that Require uses.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Require skips a partition test when nftables cannot be used here, saying
// why, except in CI (the CI environment variable set), where .ci/run
// installs nftables and runs as root, so the test fails instead of
// passing unseen.
func Require(t TB) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("partition tests must run in CI: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

// Remote exec's names, as Consul's: the user event, the job key under
// <prefix>/<session>/, the reply keys under <prefix>/<session>/<node>/,
// and the session's TTL (renewed while the command waits).
const (
	rExecEventName  = "_rexec"
	rExecJobKey     = "job"
	rExecAckSuffix  = "/ack"
	rExecExitSuffix = "/exit"
	rExecOutDivider = "/out/"
	rExecTTL        = "15s"
)

// rExecSpec is the job the agents read (rexec.Spec on their side).
type rExecSpec struct {
	Command string   `json:",omitempty"`
	Args    []string `json:",omitempty"`
	Script  []byte   `json:",omitempty"`
	Wait    time.Duration
}

// rExecEvent is the `_rexec` event's payload.
type rExecEvent struct {
	Prefix  string
	Session string
}

func (e *env) execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "Executes a command on Consulate nodes",
		ArgsUsage: "[-|command...]",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.StringFlag{Name: "datacenter", Usage: "datacenter to run the job in (default: the agent's)"},
			&cli.StringFlag{Name: "prefix", Value: "_rexec", Usage: "KV prefix for the job and its results"},
			&cli.StringFlag{Name: "node", Usage: "regular expression: run only on matching node names"},
			&cli.StringFlag{Name: "service", Usage: "regular expression: run only on nodes providing a matching service"},
			&cli.StringFlag{Name: "tag", Usage: "regular expression: with -service, also match a service tag"},
			&cli.DurationFlag{Name: "wait", Value: 2 * time.Second, Usage: "period without replies after which the job is considered finished"},
			&cli.DurationFlag{Name: "wait-repl", Value: 200 * time.Millisecond, Usage: "period to wait for the job to replicate before firing the event"},
			&cli.BoolFlag{Name: "shell", Value: true, Usage: "run the command under a shell on the nodes (-shell=false runs it directly)"},
			&cli.BoolFlag{Name: "verbose", Usage: "print acknowledgements, heartbeats and timings"},
		}),
		Action: e.exec,
	}
}

// execRun is one `exec` invocation.
type execRun struct {
	e         *env
	cl        *api.Client
	dc        string
	prefix    string
	verbose   bool
	wait      time.Duration
	sessionID string
	stopRenew chan struct{}
}

func (r *execRun) info(msg string) { fmt.Fprintln(r.e.stdout, msg) }

// target prints msg with each line prefixed by the node: "==> node: " for
// the command's own notes, "    node: " for the job's output.
func (r *execRun) target(node, msg string, arrow bool) {
	lead := "   "
	if arrow {
		lead = "==>"
	}
	var b strings.Builder
	for _, line := range strings.Split(msg, "\n") {
		fmt.Fprintf(&b, "%s %s: %s\n", lead, node, line)
	}
	fmt.Fprintln(r.e.stdout, strings.TrimRight(b.String(), " \t\r\n"))
}

func (e *env) exec(c *cli.Context) error {
	args := c.Args().Slice()
	node, service, tag := c.String("node"), c.String("service"), c.String("tag")
	for _, f := range []struct{ name, v string }{{"node", node}, {"service", service}, {"tag", tag}} {
		if f.v == "" {
			continue
		}
		if _, err := regexp.Compile(f.v); err != nil {
			return fmt.Errorf("Failed to compile %s filter regexp: %v", f.name, err)
		}
	}
	if tag != "" && service == "" {
		return fmt.Errorf("Cannot provide tag filter without service filter.")
	}
	spec := rExecSpec{Command: strings.Join(args, " "), Wait: c.Duration("wait")}
	if spec.Command == "-" {
		if !c.Bool("shell") {
			return fmt.Errorf("Cannot configure -shell=false when reading from stdin")
		}
		script, err := io.ReadAll(e.stdin)
		if err != nil {
			return fmt.Errorf("Failed to read stdin: %v", err)
		}
		spec.Command, spec.Script = "", script
	} else if !c.Bool("shell") {
		spec.Command, spec.Args = "", args
	}
	if spec.Command == "" && len(spec.Script) == 0 && len(spec.Args) == 0 {
		return fmt.Errorf("Must specify a command to execute")
	}

	// The session and the job's keys are cleaned up after an interrupt too.
	cl, err := e.clientCtx(c, context.WithoutCancel(c.Context), "")
	if err != nil {
		return fmt.Errorf("Error connecting to Consul agent: %w", err)
	}
	self, err := cl.Agent().Self()
	if err != nil {
		return fmt.Errorf("Error querying Consul agent: %w", err)
	}
	localDC, _ := self["Config"]["Datacenter"].(string)
	localNode, _ := self["Config"]["NodeName"].(string)
	r := &execRun{e: e, cl: cl, dc: c.String("datacenter"), prefix: c.String("prefix"),
		verbose: c.Bool("verbose"), wait: c.Duration("wait"), stopRenew: make(chan struct{})}
	foreign := r.dc != "" && r.dc != localDC

	if foreign {
		err = r.createSessionForeign(localNode, localDC)
	} else {
		err = r.createSession()
	}
	if err != nil {
		return fmt.Errorf("Failed to create session: %v", err)
	}
	defer r.destroySession()
	if r.verbose {
		r.info(fmt.Sprintf("Created remote execution session: %s", r.sessionID))
	}

	payload, err := json.Marshal(&spec)
	if err != nil {
		return fmt.Errorf("Failed to create job spec: %v", err)
	}
	if err := r.uploadPayload(payload); err != nil {
		return fmt.Errorf("Failed to upload job payload: %v", err)
	}
	defer r.destroyData()
	if r.verbose {
		r.info("Uploaded remote execution spec")
	}

	// Let the job reach every server so the agents' stale reads find it.
	select {
	case <-time.After(c.Duration("wait-repl")):
	case <-c.Context.Done():
		return &exitError{code: 1, silent: true}
	}

	ev, _ := json.Marshal(&rExecEvent{Prefix: r.prefix, Session: r.sessionID})
	id, _, err := cl.Event().Fire(&api.UserEvent{
		Name: rExecEventName, Payload: ev, NodeFilter: node, ServiceFilter: service, TagFilter: tag,
	}, &api.WriteOptions{Datacenter: r.dc})
	if err != nil {
		return fmt.Errorf("Failed to fire event: %v", err)
	}
	if r.verbose {
		r.info(fmt.Sprintf("Fired remote execution event: %s", id))
	}
	if code := r.waitForJob(c.Context); code != 0 {
		return &exitError{code: code, silent: true}
	}
	return nil
}

// rExecReply is one thing the agents wrote: an ack, output (empty: a
// heartbeat) or an exit code.
type rExecReply struct {
	kind   string // "ack", "out", "exit"
	node   string
	output []byte
	code   int
}

// waitForJob prints replies until no node has said anything for -wait
// (twice that while some node acknowledged and has not finished), and
// returns the exit status: 2 if a node failed or did not finish.
func (r *execRun) waitForJob(ctx context.Context) int {
	start := time.Now()
	replies := make(chan rExecReply, 128)
	errCh := make(chan struct{}, 1)
	done := make(chan struct{})
	defer close(done)
	go r.streamResults(done, replies, errCh)

	var acks, exits, bad int
	for {
		wait := r.wait
		if acks > exits {
			wait *= 2
		}
		timer := time.NewTimer(wait)
		select {
		case rep := <-replies:
			timer.Stop()
			switch rep.kind {
			case "ack":
				acks++
				if r.verbose {
					r.target(rep.node, "acknowledged", true)
				}
			case "out":
				if len(rep.output) == 0 {
					if r.verbose {
						r.target(rep.node, "heartbeat received", true)
					}
					continue
				}
				r.target(rep.node, string(rep.output), false)
			case "exit":
				exits++
				r.target(rep.node, fmt.Sprintf("finished with exit code %d", rep.code), true)
				if rep.code != 0 {
					bad++
				}
			}
		case <-timer.C:
			r.info(fmt.Sprintf("%d / %d node(s) completed / acknowledged", exits, acks))
			if r.verbose {
				r.info(fmt.Sprintf("Completed in %0.2f seconds", time.Since(start).Seconds()))
			}
			if exits < acks {
				bad++
			}
			if bad > 0 {
				return 2
			}
			return 0
		case <-errCh:
			timer.Stop()
			return 1
		case <-ctx.Done():
			timer.Stop()
			return 1
		}
	}
}

// streamResults watches <prefix>/<session>/ with blocking queries and
// sends each new reply once, acks before output before exits within one
// answer.
func (r *execRun) streamResults(done <-chan struct{}, out chan<- rExecReply, errCh chan<- struct{}) {
	kv := r.cl.KV()
	dir := path.Join(r.prefix, r.sessionID) + "/"
	opts := api.QueryOptions{WaitTime: r.wait, Datacenter: r.dc}
	seen := map[string]bool{}
	fail := func() {
		select {
		case errCh <- struct{}{}:
		default:
		}
	}
	send := func(rep rExecReply) bool {
		select {
		case out <- rep:
			return true
		case <-done:
			return false
		}
	}
	rank := func(k string) int {
		switch {
		case strings.HasSuffix(k, rExecAckSuffix):
			return 0
		case strings.HasSuffix(k, rExecExitSuffix):
			return 2
		}
		return 1
	}
	for {
		select {
		case <-done:
			return
		default:
		}
		keys, qm, err := kv.Keys(dir, "", &opts)
		if err != nil {
			fmt.Fprintf(r.e.stderr, "Failed to read results: %s\n", err)
			fail()
			return
		}
		if qm.LastIndex == opts.WaitIndex {
			continue
		}
		opts.WaitIndex = qm.LastIndex
		sort.SliceStable(keys, func(i, j int) bool { return rank(keys[i]) < rank(keys[j]) })
		for _, full := range keys {
			if seen[full] {
				continue
			}
			seen[full] = true
			key := strings.TrimPrefix(full, dir)
			var rep rExecReply
			switch {
			case key == rExecJobKey:
				continue
			case strings.HasSuffix(key, rExecAckSuffix):
				rep = rExecReply{kind: "ack", node: strings.TrimSuffix(key, rExecAckSuffix)}
			case strings.HasSuffix(key, rExecExitSuffix):
				pair, _, err := kv.Get(full, &api.QueryOptions{Datacenter: r.dc})
				if err != nil || pair == nil {
					fmt.Fprintf(r.e.stderr, "Failed to read key '%s': %v\n", full, err)
					continue
				}
				code, err := strconv.ParseInt(string(pair.Value), 10, 32)
				if err != nil {
					fmt.Fprintf(r.e.stderr, "Failed to parse exit code '%s': %v\n", pair.Value, err)
					continue
				}
				rep = rExecReply{kind: "exit", node: strings.TrimSuffix(key, rExecExitSuffix), code: int(code)}
			case strings.LastIndex(key, rExecOutDivider) != -1:
				pair, _, err := kv.Get(full, &api.QueryOptions{Datacenter: r.dc})
				if err != nil || pair == nil {
					fmt.Fprintf(r.e.stderr, "Failed to read key '%s': %v\n", full, err)
					continue
				}
				rep = rExecReply{kind: "out", node: key[:strings.LastIndex(key, rExecOutDivider)], output: pair.Value}
			default:
				fmt.Fprintf(r.e.stderr, "Unknown key '%s', ignoring.\n", key)
				continue
			}
			if !send(rep) {
				return
			}
		}
	}
}

// createSession makes the job's session on the local agent's node,
// renewed until the job ends; its keys go when it does.
func (r *execRun) createSession() error {
	se := api.SessionEntry{Name: "Remote Exec", Behavior: api.SessionBehaviorDelete, TTL: rExecTTL}
	return r.startSession(&se)
}

// createSessionForeign makes the session in another datacenter, on one of
// its servers' nodes (the local node is not in that catalog), without
// health checks.
func (r *execRun) createSessionForeign(localNode, localDC string) error {
	entries, _, err := r.cl.Health().Service("consul", "", true, &api.QueryOptions{Datacenter: r.dc})
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return fmt.Errorf("Failed to find Consul server in remote datacenter")
	}
	se := api.SessionEntry{
		Name: fmt.Sprintf("Remote Exec via %s@%s", localNode, localDC), Node: entries[0].Node.Node,
		Checks: []string{}, Behavior: api.SessionBehaviorDelete, TTL: rExecTTL,
	}
	return r.startSession(&se)
}

func (r *execRun) startSession(se *api.SessionEntry) error {
	id, _, err := r.cl.Session().Create(se, &api.WriteOptions{Datacenter: r.dc})
	if err != nil {
		return err
	}
	r.sessionID = id
	go r.cl.Session().RenewPeriodic(rExecTTL, id, &api.WriteOptions{Datacenter: r.dc}, r.stopRenew)
	return nil
}

// uploadPayload writes the job, held by the session.
func (r *execRun) uploadPayload(payload []byte) error {
	pair := &api.KVPair{Key: path.Join(r.prefix, r.sessionID, rExecJobKey), Value: payload, Session: r.sessionID}
	ok, _, err := r.cl.KV().Acquire(pair, &api.WriteOptions{Datacenter: r.dc})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("failed to acquire key %s", pair.Key)
	}
	return nil
}

// destroyData removes the job and every reply.
func (r *execRun) destroyData() {
	if _, err := r.cl.KV().DeleteTree(path.Join(r.prefix, r.sessionID)+"/", &api.WriteOptions{Datacenter: r.dc}); err != nil {
		fmt.Fprintf(r.e.stderr, "Failed to cleanup data: %v\n", err)
	}
}

// destroySession stops the renewal and destroys the session; its keys go
// with it (behavior delete). It destroys once however often it is called.
func (r *execRun) destroySession() {
	if r.sessionID == "" {
		return
	}
	select {
	case <-r.stopRenew:
		return
	default:
		close(r.stopRenew)
	}
	if _, err := r.cl.Session().Destroy(r.sessionID, &api.WriteOptions{Datacenter: r.dc}); err != nil {
		fmt.Fprintf(r.e.stderr, "Failed to destroy session: %v\n", err)
	}
}
